/**
 * A core told to stop (SIGTERM) drains first: health pings get 503 "Shutting Down" so the edges
 * move to the other core, /readyz says draining, and a call being set up through it still gets
 * its 200 before it stops. Two cores share one store, as they share Cassandra in a cluster.
 */
import t, { type Test } from 'tap';
import { CoreNode } from '../../core/core-node.js';
import { MemoryLocationStore } from '../../core/location/memory-store.js';
import { EdgeNode } from '../../edge/edge-node.js';
import type { SipRequest, SipResponse } from '../../sip/message/model.js';
import { UdpUa } from '../helpers/udp-ua.js';
import { SipWsClient } from '../edge/fixtures/sip-ws-client.js';
import { DOMAIN, HOST, SECRET, metric, sleep, until } from '../security/fixtures/cluster.js';
import { SDP, newCallId, udpRequest, wsRegister } from '../security/fixtures/messages.js';

/**
 * bob, a desk phone registered at `core`, and carol calling him through it: resolves once bob's
 * phone rings (he has not answered).
 */
async function ringingCall(t: Test, core: { host: string; port: number }): Promise<{ bob: UdpUa; carol: UdpUa; callId: string; invite: SipRequest }> {
  const bob = await UdpUa.open();
  const carol = await UdpUa.open();
  t.teardown(() => {
    bob.close();
    carol.close();
  });
  const regId = newCallId('bob-reg');
  bob.send(udpRequest(bob, { method: 'REGISTER', uri: `sip:${DOMAIN}`, from: 'bob', to: `sip:bob@${DOMAIN}`, callId: regId, contact: `<sip:bob@${HOST}:${bob.port}>`, extra: ['Expires: 600'] }), core);
  t.equal((await bob.response(regId, 'REGISTER')).status, 200, 'bob registered');
  const callId = newCallId('call');
  carol.send(udpRequest(carol, { method: 'INVITE', uri: `sip:bob@${DOMAIN}`, from: 'carol', callId, contact: `<sip:carol@${HOST}:${carol.port}>`, body: SDP }), core);
  return { bob, carol, callId, invite: await bob.request('INVITE', 5000, callId) };
}

t.test('drain: edges move away on 503 "Shutting Down", a call being set up still connects, then the core is drained', async (t) => {
  const store = new MemoryLocationStore();
  const start = async () => {
    const node = new CoreNode({ udp: { host: HOST, port: 0 }, domain: DOMAIN, auth: false, secrets: [SECRET], metrics: { host: HOST, port: 0 } }, { store });
    const addr = await node.start();
    t.teardown(() => node.stop());
    return { node, addr };
  };
  const a = await start();
  const b = await start();
  const edge = new EdgeNode({ ws: { host: HOST, port: 0 }, cores: [a.addr.udp, b.addr.udp], secrets: [SECRET], probeInterval: 100, failureThreshold: 2 });
  const edgeAddr = await edge.start();
  t.teardown(() => edge.stop());
  t.ok(await until(() => edge.cores!.healthyCount === 2), 'the edge sees both cores up');

  // bob, a desk phone registered at core a; carol calls him through core a.
  const { bob, carol, callId, invite: ringing } = await ringingCall(t, a.addr.udp);

  let drainedAt = 0;
  const draining = a.node.drain(10_000, { quietMs: 300 }).then((r) => {
    drainedAt = Date.now();
    return r;
  });
  const ready = await fetch(`http://${HOST}:${a.addr.metrics!.port}/readyz`);
  t.equal(ready.status, 503, '/readyz: 503 while draining');
  t.match(await ready.text(), /draining/);

  // A health ping of our own gets what the edges get.
  const probeId = newCallId('probe');
  carol.send(udpRequest(carol, { method: 'OPTIONS', uri: `sip:${HOST}:${a.addr.udp.port}`, callId: probeId }), a.addr.udp);
  const probe = await carol.response(probeId, 'OPTIONS');
  t.equal(probe.status, 503, 'OPTIONS to the draining core: 503');
  t.equal(probe.reason, 'Shutting Down');
  t.ok(await until(() => edge.cores!.healthyCount === 1, 3000), 'the edge marks the draining core down');
  t.equal(edge.cores!.cores.find((c) => c.address.port === a.addr.udp.port)?.state, 'down', 'and it is core a');

  // New registrations through the edge now go to core b.
  const okAt = (n: CoreNode) => metric(n.metrics.registry, 'sipflow_core_registrations_total', { outcome: 'ok' });
  const [aBefore, bBefore] = [await okAt(a.node), await okAt(b.node)];
  const ws = await SipWsClient.connect(`ws://${HOST}:${edgeAddr.ws.port}/`);
  t.teardown(() => ws.close());
  for (let i = 0; i < 3; i++) {
    ws.send(wsRegister(`user${i}`, { callId: newCallId(`after-${i}`) }));
    t.equal(((await ws.waitForSip(new RegExp(`^SIP/2.0 [2-6]\\d\\d[\\s\\S]*Call-ID: after-`))) as SipResponse).status, 200, `REGISTER ${i} through the edge answered 200`);
  }
  t.equal(await okAt(b.node), bBefore + 3, 'all three registered at core b');
  t.equal(await okAt(a.node), aBefore, 'none at the draining core');
  t.equal(drainedAt, 0, 'core a is still draining: the INVITE waits for bob');

  await sleep(200);
  bob.reply(ringing, 200, [['Contact', `<sip:bob@${HOST}:${bob.port}>`], ['Content-Type', 'application/sdp']], SDP);
  const ok = await carol.response(callId, 'INVITE');
  t.equal(ok.status, 200, "bob's 200 reaches carol through the draining core");
  const result = await draining;
  t.equal(result.drained, true, 'then the core is drained');
  t.equal(result.waiting, 0);
});

t.test('drain: bounded by its timeout while a call waits; cut short by an abort', async (t) => {
  const store = new MemoryLocationStore();
  const node = new CoreNode({ udp: { host: HOST, port: 0 }, domain: DOMAIN, auth: false, secrets: [SECRET] }, { store });
  const addr = await node.start();
  t.teardown(() => node.stop());
  await ringingCall(t, addr.udp);

  const timed = await node.drain(400, { quietMs: 50 });
  t.equal(timed.drained, false, 'not drained: the INVITE is still unanswered');
  t.equal(timed.waiting, 1, 'one call being set up');
  t.ok(timed.ms >= 400 && timed.ms < 3000, `returned at the timeout (${timed.ms} ms)`);

  const cut = new AbortController();
  setTimeout(() => cut.abort(), 100);
  const started = Date.now();
  const r = await node.drain(60_000, { signal: cut.signal });
  t.equal(r.drained, false);
  t.ok(Date.now() - started < 5000, 'an abort (second signal) ends it at once');
});
