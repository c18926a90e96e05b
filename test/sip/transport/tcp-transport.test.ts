import t, { type Test } from 'tap';
import net from 'node:net';
import { TcpTransport, type TcpTransportOptions } from '../../../sip/transport/tcp-transport.js';
import { TransportError } from '../../../sip/transport/errors.js';
import { parseMessage } from '../../../sip/message/parser.js';
import { createResponse } from '../../../sip/message/factory.js';
import type { SipRequest } from '../../../sip/message/model.js';
import { Collector, sipRequest, sleep } from './helpers.js';

async function server(t: Test, options: TcpTransportOptions = {}) {
  const events = new Collector();
  const transport = await TcpTransport.listen({ host: '127.0.0.1', port: 0, handler: events, ...options });
  t.teardown(() => transport.close());
  return { events, transport };
}

/** A raw TCP client that records every byte it receives. */
async function rawClient(t: Test, port: number, host = '127.0.0.1') {
  const socket = net.connect({ host, port });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.setNoDelay(true);
  const state = { data: '', closed: false };
  socket.on('data', (d) => (state.data += d.toString('latin1')));
  socket.on('close', () => (state.closed = true));
  socket.on('error', () => {});
  t.teardown(() => socket.destroy());
  const until = async (pred: () => boolean, ms = 3000) => {
    const end = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > end) throw new Error('raw client: timed out');
      await sleep(5);
    }
  };
  return { socket, state, until };
}

/**
 * What the stream hands to libuv on the connection to `peerPort` (each call is one write or writev
 * syscall): the data of each, a string, a Buffer or the array of a writev.
 */
function recordWrites(t: Test, peerPort: number): unknown[] {
  const proto = net.Socket.prototype as unknown as { _writeGeneric: (...args: unknown[]) => unknown };
  const original = proto._writeGeneric;
  const written: unknown[] = [];
  proto._writeGeneric = function (this: net.Socket, ...args: unknown[]) {
    // Only the server's end of this connection (tap's own output is a socket too).
    if (this.remotePort === peerPort) written.push(args[1]);
    return original.apply(this, args);
  };
  t.teardown(() => {
    proto._writeGeneric = original;
  });
  return written;
}

/** A server, a raw client connected to it, and what the server writes on that connection. */
async function watchedConnection(t: Test) {
  const a = await server(t);
  const c = await rawClient(t, a.transport.localPort);
  const [open] = await a.events.waitFor('open');
  const written = recordWrites(t, c.socket.localPort!);
  const target = { protocol: 'tcp' as const, host: '127.0.0.1', port: 1, connectionId: open!.info.connectionId };
  return { a, c, written, target };
}

t.test('TCP framing: a message split into many small chunks arrives once, whole', async (t) => {
  const { events, transport } = await server(t);
  const c = await rawClient(t, transport.localPort);
  const text = sipRequest('MESSAGE', 'z9hG4bKsplit', 'body across chunks');
  for (let i = 0; i < text.length; i += 7) {
    c.socket.write(text.slice(i, i + 7));
    await sleep(1);
  }
  const [ev] = await events.waitFor('message');
  t.equal(ev!.message.body.toString(), 'body across chunks');
  t.equal(ev!.source.protocol, 'tcp');
  t.equal(ev!.source.remotePort, c.socket.localPort);
  t.match(ev!.source.connectionId, /^tcp-\d+$/);
  t.equal(events.of('message').length, 1);
});

t.test('TCP framing: several messages in one chunk (with CRLF keepalives between) all arrive, in order', async (t) => {
  const { events, transport } = await server(t);
  const c = await rawClient(t, transport.localPort);
  const chunk = [1, 2, 3].map((i) => sipRequest('MESSAGE', `z9hG4bKmulti${i}`, `m${i}`)).join('\r\n');
  c.socket.write(chunk);
  const evs = await events.waitFor('message', 3);
  t.same(evs.map((e) => e.message.body.toString()), ['m1', 'm2', 'm3']);
});

t.test('TCP: a response goes back on the connection its request came in on', async (t) => {
  const { events, transport } = await server(t);
  const c = await rawClient(t, transport.localPort);
  c.socket.write(sipRequest('OPTIONS', 'z9hG4bKresp'));
  const [ev] = await events.waitFor('message');
  const resp = createResponse(ev!.message as SipRequest, 200, undefined, { toTag: 's' });
  // The Via says 127.0.0.1:5999 (nobody listens there): only the connection id can deliver it.
  await transport.send(resp, { protocol: 'tcp', host: '127.0.0.1', port: 5999, connectionId: ev!.source.connectionId! });
  await c.until(() => c.state.data.includes('SIP/2.0 200 OK'));
  t.equal(transport.connectionCount, 1);
});

