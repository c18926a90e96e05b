/**
 * An edge told to stop (SIGTERM) drains first: no new WebSockets, /readyz says draining, the open
 * flows keep working until nothing they sent waits for an answer, then they close with 1001.
 */
import t from 'tap';
import type { SipResponse } from '../../sip/message/model.js';
import { createResponse } from '../../sip/message/factory.js';
import { SipWsClient, invite } from './fixtures/sip-ws-client.js';
import { eventually, sleep, startEdge } from './fixtures/edge-fixture.js';

async function get(url: string): Promise<{ status: number; text: string }> {
  const r = await fetch(url);
  return { status: r.status, text: await r.text() };
}

t.test('drain: an INVITE on its way still gets its answer; new connections are refused; then the flows close with 1001', async (t) => {
  const fx = await startEdge(t, { metrics: { host: '127.0.0.1', port: 0 }, probeInterval: 100 });
  const metrics = `http://127.0.0.1:${fx.addr.metrics!.port}`;
  t.ok(await eventually(async () => (await get(`${metrics}/readyz`)).status === 200), 'ready before the drain');
  let answer: (() => void) | undefined;
  fx.core.onRequest = (req, reply) => {
    if (req.method !== 'INVITE') return false;
    answer = () => reply(createResponse(req, 200, 'OK', { toTag: true, headers: [['Contact', '<sip:bob@127.0.0.1:5999>']] }));
    return true;
  };
  const alice = await fx.connect();
  const idle = await fx.connect();
  alice.send(invite({ callId: 'drain-invite' }));
  await fx.core.waitForRequest('INVITE');
  t.ok(answer, 'the core holds the INVITE');

  const draining = fx.edge.drain(5000);
  const ready = await get(`${metrics}/readyz`);
  t.equal(ready.status, 503, '/readyz: 503 while draining');
  t.match(ready.text, /draining/);
  await t.rejects(SipWsClient.connect(fx.url), 'a new WebSocket is refused');
  t.equal(alice.closed, false, 'the flows stay open while something waits');

  await sleep(200);
  answer!();
  const ok = (await alice.waitForSip(/^SIP\/2.0 200/)) as SipResponse;
  t.equal(ok.callId, 'drain-invite', 'the answer to the INVITE reaches the browser during the drain');
  const result = await draining;
  t.equal(result.drained, true, 'drained: nothing waits any more');
  t.equal(result.waiting, 0);
  t.ok(result.ms >= 200, `it waited for the answer (${result.ms} ms)`);

  await fx.edge.stop();
  t.equal(await alice.waitClosed(), 1001, 'then the flow closes with 1001 (going away): the browser reconnects elsewhere');
  t.equal(await idle.waitClosed(), 1001, 'so does an idle flow');
});

t.test('drain: bounded by its timeout when an answer never comes, and cut short by an abort', async (t) => {
  const fx = await startEdge(t);
  fx.core.onRequest = (req) => req.method === 'INVITE'; // swallowed: never answered
  const alice = await fx.connect();
  alice.send(invite({ callId: 'never-answered' }));
  await fx.core.waitForRequest('INVITE');
  await eventually(() => (fx.edge.status().pendingForwardings as number) === 1);
  const timed = await fx.edge.drain(300);
  t.equal(timed.drained, false, 'not drained at the timeout');
  t.equal(timed.waiting, 1, 'one INVITE still waiting');
  t.ok(timed.ms >= 300 && timed.ms < 2000, `returned at the timeout (${timed.ms} ms)`);

  const fx2 = await startEdge(t);
  fx2.core.onRequest = (req) => req.method === 'INVITE';
  const bob = await fx2.connect();
  bob.send(invite({ callId: 'cut-short' }));
  await fx2.core.waitForRequest('INVITE');
  const cut = new AbortController();
  const started = Date.now();
  const draining = fx2.edge.drain(60_000, { signal: cut.signal });
  setTimeout(() => cut.abort(), 100);
  const r = await draining;
  t.equal(r.drained, false);
  t.ok(Date.now() - started < 5000, 'a second signal ends the drain at once, not after 60 s');
});
