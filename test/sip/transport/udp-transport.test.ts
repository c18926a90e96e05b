import t from 'tap';
import dgram from 'node:dgram';
import { UdpTransport } from '../../../sip/transport/udp-transport.js';
import { TransportError } from '../../../sip/transport/errors.js';
import { parseMessage } from '../../../sip/message/parser.js';
import { Collector, sipRequest } from './helpers.js';

async function pair(host = '127.0.0.1') {
  const a = new Collector();
  const b = new Collector();
  const ta = await UdpTransport.bind({ host, port: 0, handler: a });
  const tb = await UdpTransport.bind({ host, port: 0, handler: b });
  t.teardown(async () => {
    await ta.close();
    await tb.close();
  });
  return { a, b, ta, tb };
}

t.test('UDP: a message sent is received whole, with its source', async (t) => {
  const { b, ta, tb } = await pair();
  t.equal(ta.protocol, 'udp');
  t.equal(ta.reliable, false);
  t.ok(tb.localPort > 0, 'an ephemeral port was bound');
  const parsed = parseMessage(sipRequest('MESSAGE', 'z9hG4bKu1', 'hello'));
  if (!parsed.ok) throw parsed.error;
  await ta.send(parsed.message, { protocol: 'udp', host: '127.0.0.1', port: tb.localPort });
  const [ev] = await b.waitFor('message');
  t.equal(ev!.message.kind, 'request');
  t.equal(ev!.message.body.toString(), 'hello');
  t.same(ev!.source, { protocol: 'udp', remoteAddress: '127.0.0.1', remotePort: ta.localPort, localAddress: '127.0.0.1', localPort: tb.localPort });
  await ta.send(Buffer.from(sipRequest('OPTIONS', 'z9hG4bKu2')), { protocol: 'udp', host: '127.0.0.1', port: tb.localPort });
  await b.waitFor('message', 2);
});

t.test('UDP over IPv6 loopback', async (t) => {
  const { b, ta, tb } = await pair('::1');
  t.equal(tb.family, 'IPv6');
  await ta.send(Buffer.from(sipRequest()), { protocol: 'udp', host: '::1', port: tb.localPort });
  const [ev] = await b.waitFor('message');
  t.equal(ev!.source.remoteAddress, '::1');
});

t.test('UDP: garbage is reported through onParseError with the datagram, keepalives through onKeepalive; nothing throws', async (t) => {
  const { b, tb } = await pair();
  const raw = dgram.createSocket('udp4');
  t.teardown(() => raw.close());
  const send = (s: string) => new Promise<void>((r) => raw.send(Buffer.from(s), tb.localPort, '127.0.0.1', () => r()));
  await send('this is not SIP\r\n\r\n');
  await send('\r\n\r\n');
  await send('INVITE sip:x SIP/2.0\r\nVia: nonsense\r\n\r\n');
  await b.waitFor('parse-error', 2);
  await b.waitFor('keepalive', 1);
  const errs = b.of('parse-error');
  t.equal(errs[0]!.raw.toString(), 'this is not SIP\r\n\r\n');
  t.equal(errs[0]!.source.remoteAddress, '127.0.0.1');
  t.ok(errs[0]!.error.code.length > 0);
  t.equal(b.of('message').length, 0);
  // still working afterwards
  await send(sipRequest());
  await b.waitFor('message');
});

t.test('UDP: the datagram size limit refuses larger messages with a TransportError', async (t) => {
  const tx = await UdpTransport.bind({ host: '127.0.0.1', maxDatagramSize: 300 });
  t.teardown(() => tx.close());
  const big = Buffer.from(sipRequest('MESSAGE', 'z9hG4bKbig', 'x'.repeat(400)));
  const err = await tx.send(big, { protocol: 'udp', host: '127.0.0.1', port: 9 }).then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof TransportError);
  t.equal((err as TransportError).code, 'SIP_TRANSPORT_MESSAGE_TOO_LARGE');
});

