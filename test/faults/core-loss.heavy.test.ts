/**
 * Core loss under load. Two core processes share one Cassandra keyspace (the dev node, a keyspace
 * of this test's own); two edges forward to both, choosing a core per Call-ID. 200 simulated
 * browsers, 100 per edge, refresh their registrations at 50 REGISTER/s and call each other at
 * 5 calls/s (held 2 s, ended with BYE). Ten long calls are set up first whose Call-IDs hash to
 * core 1, so their BYE would go to core 1. Then core 1 is killed with SIGKILL.
 *
 * Expected: the edges mark core 1 down after two failed OPTIONS probes and move its traffic to
 * core 2 (requests core 1 never answered are re-sent there); no binding is lost (they live in
 * Cassandra, not in a core); the ten long calls end normally with a BYE that crosses core 2;
 * transactions that failed during the switch are counted, not hidden.
 */
import t from 'tap';
import { CorePool } from '../../edge/core-pool.js';
import { dropKeyspace, ensureCassandra, uniqueKeyspace } from '../helpers/cassandra.js';
import { mapLimit, percentile, seconds, sleep, waitUntil } from './fixtures/bounded.js';
import { pathEdge, storedBindings } from './fixtures/bindings.js';
import { RegisterLoad, WsCallLoad } from './fixtures/call-load.js';
import { FaultReport } from './fixtures/report.js';
import { coreArgs, edgeArgs, edgeStatus, Roles, twoCoresTwoEdges } from './fixtures/roles.js';
import { token } from './fixtures/sip-build.js';
import { UaFleet } from './fixtures/ua-fleet.js';
import { UdpCaller } from './fixtures/udp-caller.js';
import type { CallLeg } from './fixtures/ws-ua.js';

t.setTimeout(8 * 60_000);

const UAS = 200;
const REGISTER_RATE = 50;
const CALL_RATE = 5;
const LONG_CALLS = 10;
const { cores, edges, urls, coreId } = twoCoresTwoEdges(28100);

const cassandra = await ensureCassandra();
const keyspace = uniqueKeyspace('fault_core');
const roles = new Roles();
const report = new FaultReport(
  'Core loss',
  `${UAS} WS UAs on 2 edges, 2 cores + Cassandra; REGISTER ${REGISTER_RATE}/s, calls ${CALL_RATE}/s (2 s), ${LONG_CALLS} long calls`,
  'kill -9 core-1',
);
let fleet: UaFleet | undefined;
let caller: UdpCaller | undefined;

t.teardown(async () => {
  report.print(t.passing());
  fleet?.stop();
  caller?.close();
  await roles.stopAll();
  await dropKeyspace(cassandra, keyspace).catch(() => undefined);
});

