import t from 'tap';
import { createResponse } from '../../sip/message/factory.js';
import type { FakeCore } from './fixtures/fake-core.js';
import { eventually, sleep, startEdge, type EdgeFixture } from './fixtures/edge-fixture.js';
import { invite, register } from './fixtures/sip-ws-client.js';

/** A Call-ID the edge sends to `core` while every core is healthy. */
function callIdFor(fx: EdgeFixture, core: FakeCore, prefix: string): string {
  for (let i = 0; i < 1000; i++) {
    const id = `${prefix}-${i}`;
    if (fx.edge.cores!.pick(id)?.address.port === core.port) return id;
  }
  throw new Error('no Call-ID maps to that core');
}

t.test('Call-ID hashing: every request of a call reaches one core, and calls spread over the cores', async (t) => {
  const fx = await startEdge(t, {}, 3);
  const client = await fx.connect();
  for (let i = 0; i < 30; i++) {
    client.send(register({ callId: `spread-${i}` }));
    await client.waitForSip(/^SIP\/2.0 200/);
  }
  const per = fx.cores.map((c) => c.requests('REGISTER').length);
  t.equal(per.reduce((a, b) => a + b, 0), 30);
  t.ok(per.every((n) => n >= 3), `each core got a share: ${per.join('/')}`);
  const target = fx.cores.find((c) => c.requests('REGISTER').some((r) => r.callId === 'spread-7'))!;
  client.send(register({ callId: 'spread-7', cseq: 2 }));
  await client.waitForSip(/^SIP\/2.0 200/);
  t.equal(target.requests('REGISTER').filter((r) => r.callId === 'spread-7').length, 2, 'the refresh went to the same core');
});

t.test('OPTIONS health checks: a core that stops answering is marked down within seconds and traffic moves; it comes back', async (t) => {
  const fx = await startEdge(t, { probeInterval: 200, probeTimeout: 150, failureThreshold: 2, metrics: { host: '127.0.0.1', port: 0 } }, 2);
  const [a, b] = fx.cores as [FakeCore, FakeCore];
  t.ok(await eventually(() => fx.edge.cores!.healthyCount === 2), 'both cores up');
  const ready = async (): Promise<number> => (await fetch(`http://127.0.0.1:${fx.addr.metrics!.port}/readyz`)).status;
  t.equal(await ready(), 200);
  const idForA = callIdFor(fx, a, 'move');

  a.silent = true;
  const downAt = Date.now();
  t.ok(await eventually(() => fx.edge.cores!.cores.find((c) => c.address.port === a.port)!.state === 'down', 3000), 'a is marked down');
  t.ok(Date.now() - downAt < 2000, `within ${Date.now() - downAt} ms`);
  t.equal(await ready(), 200, 'still ready with one healthy core');

  const client = await fx.connect();
  client.send(register({ callId: idForA }));
  await client.waitForSip(/^SIP\/2.0 200/);
  t.equal(b.requests('REGISTER').filter((r) => r.callId === idForA).length, 1, "a's calls now go to b");

  b.silent = true;
  t.ok(await eventually(() => fx.edge.cores!.healthyCount === 0, 3000));
  t.equal(await ready(), 503, 'not ready without a healthy core');
  client.send(register({ callId: 'nobody-home' }));
  const unavailable = await client.waitForSip(/^SIP\/2.0 503/);
  t.ok(unavailable.get('Retry-After'), '503 with Retry-After when no core is up');
  t.equal(await fx.edge.metrics.refusalCount('no-core'), 1);

  a.silent = false;
  t.ok(await eventually(() => fx.edge.cores!.cores.find((c) => c.address.port === a.port)!.state === 'up', 3000), 'a is back up');
  client.send(register({ callId: idForA, cseq: 2 }));
  await client.waitForSip(/^SIP\/2.0 200/);
  t.equal(a.requests('REGISTER').filter((r) => r.callId === idForA).length, 1, 'and takes its calls again');
});

t.test('a request sent to a core that then goes down is re-sent to another core with a new branch', async (t) => {
  const fx = await startEdge(t, { probeInterval: 200, probeTimeout: 150, failureThreshold: 2 }, 2);
  const [a, b] = fx.cores as [FakeCore, FakeCore];
  t.ok(await eventually(() => fx.edge.cores!.healthyCount === 2));
  const id = callIdFor(fx, a, 'inflight');
  a.silent = true; // dead, but not yet known to be
  const client = await fx.connect();
  const sentAt = Date.now();
  client.send(register({ callId: id }));
  await client.waitForSip(/^SIP\/2.0 200/, 4000);
  t.ok(Date.now() - sentAt < 3000, `answered by the other core within ${Date.now() - sentAt} ms`);
  const onB = b.requests('REGISTER').find((r) => r.callId === id)!;
  t.ok(onB, 'b got it');
  t.ok((await fx.edge.metrics.coreRetries.get()).values[0]!.value >= 1, 'retry counted');
  t.equal(onB.vias.length, 2);
});