t.test('TCP §18: a request to host:port reuses the connection the peer opened from that host:port', async (t) => {
  const { events, transport } = await server(t);
  const c = await rawClient(t, transport.localPort);
  await events.waitFor('open');
  await transport.send(Buffer.from(sipRequest('OPTIONS', 'z9hG4bKreuse')), { protocol: 'tcp', host: '127.0.0.1', port: c.socket.localPort! });
  await c.until(() => c.state.data.startsWith('OPTIONS sip:bob@127.0.0.1'));
  t.equal(transport.connectionCount, 1, 'no new connection was opened');
});

t.test('TCP: two transports share one connection both ways', async (t) => {
  const a = await server(t);
  const b = await server(t);
  await a.transport.send(Buffer.from(sipRequest('OPTIONS', 'z9hG4bKab1')), { protocol: 'tcp', host: '127.0.0.1', port: b.transport.localPort });
  const [inB] = await b.events.waitFor('message');
  await a.transport.send(Buffer.from(sipRequest('OPTIONS', 'z9hG4bKab2')), { protocol: 'tcp', host: '127.0.0.1', port: b.transport.localPort });
  await b.events.waitFor('message', 2);
  t.equal(a.transport.connectionCount, 1, 'A reused its connection');
  t.equal(b.transport.connectionCount, 1);
  // B answers on the connection, and B's request to A's source address reuses it too.
  const req = inB!.message as SipRequest;
  await b.transport.send(createResponse(req, 200, undefined, { toTag: 'b' }), { protocol: 'tcp', host: '127.0.0.1', port: 1, connectionId: inB!.source.connectionId! });
  await b.transport.send(Buffer.from(sipRequest('NOTIFY', 'z9hG4bKba1')), { protocol: 'tcp', host: inB!.source.remoteAddress, port: inB!.source.remotePort });
  const got = await a.events.waitFor('message', 2);
  t.same(got.map((e) => (e.message.kind === 'response' ? e.message.status : e.message.method)), [200, 'NOTIFY']);
  t.equal(a.transport.connectionCount, 1);
  t.equal(b.transport.connectionCount, 1);
  const opens = a.events.of('open');
  t.equal(opens.length, 1);
  t.equal(opens[0]!.info.direction, 'outbound');
});

t.test('TCP: bad data closes only that connection', async (t) => {
  const { events, transport } = await server(t);
  const bad = await rawClient(t, transport.localPort);
  const good = await rawClient(t, transport.localPort);
  await events.waitFor('open', 2);
  const badPort = bad.socket.localPort;
  bad.socket.write('GARBAGE GARBAGE\r\nNo-Length: here\r\n\r\n');
  await bad.until(() => bad.state.closed);
  const [err] = await events.waitFor('parse-error');
  t.equal(err!.info?.fatal, true);
  t.equal(err!.source.remotePort, badPort);
  good.socket.write(sipRequest('OPTIONS', 'z9hG4bKgood'));
  await events.waitFor('message');
  t.equal(good.state.closed, false);
  t.equal(transport.connectionCount, 1);
  const closes = await events.waitFor('close');
  t.equal(closes[0]!.info.remotePort, badPort);
});

t.test('TCP: a well-framed but unparsable message is reported without closing the connection', async (t) => {
  const { events, transport } = await server(t);
  const c = await rawClient(t, transport.localPort);
  c.socket.write('INVITE sip:x SIP/2.0\r\nVia: !!!\r\nContent-Length: 0\r\n\r\n' + sipRequest('OPTIONS', 'z9hG4bKafter'));
  const [err] = await events.waitFor('parse-error');
  t.equal(err!.info?.fatal, false);
  await events.waitFor('message');
  t.equal(c.state.closed, false);
});

t.test('RFC 5626 §4.4.1: a CRLFCRLF ping is answered with a CRLF pong', async (t) => {
  const { events, transport } = await server(t);
  const c = await rawClient(t, transport.localPort);
  c.socket.write('\r\n\r\n');
  await c.until(() => c.state.data === '\r\n');
  await events.waitFor('keepalive');
  c.socket.write('\r\n'); // a pong is not answered
  await sleep(50);
  t.equal(c.state.data, '\r\n');
});

t.test('TCP: idle connections are closed after the idle timeout', async (t) => {
  const { events, transport } = await server(t, { idleTimeoutMs: 150 });
  const c = await rawClient(t, transport.localPort);
  const start = Date.now();
  await c.until(() => c.state.closed, 3000);
  t.ok(Date.now() - start >= 100, 'not before the timeout');
  await events.waitFor('close');
  t.equal(transport.connectionCount, 0);
});

