/**
 * Edge loss under load. 1,000 simulated browsers (RFC 7118 WebSocket, RFC 5626 outbound) are
 * registered through two edge processes, 500 each, in front of one core process (memory store: a
 * single core holds every binding, so the store is not what is tested here). Calls come in
 * continuously over UDP to the UAs of the edge that will survive. Then edge 1 is killed with
 * SIGKILL: its 500 UAs see their WebSocket close, connect to edge 2 and register again with the
 * same +sip.instance and reg-id, which replaces the dead flow's binding (RFC 5626 §4.2.1/§6).
 *
 * Measured: the time until every UA of the dead edge is registered again, calls that failed
 * meanwhile (to UAs of the surviving edge: none may fail), then a call to every one of the 1,000
 * UAs and a registrar query for every AOR (exactly one binding each, nothing lost, nothing stale).
 */
import t from 'tap';
import { mapLimit, percentile, seconds, sleep, waitUntil } from './fixtures/bounded.js';
import { RegistrarQuery } from './fixtures/bindings.js';
import { UdpCallLoad } from './fixtures/call-load.js';
import { FaultReport } from './fixtures/report.js';
import { coreArgs, edgeArgs, edgeStatus, portPlan, Roles, wsUrl, type EdgeSpec } from './fixtures/roles.js';
import { UaFleet } from './fixtures/ua-fleet.js';
import { UdpCaller } from './fixtures/udp-caller.js';

t.setTimeout(8 * 60_000);

const UAS = 1000;
const CALL_RATE = 10;
const port = portPlan(28000);
const core = { udp: port(0), metrics: port(1) };
const edges: EdgeSpec[] = [
  { ws: port(10), udp: port(11), metrics: port(12), cores: [core.udp] },
  { ws: port(20), udp: port(21), metrics: port(22), cores: [core.udp] },
];
const urls = edges.map(wsUrl);

const roles = new Roles();
const report = new FaultReport('Edge loss', `${UAS.toLocaleString('en')} WS UAs (500 per edge), 1 core; UDP calls ${CALL_RATE}/s to the surviving edge's UAs`, 'kill -9 edge-1 (500 open flows)');
let fleet: UaFleet | undefined;
let caller: UdpCaller | undefined;
let query: RegistrarQuery | undefined;

t.teardown(async () => {
  report.print(t.passing());
  fleet?.stop();
  caller?.close();
  query?.close();
  await roles.stopAll();
});