t.test('edges move to the surviving core within seconds; no binding is lost; calls up before the kill end with BYE through the surviving core', async (t) => {
  try {
    const store = { store: 'cassandra' as const, cassandra: cassandra.contactPoint, dc: cassandra.localDataCenter, keyspace };
    // One after the other: the first creates the keyspace, the second finds it migrated.
    await roles.start('core-1', coreArgs({ ...cores[0]!, ...store }));
    await roles.start('core-2', coreArgs({ ...cores[1]!, ...store }));
    await Promise.all(edges.map((e, i) => roles.start(`edge-${i + 1}`, edgeArgs(e))));
    await waitUntil(async () => (await Promise.all(edges.map((e) => edgeStatus(e.metrics)))).every((s) => s.cores.every((c) => c.state === 'up')), {
      timeoutMs: 15_000,
      what: 'both edges to see both cores up',
    });

    fleet = new UaFleet({ prefix: 'cl', count: UAS, edges: urls, firstEdge: (i) => i % 2 });
    const reg = await fleet.registerAll(25);
    t.equal(reg.failed.length, 0, `all ${UAS} UAs registered`, { failed: reg.failed.slice(0, 5) });
    fleet.startKeepalives();
    const before = await storedBindings({ contactPoint: cassandra.contactPoint, dc: cassandra.localDataCenter, keyspace });
    const aorsBefore = new Set(before.map((b) => b.aor));
    t.equal(aorsBefore.size, UAS, `${UAS} AORs have a binding in Cassandra before the fault`);

    // Long calls whose Call-ID the edges hash to core 1: caller on edge 1, callee on edge 2, so the
    // BYE has to cross a core (two browsers on one edge talk through that edge alone).
    const pool = new CorePool(cores.map((c) => c.udp), { probeInterval: 1000, failureThreshold: 2 }, async () => true);
    const onCore1 = (): string => {
      for (let i = 0; i < 1000; i++) {
        const id = `${token(10)}@fault-long`;
        if (pool.pick(id)?.id === coreId(0)) return id;
      }
      throw new Error('no Call-ID hashing to core 1 in 1000 tries');
    };
    const e1 = fleet.onEdge(urls[0]!);
    const e2 = fleet.onEdge(urls[1]!);
    const longCalls: Array<{ leg: CallLeg; caller: (typeof e1)[number] }> = [];
    for (let i = 0; i < LONG_CALLS; i++) {
      const from = e1[i]!;
      const r = await from.call(e2[i]!.user, { callId: onCore1() });
      if (r.ok) longCalls.push({ leg: r.leg, caller: from });
      else t.fail(`long call ${i} not set up: ${r.reason}`);
    }
    t.equal(longCalls.length, LONG_CALLS, `${LONG_CALLS} long calls up, each with a Call-ID that maps to core 1`);

    const others = fleet.uas.filter((ua) => !longCalls.some((l) => l.caller === ua));
    const registers = new RegisterLoad(fleet.uas, { perSecond: REGISTER_RATE });
    const calls = new WsCallLoad(others, fleet.uas, { perSecond: CALL_RATE, holdMs: 2000 });
    await sleep(10_000);

    const killAt = Date.now();
    await roles.kill9('core-1');
    const detectedAfter: number[] = [];
    await Promise.all(
      edges.map(async (e) => {
        detectedAfter.push(
          await waitUntil(async () => (await edgeStatus(e.metrics)).cores.find((c) => c.core === coreId(0))?.state === 'down', {
            timeoutMs: 30_000,
            intervalMs: 100,
            what: 'the edge to mark core 1 down',
          }),
        );
      }),
    );
    const switchSeconds = seconds(Math.max(...detectedAfter));
    t.ok(Math.max(...detectedAfter) < 10_000, `both edges marked core 1 down within ${switchSeconds} s`);

    // Load continues on the surviving core; then the long calls end.
    await sleep(20_000);
    fleet.byes.clear();
    const byeResults = await Promise.all(longCalls.map(({ leg, caller: ua }) => ua.hangup(leg).then((r) => r.status, (e: Error) => e.message)));
    t.same(byeResults, longCalls.map(() => 200), 'every long call ends with 200 to its BYE');
    const crossed = longCalls.map(({ leg }) => fleet!.byes.get(leg.callId) ?? []);
    t.ok(
      crossed.every((vias) => vias.some((v) => v.includes(`:${cores[1]!.udp.port};`)) && !vias.some((v) => v.includes(`:${cores[0]!.udp.port};`))),
      'each BYE reached its callee through core 2, not core 1',
      { vias: crossed[0] },
    );

    await Promise.all([registers.stop(), calls.stop()]);
    const windowEnd = killAt + Math.max(...detectedAfter) + 32_000;
    const regFailedInSwitch = registers.stats.failedBetween(killAt - 2000, windowEnd);
    const callFailedInSwitch = calls.setup.failedBetween(killAt - 2000, windowEnd) + calls.teardown.failedBetween(killAt - 2000, windowEnd);
    t.equal(registers.stats.failed - regFailedInSwitch, 0, 'no REGISTER failed outside the switch window', { failures: registers.stats.failures.slice(0, 5) });
    t.equal(calls.setup.failed + calls.teardown.failed - callFailedInSwitch, 0, 'no call failed outside the switch window', {
      failures: [...calls.setup.failures, ...calls.teardown.failures].slice(0, 5),
    });
    t.ok(registers.stats.ok > REGISTER_RATE * 20, `the REGISTER load was held (${registers.stats.ok} refreshed)`);

    // Nothing lost: the same AORs are in the store, each pointing at a live edge.
    const after = await storedBindings({ contactPoint: cassandra.contactPoint, dc: cassandra.localDataCenter, keyspace });
    const aorsAfter = new Set(after.map((b) => b.aor));
    const lost = [...aorsBefore].filter((a) => !aorsAfter.has(a));
    t.equal(lost.length, 0, 'no binding was lost', { lost: lost.slice(0, 5) });
    t.equal(after.length, UAS, 'one binding per AOR, none duplicated');
    const edgeIds = new Set(edges.map((e) => `${e.udp.host}:${e.udp.port}`));
    t.ok(after.every((b) => edgeIds.has(pathEdge(b.path) ?? '')), 'every binding routes through a live edge');

    caller = await UdpCaller.open();
    const c = caller;
    const sweep = await mapLimit(fleet.uas, 20, (ua) => c.call(ua.user, cores[1]!.udp, { timeoutMs: 15_000 }));
    const sweepFailed = sweep.filter((o) => !o.ok);
    t.equal(sweepFailed.length, 0, `every UA is reachable through core 2 (${UAS} calls)`, { failures: sweepFailed.slice(0, 5) });

    report.set({
      bindingsLost: lost.length,
      callsFailed: callFailedInSwitch,
      callsFailedNote: `calls failed in the switch window (of ${calls.setup.attempted}); REGISTERs failed: ${regFailedInSwitch} of ${registers.stats.attempted}; long calls' BYE failed: ${byeResults.filter((s) => s !== 200).length} of ${LONG_CALLS}`,
      recoverySeconds: switchSeconds,
      recoveryNote: 'kill → both edges mark core-1 down (OPTIONS every 2 s, down after 2 failures); requests it never answered are re-sent to core-2',
    });
    report.detail('edgeDetectMs', detectedAfter);
    report.detail('register', { ...registers.stats.summary(), p99Ms: percentile(registers.stats.latencies, 99) });
    report.detail('callSetup', { ...calls.setup.summary(), p99Ms: percentile(calls.setup.latencies, 99) });
    report.detail('callTeardown', calls.teardown.summary());
    report.detail('failures', [...registers.stats.failures, ...calls.setup.failures, ...calls.teardown.failures].slice(0, 10).map((f) => ({ ...f, atMs: f.at - killAt })));
  } catch (err) {
    report.set({ error: (err as Error).message });
    throw err;
  }
});