t.test('TCP: connections beyond maxConnections are refused', async (t) => {
  const { transport } = await server(t, { maxConnections: 1 });
  const first = await rawClient(t, transport.localPort);
  const second = await rawClient(t, transport.localPort);
  await second.until(() => second.state.closed);
  t.equal(first.state.closed, false);
  t.equal(transport.connectionCount, 1);
  const err = await transport.send(Buffer.from('x'), { protocol: 'tcp', host: '127.0.0.1', port: 9 }).then(() => undefined, (e: unknown) => e);
  t.equal((err as TransportError).code, 'SIP_TRANSPORT_TOO_MANY_CONNECTIONS');
});

t.test('TCP: a failed connect, a missing connection with noConnect, and a full write buffer reject with TransportErrors', async (t) => {
  const { transport } = await server(t, { maxWriteBuffer: 256 });
  // A port with nobody listening: bind, note it, close.
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  const deadPort = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const refused = await transport.send(Buffer.from(sipRequest()), { protocol: 'tcp', host: '127.0.0.1', port: deadPort }).then(() => undefined, (e: unknown) => e);
  t.equal((refused as TransportError).code, 'SIP_TRANSPORT_CONNECT_FAILED');
  t.equal(transport.connectionCount, 0, 'the failed connection is gone');

  const none = await transport.send(Buffer.from('x'), { protocol: 'tcp', host: '127.0.0.1', port: deadPort, noConnect: true }).then(() => undefined, (e: unknown) => e);
  t.equal((none as TransportError).code, 'SIP_TRANSPORT_NO_CONNECTION');

  const c = await rawClient(t, transport.localPort);
  c.socket.pause(); // a peer that does not read
  const big = Buffer.alloc(1024, 'a');
  const full = await transport.send(big, { protocol: 'tcp', host: '127.0.0.1', port: c.socket.localPort! }).then(() => undefined, (e: unknown) => e);
  t.equal((full as TransportError).code, 'SIP_TRANSPORT_BUFFER_FULL');
});

t.test('TCP over IPv6 loopback, and close() ends everything', async (t) => {
  const a = await TcpTransport.listen({ host: '::1' });
  const events = new Collector();
  const b = await TcpTransport.listen({ host: '::1', handler: events });
  t.equal(b.family, 'IPv6');
  await a.send(Buffer.from(sipRequest()), { protocol: 'tcp', host: '::1', port: b.localPort });
  const [ev] = await events.waitFor('message');
  t.equal(ev!.source.remoteAddress, '::1');
  await a.close();
  await events.waitFor('close');
  await b.close();
  t.equal(b.connectionCount, 0);
  const err = await b.send(Buffer.from('x'), { protocol: 'tcp', host: '::1', port: 9 }).then(() => undefined, (e: unknown) => e);
  t.equal((err as TransportError).code, 'SIP_TRANSPORT_CLOSED');
});

t.test('TCP validate option: a message with a bad From is reported as a parse error with a partial to answer', async (t) => {
  const { events, transport } = await server(t, { validate: true });
  const c = await rawClient(t, transport.localPort);
  c.socket.write(sipRequest('OPTIONS', 'z9hG4bKv1').replace('From: <sip:alice@127.0.0.1>;tag=abc', 'From: <<<'));
  const [err] = await events.waitFor('parse-error');
  t.equal(err!.info?.fatal, false);
  t.equal(err!.info?.partial?.canReply, true);
  t.equal(events.of('message').length, 0);
  t.ok(parseMessage(sipRequest()).ok);
});

t.test('TCP: sends issued while a connection is still opening share it, in order', async (t) => {
  const a = await server(t);
  const b = await server(t);
  const target = { protocol: 'tcp' as const, host: '127.0.0.1', port: b.transport.localPort };
  await Promise.all([1, 2, 3].map((i) => a.transport.send(Buffer.from(sipRequest('MESSAGE', `z9hG4bKcc${i}`, `n${i}`)), target)));
  const evs = await b.events.waitFor('message', 3);
  t.same(evs.map((e) => e.message.body.toString()), ['n1', 'n2', 'n3']);
  t.equal(a.transport.connectionCount, 1);
});

t.test('TCP: messages sent in one turn of the event loop leave in one write, in order', async (t) => {
  const { a, c, written, target } = await watchedConnection(t);
  await Promise.all([1, 2, 3, 4, 5].map((i) => a.transport.send(Buffer.from(sipRequest('MESSAGE', `z9hG4bKbatch${i}`, `b${i}`)), target)));
  t.equal(written.length, 1, `five messages, ${written.length} write(s)`);
  await c.until(() => (c.state.data.match(/MESSAGE sip:/g) ?? []).length === 5);
  t.same([...c.state.data.matchAll(/\r\n\r\n(b\d)/g)].map((m) => m[1]), ['b1', 'b2', 'b3', 'b4', 'b5'], 'all five, in order');
  // A later turn writes again: the cork was released.
  await a.transport.send(Buffer.from(sipRequest('MESSAGE', 'z9hG4bKbatch6', 'b6')), target);
  await c.until(() => c.state.data.includes('\r\n\r\nb6'));
  t.equal(written.length, 2, `then one more write (${written.length} in all)`);
});