t.test('UDP: send errors reject the promise, never throw', async (t) => {
  const tx = await UdpTransport.bind({ host: '127.0.0.1' });
  let err: unknown;
  t.doesNotThrow(() => {
    tx.send(Buffer.from('x'), { protocol: 'udp', host: '127.0.0.1', port: 0 }).catch((e: unknown) => (err = e));
  });
  await new Promise((r) => setImmediate(r));
  t.equal((err as TransportError).code, 'SIP_TRANSPORT_SEND_FAILED');
  const v4to6 = await tx.send(Buffer.from('x'), { protocol: 'udp', host: '::1', port: 5060 }).then(() => undefined, (e: unknown) => e);
  t.equal((v4to6 as TransportError).code, 'SIP_TRANSPORT_SEND_FAILED', 'an IPv6 target on an IPv4 socket');
  await tx.close();
  const closed = await tx.send(Buffer.from('x'), { protocol: 'udp', host: '127.0.0.1', port: 9 }).then(() => undefined, (e: unknown) => e);
  t.equal((closed as TransportError).code, 'SIP_TRANSPORT_CLOSED');
});

t.test('UDP: an exception thrown by the handler goes to onError', async (t) => {
  const errors: Error[] = [];
  const rx = await UdpTransport.bind({
    host: '127.0.0.1',
    handler: {
      onMessage: () => {
        throw new Error('handler bug');
      },
      onError: (e) => errors.push(e),
    },
  });
  const tx = await UdpTransport.bind({ host: '127.0.0.1' });
  t.teardown(async () => {
    await rx.close();
    await tx.close();
  });
  await tx.send(Buffer.from(sipRequest()), { protocol: 'udp', host: '127.0.0.1', port: rx.localPort });
  for (let i = 0; i < 100 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(errors[0]?.message, 'handler bug');
});

t.test('UDP: an IPv6 socket talks to IPv4 peers, which it sees without the ::ffff: prefix', async (t) => {
  const dualEvents = new Collector();
  const v4Events = new Collector();
  // Bound to the v4-mapped loopback, not ::, to stay on loopback; the mapping logic is the same as for ::.
  const dual = await UdpTransport.bind({ host: '::ffff:127.0.0.1', handler: dualEvents });
  const v4 = await UdpTransport.bind({ host: '127.0.0.1', handler: v4Events });
  t.teardown(async () => {
    await dual.close();
    await v4.close();
  });
  await v4.send(Buffer.from(sipRequest('OPTIONS', 'z9hG4bKds1')), { protocol: 'udp', host: '127.0.0.1', port: dual.localPort });
  const [ev] = await dualEvents.waitFor('message');
  t.equal(ev!.source.remoteAddress, '127.0.0.1');
  await dual.send(Buffer.from(sipRequest('OPTIONS', 'z9hG4bKds2')), { protocol: 'udp', host: ev!.source.remoteAddress, port: ev!.source.remotePort });
  await v4Events.waitFor('message');
});

t.test('UDP: the parse limits it was given apply to every datagram, with the defaults for what they leave out', async (t) => {
  const b = new Collector();
  const limited = await UdpTransport.bind({ host: '127.0.0.1', port: 0, handler: b, parseLimits: { maxHeaders: 4 } });
  t.teardown(() => limited.close());
  const raw = dgram.createSocket('udp4');
  t.teardown(() => raw.close());
  const send = (s: string) => new Promise<void>((r) => raw.send(Buffer.from(s), limited.localPort, '127.0.0.1', () => r()));
  await send(sipRequest());
  await send(sipRequest());
  await b.waitFor('parse-error', 2);
  t.equal(b.of('parse-error')[0]!.error.code, 'TOO_MANY_HEADERS', 'maxHeaders: 4 holds for the first datagram');
  t.equal(b.of('parse-error')[1]!.error.code, 'TOO_MANY_HEADERS', 'and for the next');
  const long = sipRequest('OPTIONS', 'z9hG4bKlong', '', [`X-Long: ${'a'.repeat(9000)}`]);
  const wide = await UdpTransport.bind({ host: '127.0.0.1', port: 0, handler: b, parseLimits: { maxHeaders: 100 } });
  t.teardown(() => wide.close());
  await new Promise<void>((r) => raw.send(Buffer.from(long), wide.localPort, '127.0.0.1', () => r()));
  await b.waitFor('parse-error', 3);
  t.equal(b.of('parse-error')[2]!.error.code, 'LINE_TOO_LONG', 'the default line length still applies');
  t.equal(b.of('message').length, 0);
});