t.test('every UA of a killed edge re-registers through the other edge and is reachable again; calls to the other UAs never fail', async (t) => {
  try {
    await roles.start('core', coreArgs({ ...core, store: 'memory' }));
    await Promise.all(edges.map((e, i) => roles.start(`edge-${i + 1}`, edgeArgs(e))));

    fleet = new UaFleet({ prefix: 'el', count: UAS, edges: urls, firstEdge: (i) => (i < UAS / 2 ? 0 : 1), ua: { reconnectJitterMs: 1000 } });
    const started = Date.now();
    const reg = await fleet.registerAll(50);
    t.equal(reg.failed.length, 0, `all ${UAS} UAs registered (${seconds(Date.now() - started)} s)`, { failed: reg.failed.slice(0, 5) });
    fleet.startKeepalives();
    const [s1, s2] = await Promise.all(edges.map((e) => edgeStatus(e.metrics)));
    t.equal(s1!.flowsOpen, UAS / 2, 'edge 1 holds 500 flows');
    t.equal(s2!.flowsOpen, UAS / 2, 'edge 2 holds 500 flows');

    caller = await UdpCaller.open();
    const c = caller;
    const sample = fleet.uas.filter((_, i) => i % 20 === 0);
    const baseline = await mapLimit(sample, 10, (ua) => c.call(ua.user, core.udp));
    t.equal(baseline.filter((o) => !o.ok).length, 0, `baseline: ${sample.length} calls across both edges succeed`, { failures: baseline.filter((o) => !o.ok).slice(0, 3) });

    const moved = fleet.onEdge(urls[0]!);
    const survivors = fleet.onEdge(urls[1]!);
    let k = 0;
    const load = new UdpCallLoad(c, { perSecond: CALL_RATE, pick: () => survivors[k++ % survivors.length]!.user, core: () => core.udp });
    await sleep(3000);

    const killAt = Date.now();
    await roles.kill9('edge-1');
    t.notOk(roles.alive('edge-1'), 'edge 1 is gone (SIGKILL)');
    await waitUntil(() => fleet!.recoveries.length >= moved.length && fleet!.recovering === 0, { timeoutMs: 120_000, intervalMs: 100, what: `${moved.length} UAs to re-register` });
    const recoveredAt = Math.max(...fleet.recoveries.map((r) => r.recoveredAt));
    const lossSeen = fleet.recoveries.map((r) => r.lostAt - killAt);
    const perUa = fleet.recoveries.map((r) => r.recoveredAt - r.lostAt);
    const recoverySeconds = seconds(recoveredAt - killAt);
    t.equal(fleet.recoveries.length, moved.length, `all ${moved.length} UAs of edge 1 registered again, the last ${recoverySeconds} s after the kill`);
    t.ok(moved.every((ua) => ua.edge === urls[1]), 'they are all on edge 2 now');
    t.equal(fleet.gaveUp.length, 0, 'no UA gave up');

    // Keep the calls going a little past the recovery, then look at what failed.
    await sleep(2000);
    await load.stop();
    const during = load.stats;
    t.ok(during.attempted >= CALL_RATE * 3, `calls were placed throughout (${during.attempted})`);
    t.equal(during.failed, 0, 'no call to a UA of the surviving edge failed during the recovery', { failures: during.failures.slice(0, 5) });

    // Everybody reachable: one call to each of the 1,000 UAs.
    const sweepStart = Date.now();
    const sweep = await mapLimit(fleet.uas, 20, (ua) => c.call(ua.user, core.udp, { timeoutMs: 15_000 }));
    const sweepFailed = sweep.filter((o) => !o.ok);
    t.equal(sweepFailed.length, 0, `a call to every one of the ${UAS} UAs succeeds (${seconds(Date.now() - sweepStart)} s)`, { failures: sweepFailed.slice(0, 5) });

    // Nothing lost, nothing stale: one binding per AOR at the registrar.
    query = await RegistrarQuery.open();
    const q = query;
    const bindings = await mapLimit(fleet.uas, 50, (ua) => q.query(ua.user, core.udp));
    const lost = bindings.filter((b) => b.status === 200 && b.contacts.length === 0).length;
    const unanswered = bindings.filter((b) => b.status !== 200).length;
    const stale = bindings.filter((b) => b.contacts.length > 1).length;
    t.equal(unanswered, 0, 'the registrar answered every query');
    t.equal(lost, 0, 'no AOR lost its binding');
    t.equal(stale, 0, 'no AOR kept the dead flow\'s binding next to the new one (same instance + reg-id replaced it)');
    const after = await edgeStatus(edges[1]!.metrics);
    t.equal(after.flowsOpen, UAS, 'edge 2 now holds every flow');

    report.set({
      bindingsLost: lost + unanswered,
      callsFailed: during.failed,
      callsFailedNote: `of ${during.attempted} calls placed during the recovery; sweep after: ${sweepFailed.length} of ${UAS} failed`,
      recoverySeconds,
      recoveryNote: 'kill → last of 500 UAs registered via edge 2 (UA reconnect jitter 0–1 s)',
    });
    report.detail('flowLossSeenMs', { p50: percentile(lossSeen, 50), max: Math.max(...lossSeen) });
    report.detail('reconnectToRegisteredMs', { p50: percentile(perUa, 50), p95: percentile(perUa, 95), max: Math.max(...perUa) });
    report.detail('callsDuringRecovery', during.summary());
    report.detail('sweep', { calls: UAS, failed: sweepFailed.length, setupP95Ms: percentile(sweep.filter((o) => o.ok).map((o) => o.setupMs!), 95) });
    report.detail('staleBindings', stale);
  } catch (err) {
    report.set({ error: (err as Error).message });
    throw err;
  }
});