t.test('TCP: text, parsed messages and buffers sent in one turn leave in one write, byte for byte, in order', async (t) => {
  const { a, c, written, target } = await watchedConnection(t);
  const texts = [1, 2, 3].map((i) => sipRequest('MESSAGE', `z9hG4bKtext${i}`, `t${i} grüße`));
  const parsed = parseMessage(Buffer.from(sipRequest('MESSAGE', 'z9hG4bKparsed', 'p1')));
  if (!parsed.ok) throw new Error('fixture does not parse');
  await Promise.all([...texts.map((text) => a.transport.send(text, target)), a.transport.send(parsed.message, target)]);
  t.equal(written.length, 1, 'three texts and a parsed message: one write');
  t.equal(typeof written[0], 'string', 'written as one string, no Buffer per message');
  const want = Buffer.concat([Buffer.from(texts.join(''), 'utf8'), parsed.message.toBuffer()]).toString('latin1');
  await c.until(() => c.state.data.length >= want.length);
  t.equal(c.state.data, want, 'the bytes are the UTF-8 of the texts, then the parsed message, in order');
  // A Buffer in the same turn: still one write (a writev of them all), still in order.
  const before = c.state.data.length;
  await Promise.all([a.transport.send(sipRequest('OPTIONS', 'z9hG4bKopt', 't1 grüße'), target), a.transport.send(Buffer.from(sipRequest('MESSAGE', 'z9hG4bKbuf', 'b1')), target)]);
  t.equal(written.length, 2, 'a text and a buffer: one more write');
  await c.until(() => c.state.data.slice(before).includes('\r\n\r\nb1'));
  t.match(c.state.data.slice(before), /^OPTIONS [^]*\r\n\r\nt1 gr[^]*MESSAGE [^]*\r\n\r\nb1$/, 'the text first, then the buffer');
});

t.test('TCP: a batch still waiting for the end of the turn fails as a whole when its connection closes, and counts toward the write bound', async (t) => {
  const a = await server(t, { maxWriteBuffer: 2500 });
  await rawClient(t, a.transport.localPort);
  const [open] = await a.events.waitFor('open');
  const target = { protocol: 'tcp' as const, host: '127.0.0.1', port: 1, connectionId: open!.info.connectionId };
  const message = (i: number) => Buffer.from(sipRequest('MESSAGE', `z9hG4bKbound${i}`, 'x'.repeat(600)));
  t.ok(message(1).length > 800 && message(1).length < 1250, 'two fit the bound, three do not');
  const sends = [1, 2, 3].map((i) => a.transport.send(message(i), target).then(() => 'sent', (err: TransportError) => err.code));
  // Same turn: the first two wait in the batch; the third would take it past 2,500 bytes.
  a.transport.closeConnection(open!.info.connectionId);
  t.same(await Promise.all(sends), ['SIP_TRANSPORT_CONNECTION_CLOSED', 'SIP_TRANSPORT_CONNECTION_CLOSED', 'SIP_TRANSPORT_BUFFER_FULL']);
});

t.test('TCP acceptFrom: a peer it does not name is closed on accept and takes no connection slot', async (t) => {
  const { events, transport } = await server(t, { host: '127.0.0.1', acceptFrom: (ip) => ip === '127.0.0.1', maxConnections: 1 });
  const stranger = net.connect({ host: '127.0.0.1', port: transport.localPort, localAddress: '127.0.0.9' });
  stranger.on('error', () => {});
  t.teardown(() => stranger.destroy());
  await new Promise<void>((resolve) => stranger.once('close', () => resolve()));
  t.equal(transport.connectionCount, 0, 'the stranger holds no connection');
  t.equal(events.of('open').length, 0);
  const friend = await rawClient(t, transport.localPort);
  friend.socket.write(sipRequest('OPTIONS', 'z9hG4bKfriend'));
  await events.waitFor('message');
  t.equal(transport.connectionCount, 1, 'the named peer is served');
});

t.test('TCP: outbound connections start from the address the transport listens on', async (t) => {
  const a = await server(t, { host: '127.0.0.7' });
  const b = await server(t);
  await a.transport.send(Buffer.from(sipRequest('OPTIONS', 'z9hG4bKfrom')), { protocol: 'tcp', host: '127.0.0.1', port: b.transport.localPort });
  const [ev] = await b.events.waitFor('message');
  t.equal(ev!.source.remoteAddress, '127.0.0.7', 'the peer sees the same address as our listener (and Via)');
});