t.test('RFC 3261 §16.7: before any response a timed-out request is retried elsewhere; an INVITE with a provisional is not', async (t) => {
  // Health checks effectively off: only the transaction timeout moves the request.
  const fx = await startEdge(t, { probeInterval: 600_000, failureThreshold: 100, timers: { t1: 10, t2: 40 } }, 2);
  const [a, b] = fx.cores as [FakeCore, FakeCore];
  const id = callIdFor(fx, a, 'timeout');
  a.onRequest = (req) => req.method === 'REGISTER'; // swallows REGISTERs: never answers them
  const client = await fx.connect();
  client.send(register({ callId: id }));
  await client.waitForSip(/^SIP\/2.0 200/, 3000);
  const onA = a.requests('REGISTER').find((r) => r.callId === id)!;
  const onB = b.requests('REGISTER').find((r) => r.callId === id)!;
  t.ok(onA && onB, 'tried on a, then on b');
  t.not(onA.vias[0]!.params.get('branch'), onB.vias[0]!.params.get('branch'), 'a new branch for the new attempt');
  t.equal(onA.vias[1]!.params.get('branch'), onB.vias[1]!.params.get('branch'), 'the browser Via is unchanged');

  // An INVITE that got a 180 from a and then nothing is not moved to b.
  const inviteId = callIdFor(fx, a, 'inv-prov');
  a.onRequest = (req, reply) => {
    if (req.method === 'INVITE') reply(createResponse(req, 180, undefined, { toTag: 'x' }));
    return req.method === 'INVITE';
  };
  client.send(invite({ callId: inviteId }));
  await client.waitForSip(/^SIP\/2.0 180/);
  await sleep(1500); // well past Timer B at T1 = 10 ms
  t.equal(b.requests('INVITE').length, 0, 'never re-sent after a provisional');
});

t.test('an INVITE re-sent to another core after its frame is long gone still carries its offer, byte for byte', async (t) => {
  // The edge parses a browser's frame from a view of uWS's buffer, which dies with the callback:
  // the body must have been copied for a re-send seconds later to carry it.
  const fx = await startEdge(t, { probeInterval: 600_000, failureThreshold: 100, timers: { t1: 10, t2: 40 } }, 2);
  const [a, b] = fx.cores as [FakeCore, FakeCore];
  const id = callIdFor(fx, a, 'inv-body');
  a.onRequest = (req) => req.method === 'INVITE'; // swallows INVITEs: Timer B moves it to b
  b.onRequest = (req, reply) => {
    if (req.method === 'INVITE') reply(createResponse(req, 486, undefined, { toTag: 'busy' }));
    return req.method === 'INVITE';
  };
  const client = await fx.connect();
  const sent = invite({ callId: id });
  client.send(sent);
  await client.waitForSip(/^SIP\/2.0 486/, 3000);
  const offer = sent.slice(sent.indexOf('\r\n\r\n') + 4);
  const onA = a.requests('INVITE').find((r) => r.callId === id);
  const onB = b.requests('INVITE').find((r) => r.callId === id);
  t.ok(onA && onB, 'tried on a, then on b');
  t.equal(onA?.body.toString('utf8'), offer, 'the first try carries the offer');
  t.equal(onB?.body.toString('utf8'), offer, 'the re-send carries the same offer');
});

t.test('RFC 3261 §16.7: when every core timed out the browser gets 408, once', async (t) => {
  const fx = await startEdge(t, { probeInterval: 600_000, failureThreshold: 100, timers: { t1: 10, t2: 40 } }, 2);
  for (const c of fx.cores) c.onRequest = (req) => req.method === 'REGISTER';
  const client = await fx.connect();
  client.send(register({ callId: 'nobody-answers' }));
  const timeout = await client.waitForSip(/^SIP\/2.0 408/, 4000);
  t.equal(timeout.callId, 'nobody-answers');
  t.equal(fx.cores.filter((c) => c.requests('REGISTER').length > 0).length, 2, 'both cores were tried');
  await sleep(300);
  t.equal(client.frames.filter((f) => f.startsWith('SIP/2.0 408')).length, 0, 'no second final response');
});

t.test('§16.7: an INVITE its core answered provisionally is not moved when that core goes down, and the browser gets 408 at once', async (t) => {
  const fx = await startEdge(t, { probeInterval: 200, probeTimeout: 150, failureThreshold: 2 }, 2);
  const [a, b] = fx.cores as [FakeCore, FakeCore];
  t.ok(await eventually(() => fx.edge.cores!.healthyCount === 2));
  const id = callIdFor(fx, a, 'dying');
  a.onRequest = (req, reply) => {
    if (req.method === 'INVITE') reply(createResponse(req, 180, undefined, { toTag: 'x' }));
    return req.method === 'INVITE';
  };
  const client = await fx.connect();
  client.send(invite({ callId: id }));
  await client.waitForSip(/^SIP\/2.0 180/);
  a.silent = true;
  const killedAt = Date.now();
  const timeout = await client.waitForSip(/^SIP\/2.0 408/, 4000);
  t.equal(timeout.callId, id);
  t.ok(Date.now() - killedAt < 3000, `408 within ${Date.now() - killedAt} ms of the core going silent (Timer C would be minutes)`);
  t.equal(b.requests('INVITE').length, 0, 'not re-sent to the other core');
  t.equal(await fx.edge.metrics.refusalCount('core-lost'), 1);
  await sleep(300);
  t.equal(client.frames.filter((f) => f.startsWith('SIP/2.0 408')).length, 0, 'no second final response');
});
