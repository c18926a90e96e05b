import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import { valueOf } from '../../edge/metrics.js';
import { eventually, sleep, startEdge } from './fixtures/edge-fixture.js';
import { SipWsClient, register } from './fixtures/sip-ws-client.js';

/** Tries an upgrade and reports the HTTP status it was refused with (or 101). */
function upgradeStatus(port: number, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      path: '/',
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', ...headers },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The HTTP status an upgrade attempt was refused with (0 when it was not refused). */
async function refusal(p: Promise<SipWsClient>): Promise<number> {
  try {
    (await p).close();
    return 0;
  } catch (err) {
    return (err as { status?: number }).status ?? -1;
  }
}

t.test('RFC 7118 §4: the upgrade must offer the sip subprotocol, and the reply names it', async (t) => {
  const fx = await startEdge(t);
  const ok = await fx.connect();
  t.equal(ok.ws.protocol, 'sip', 'Sec-WebSocket-Protocol: sip in the 101');
  const offeredAmongOthers = await fx.connect({ protocol: ['chat', 'sip'] });
  t.equal(offeredAmongOthers.ws.protocol, 'sip', 'sip picked from a list');

  t.equal(await upgradeStatus(fx.addr.ws.port, {}), 400, 'no subprotocol: refused');
  t.equal(await upgradeStatus(fx.addr.ws.port, { 'Sec-WebSocket-Protocol': 'chat' }), 400, 'another subprotocol: refused');
  t.equal(await upgradeStatus(fx.addr.ws.port, { 'Sec-WebSocket-Protocol': 'SIP' }), 400, 'tokens are case-sensitive');
  t.equal(await refusal(SipWsClient.connect(fx.url, { protocol: 'xmpp' })), 400);
  t.equal(await fx.edge.metrics.refusalCount('bad-subprotocol'), 4);

  const plain = await new Promise<number>((resolve) => http.get(`http://127.0.0.1:${fx.addr.ws.port}/`, (res) => { res.resume(); resolve(res.statusCode ?? 0); }));
  t.equal(plain, 426, 'a plain HTTP request: 426 Upgrade Required');
  t.equal(await fx.edge.metrics.refusalCount('not-websocket'), 1);
  t.equal(fx.edge.flowCount, 2, 'refusals opened no flow');
});

t.test('allowed origins: other origins are refused with 403 and counted', async (t) => {
  const fx = await startEdge(t, { allowedOrigins: ['https://app.example.test'] });
  const good = await fx.connect({ origin: 'https://app.example.test' });
  t.equal(good.ws.readyState, 1);
  t.equal(await refusal(SipWsClient.connect(fx.url, { origin: 'https://evil.example.test' })), 403);
  t.equal(await refusal(SipWsClient.connect(fx.url)), 403, 'no Origin at all is not an allowed origin');
  t.equal(await fx.edge.metrics.refusalCount('origin'), 2);
});

t.test('per-IP connection limit: over it the upgrade gets 429; a slot frees when a flow closes', async (t) => {
  const fx = await startEdge(t, { maxFlowsPerIp: 2 });
  const a = await fx.connect();
  await fx.connect();
  t.equal(await refusal(SipWsClient.connect(fx.url)), 429);
  t.equal(await fx.edge.metrics.refusalCount('per-ip-limit'), 1);
  a.close();
  t.ok(await eventually(() => fx.edge.flowCount === 1));
  const c = await fx.connect();
  t.equal(c.ws.readyState, 1, 'accepted again after one closed');
});

t.test('a frame over the size limit closes that connection only, counted', async (t) => {
  const fx = await startEdge(t, { maxMessageSize: 1024 });
  const big = await fx.connect();
  const other = await fx.connect();
  big.send('OPTIONS ' + 'x'.repeat(2000));
  await big.waitClosed();
  t.ok(await eventually(async () => (await fx.edge.metrics.refusalCount('oversize')) === 1), 'oversize counted');
  t.equal(await fx.edge.metrics.closedCount('oversize'), 1);
  other.send(register());
  await other.waitForSip(/^SIP\/2.0 200/);
  t.pass('the other flow still works');
});

t.test('non-SIP frames: garbage is dropped and counted; a readable but broken request gets 400', async (t) => {
  const fx = await startEdge(t);
  const c = await fx.connect();
  c.send('hello, this is not SIP');
  c.ws.send(Buffer.from([0, 1, 2, 3, 255, 254, 10, 13]));
  c.send([
    'OPTIONS sip:edge.example.test SIP/2.0',
    'Via: SIP/2.0/WS broken.invalid;branch=z9hG4bKbroken1',
    'From: <sip:a@example.test>;tag=1',
    'To: <sip:b@example.test>',
    'Call-ID: broken-1',
    'CSeq: notanumber OPTIONS',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n'));
  // A 400 would have to copy the broken CSeq, and nobody could parse that response: no answer,
  // the request is dropped and counted (test/security/fuzz.test.ts checks every reply parses).
  await new Promise((r) => setTimeout(r, 300));
  t.notOk(c.frames.some((f) => f.includes('Call-ID: broken-1')), 'a request whose CSeq is broken gets no unparsable answer');
  c.send([
    'MESSAGE sip:bob@example.test SIP/2.0',
    'Via: SIP/2.0/WS broken.invalid;branch=z9hG4bKbroken2',
    'Max-Forwards: many',
    'From: <sip:a@example.test>;tag=1',
    'To: <sip:b@example.test>',
    'Call-ID: broken-2',
    'CSeq: 1 MESSAGE',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n'));
  const bad2 = await c.waitForSip(/^SIP\/2.0 400/);
  t.equal(bad2.callId, 'broken-2', 'a broken Max-Forwards: 400 too');
  t.match((bad2 as { reason: string }).reason, /Max-Forwards/, 'the reason names the header');
  t.equal(bad2.vias.length, 1);
  await sleep(100);
  t.equal(c.frames.length, 0, 'nothing answered the garbage');
  t.equal(await fx.edge.metrics.refusalCount('parse-error'), 4);
  t.equal(c.closed, false, 'framing is per message: the connection stays');
  t.equal(fx.core.requests().filter((r) => r.method !== 'OPTIONS' || r.callId.startsWith('broken')).length, 0, 'nothing reached the core');
  c.send(register());
  await c.waitForSip(/^SIP\/2.0 200/);
});

t.test('a flood from one connection is rate-limited, then the connection closed; its neighbours are untouched', async (t) => {
  const fx = await startEdge(t, { ratePerFlow: 20, ratePerIp: 0, sweepInterval: 5000 });
  const flooder = await fx.connect();
  const neighbour = await fx.connect();
  for (let i = 0; i < 100; i++) flooder.send('\r\n'); // cheap messages: lone CRLFs still count
  await flooder.waitClosed();
  t.ok((await fx.edge.metrics.refusalCount('rate-limit')) >= 20, 'drops counted');
  t.equal(await fx.edge.metrics.closedCount('flood'), 1);
  neighbour.send(register());
  await neighbour.waitForSip(/^SIP\/2.0 200/);
  t.pass('the neighbour still registers');
});

t.test('a flood from one IP over many connections is limited per IP; connections that keep flooding are closed', async (t) => {
  const fx = await startEdge(t, { ratePerFlow: 0, ratePerIp: 30, sweepInterval: 5000 });
  const clients = [await fx.connect(), await fx.connect(), await fx.connect()];
  for (const c of clients) for (let i = 0; i < 100; i++) c.send('\r\n\r\n');
  for (const c of clients) await c.waitClosed();
  const dropped = await fx.edge.metrics.refusalCount('rate-limit');
  t.ok(dropped >= 60, `the IP budget of 30/s was shared: ${dropped} dropped`);
  t.equal(await fx.edge.metrics.closedCount('flood'), 3, 'each flooding connection closed');
  t.ok((await valueOf(fx.edge.metrics.keepalives, { kind: 'crlf' })) >= 30, 'the burst of 30 got through first');
  const other = await SipWsClient.connect(fx.url, { localAddress: '127.0.0.2' });
  t.teardown(() => other.close());
  other.send(register());
  await other.waitForSip(/^SIP\/2.0 200/);
  t.pass('another IP is not affected');
});

t.test('handshake timeout: a WebSocket that never sends SIP is closed; one that does stays', async (t) => {
  const fx = await startEdge(t, { handshakeTimeout: 300, sweepInterval: 50 });
  const mute = await fx.connect();
  const talker = await fx.connect();
  talker.send('\r\n\r\n');
  await mute.waitClosed(3000);
  t.equal(await fx.edge.metrics.closedCount('handshake-timeout'), 1);
  t.equal(await fx.edge.metrics.refusalCount('handshake-timeout'), 1);
  await sleep(400);
  t.equal(talker.closed, false);
});

t.test('a half-open connection that never finishes the HTTP upgrade is dropped by uWS (about 10 s), others unaffected', async (t) => {
  const fx = await startEdge(t);
  const socket = net.connect(fx.addr.ws.port, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n'); // never ends the header section
  const started = Date.now();
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - started)));
  socket.on('error', () => undefined);
  const c = await fx.connect();
  c.send(register());
  await c.waitForSip(/^SIP\/2.0 200/);
  let timer: NodeJS.Timeout | undefined;
  const after = await Promise.race([closed, new Promise<number>((r) => (timer = setTimeout(() => r(-1), 20_000)))]);
  clearTimeout(timer);
  t.ok(after > 0 && after < 20_000, `closed by the server after ${after} ms`);
  t.equal(c.closed, false);
});

t.test('backpressure: a browser that does not read is closed instead of buffered without bound', async (t) => {
  const fx = await startEdge(t, { maxBuffered: 256 * 1024 });
  const slow = await fx.connect();
  const fine = await fx.connect();
  slow.send(register({ user: 'slow' }));
  await slow.waitForSip(/^SIP\/2.0 200/);
  const path = (await fx.core.waitForRequest('REGISTER')).values('Path')[0]!;
  (slow.ws as unknown as { _socket: net.Socket })._socket.pause();
  const body = 'z'.repeat(40_000);
  let sent = 0;
  for (let i = 0; i < 600 && fx.edge.flowCount === 2; i++) {
    const msg = [
      'MESSAGE sip:slow@x.invalid SIP/2.0',
      `Via: SIP/2.0/UDP 127.0.0.1:${fx.core.port};branch=z9hG4bKbp${i}`,
      `Route: ${path}`,
      'Max-Forwards: 70',
      `From: <sip:core@example.test>;tag=bp${i}`,
      '<sip:slow@example.test>'.replace(/^/, 'To: '),
      `Call-ID: bp-${i}`,
      'CSeq: 1 MESSAGE',
      'Content-Type: text/plain',
      `Content-Length: ${body.length}`,
      '',
      body,
    ].join('\r\n');
    await fx.core.send(msg, fx.addr.udp);
    sent++;
    if (i % 4 === 3) await sleep(2);
  }
  t.ok(await eventually(() => fx.edge.flowCount === 1, 5000), `the slow flow was closed after ${sent} messages`);
  t.ok(sent < 600, 'closed before the sender gave up');
  t.equal(await fx.edge.metrics.closedCount('backpressure'), 1);
  t.equal(await fx.edge.metrics.refusalCount('backpressure'), 1);
  fine.send(register({ user: 'fine' }));
  await fine.waitForSip(/^SIP\/2.0 200/);
  t.pass('the other flow is unaffected');
});
