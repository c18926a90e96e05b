/**
 * Rolling restart under load: core 1, core 2, edge 1, edge 2, one after the other, each stopped
 * with SIGTERM and started again with the same arguments (same ports), while 200 simulated
 * browsers refresh registrations (20/s) and call each other (2/s, held 1 s). Cores share a
 * Cassandra keyspace of this test's own.
 *
 * Expected: every UA of a stopping edge reconnects to the other edge and registers again; at the
 * end zero bindings are lost, each binding points at the edge its UA is connected to, and a call
 * to every UA succeeds. Transactions that failed while a node restarted are counted and reported.
 */
import t from 'tap';
import { dropKeyspace, ensureCassandra, uniqueKeyspace } from '../helpers/cassandra.js';
import { mapLimit, percentile, seconds, sleep, waitUntil } from './fixtures/bounded.js';
import { pathEdge, storedBindings } from './fixtures/bindings.js';
import { RegisterLoad, WsCallLoad } from './fixtures/call-load.js';
import { FaultReport } from './fixtures/report.js';
import { coreArgs, edgeArgs, edgeStatus, Roles, twoCoresTwoEdges } from './fixtures/roles.js';
import { UaFleet } from './fixtures/ua-fleet.js';
import { UdpCaller } from './fixtures/udp-caller.js';
import type { CallLeg, WsUa } from './fixtures/ws-ua.js';

t.setTimeout(8 * 60_000);

const UAS = 200;
const REGISTER_RATE = 20;
const CALL_RATE = 2;
const LONG_CALLS = 10;
const { cores, edges, urls, coreId } = twoCoresTwoEdges(28300);

const cassandra = await ensureCassandra();
const keyspace = uniqueKeyspace('fault_roll');
const roles = new Roles();
const report = new FaultReport(
  'Rolling restart',
  `${UAS} WS UAs on 2 edges, 2 cores + Cassandra; REGISTER ${REGISTER_RATE}/s, calls ${CALL_RATE}/s (1 s)`,
  'SIGTERM + restart (same ports): core-1, core-2, edge-1, edge-2, in turn',
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

const allEdgesSee = async (core: number, state: string): Promise<boolean> =>
  (await Promise.all(edges.map((e) => edgeStatus(e.metrics).catch(() => undefined)))).every((s) => s?.cores.find((c) => c.core === coreId(core))?.state === state);

t.test('every node restarted in turn under load: zero bindings lost, every UA reachable at the end', async (t) => {
  try {
    const store = { store: 'cassandra' as const, cassandra: cassandra.contactPoint, dc: cassandra.localDataCenter, keyspace };
    await roles.start('core-1', coreArgs({ ...cores[0]!, ...store }));
    await roles.start('core-2', coreArgs({ ...cores[1]!, ...store }));
    await Promise.all(edges.map((e, i) => roles.start(`edge-${i + 1}`, edgeArgs(e))));
    await waitUntil(async () => (await allEdgesSee(0, 'up')) && (await allEdgesSee(1, 'up')), { timeoutMs: 15_000, what: 'both edges to see both cores up' });

    fleet = new UaFleet({ prefix: 'rr', count: UAS, edges: urls, firstEdge: (i) => i % 2 });
    const reg = await fleet.registerAll(25);
    t.equal(reg.failed.length, 0, `all ${UAS} UAs registered`, { failed: reg.failed.slice(0, 5) });
    t.ok(fleet.uas.every((ua) => ua.hasGruu), 'every UA got a public GRUU (RFC 5627) and uses it as its dialog Contact');
    fleet.startKeepalives();
    const f = fleet;

    // Long calls, up across the whole rolling restart, half each way between the edges: both of
    // their ends move (every edge restarts), and the BYE at the end must still find the callee.
    const longCalls: Array<{ leg: CallLeg; caller: WsUa; calleeFirstEdge: number }> = [];
    for (let i = 0; i < LONG_CALLS; i++) {
      const from = f.uas[2 * i + (i % 2)]!;
      const to = f.uas[UAS - 1 - 2 * i - (i % 2)]!;
      const r = await from.call(to.user);
      if (r.ok) longCalls.push({ leg: r.leg, caller: from, calleeFirstEdge: urls.indexOf(to.edge) });
      else t.fail(`long call ${i} not set up: ${r.reason}`);
    }
    t.equal(longCalls.length, LONG_CALLS, `${LONG_CALLS} long calls up, callees on both edges`);
    t.ok(new Set(longCalls.map((l) => l.calleeFirstEdge)).size === 2, 'callees of the long calls start on both edges');

    const loadStarted = Date.now();
    const registers = new RegisterLoad(f.uas, { perSecond: REGISTER_RATE });
    const calls = new WsCallLoad(f.uas, f.uas, { perSecond: CALL_RATE, holdMs: 1000 });
    await sleep(5000);

    const steps: Array<Record<string, unknown>> = [];
    const began = Date.now();
    for (const [name, kind, index] of [['core-1', 'core', 0], ['core-2', 'core', 1], ['edge-1', 'edge', 0], ['edge-2', 'edge', 1]] as const) {
      const at = Date.now();
      const onIt = kind === 'edge' ? f.onEdge(urls[index]!).length : undefined;
      await roles.stop(name);
      const stoppedMs = Date.now() - at;
      await roles.start(name);
      const startedMs = Date.now() - at;
      if (kind === 'core') {
        await waitUntil(() => allEdgesSee(index, 'up'), { timeoutMs: 30_000, what: `both edges to see ${name} up again` });
      } else {
        await waitUntil(() => f.recovering === 0 && f.readyCount === UAS, { timeoutMs: 60_000, what: `the UAs of ${name} to register again elsewhere` });
      }
      const serviceMs = Date.now() - at;
      steps.push({ node: name, stopMs: stoppedMs, upAgainMs: startedMs, serviceMs, ...(onIt !== undefined ? { uasMoved: onIt } : {}) });
      t.pass(`${name}: stopped in ${seconds(stoppedMs)} s, running again after ${seconds(startedMs)} s, full service after ${seconds(serviceMs)} s${onIt !== undefined ? ` (${onIt} UAs moved)` : ''}`);
      await sleep(3000);
    }
    const rollingSeconds = seconds(Date.now() - began);
    await Promise.all([registers.stop(), calls.stop()]);
    const loadSeconds = (Date.now() - loadStarted) / 1000;

    const longByes = await Promise.all(longCalls.map(async (l) => ({ ...l, status: await l.caller.hangup(l.leg).then((r) => r.status, (e: Error) => e.message) })));
    const longFailed = longByes.filter((l) => l.status !== 200);
    report.detail('longCallByes', longByes.map((l) => ({ callee: l.leg.to, calleeFirstEdge: `edge-${l.calleeFirstEdge + 1}`, status: l.status })));
    t.equal(longFailed.length, 0, 'every call that was up during the whole rolling restart ends with 200 to its BYE', {
      failed: longFailed.map((l) => ({ calleeFirstEdge: `edge-${l.calleeFirstEdge + 1}`, status: l.status })),
    });

    t.equal(f.gaveUp.length, 0, 'no UA gave up reconnecting');
    t.equal(f.readyCount, UAS, 'every UA is connected and registered at the end');
    // The load ran for as long as the restarts took (faster machines, shorter runs): what counts is
    // that it kept its rate throughout, not a fixed total.
    t.ok(registers.stats.ok >= REGISTER_RATE * loadSeconds * 0.9, `the REGISTER load was held (${registers.stats.ok} refreshed in ${loadSeconds.toFixed(1)} s at ${REGISTER_RATE}/s)`);

    const after = await storedBindings({ contactPoint: cassandra.contactPoint, dc: cassandra.localDataCenter, keyspace });
    const byAor = new Map(after.map((b) => [b.aor, b]));
    const lost = f.uas.filter((ua) => !byAor.has(ua.aor)).length;
    t.equal(lost, 0, 'zero bindings lost');
    t.equal(after.length, UAS, 'one binding per AOR');
    const edgeOf = new Map(edges.map((e, i) => [urls[i]!, `${e.udp.host}:${e.udp.port}`]));
    const misrouted = f.uas.filter((ua) => pathEdge(byAor.get(ua.aor)?.path ?? []) !== edgeOf.get(ua.edge)).length;
    t.equal(misrouted, 0, "every binding's Path names the edge its UA is connected to now");

    caller = await UdpCaller.open();
    const c = caller;
    const sweep = await mapLimit(f.uas, 20, (ua, i) => c.call(ua.user, cores[i % 2]!.udp, { timeoutMs: 15_000 }));
    const sweepFailed = sweep.filter((o) => !o.ok);
    t.equal(sweepFailed.length, 0, `every UA is reachable at the end (${UAS} calls through both cores)`, { failures: sweepFailed.slice(0, 5) });

    const callFailures = calls.setup.failed + calls.teardown.failed;
    report.set({
      bindingsLost: lost,
      callsFailed: callFailures + longFailed.length,
      callsFailedNote: `calls failed during the restarts (setup ${calls.setup.failed}/${calls.setup.attempted}, BYE ${calls.teardown.failed}/${calls.teardown.attempted}); long calls' BYE failed: ${longFailed.length} of ${LONG_CALLS}; REGISTERs failed: ${registers.stats.failed} of ${registers.stats.attempted}; sweep after: ${sweepFailed.length} of ${UAS}`,
      recoverySeconds: seconds(Math.max(...steps.map((s) => s.serviceMs as number))),
      recoveryNote: `slowest step, SIGTERM → full service; whole rolling restart ${rollingSeconds} s (3 s pause between steps)`,
    });
    report.detail('steps', steps);
    report.detail('register', { ...registers.stats.summary(), p99Ms: percentile(registers.stats.latencies, 99) });
    report.detail('callSetup', { ...calls.setup.summary(), p99Ms: percentile(calls.setup.latencies, 99) });
    report.detail('callTeardown', calls.teardown.summary());
    report.detail('failures', [...registers.stats.failures, ...calls.setup.failures, ...calls.teardown.failures].slice(0, 12).map((x) => ({ ...x, atMs: x.at - began })));
  } catch (err) {
    report.set({ error: (err as Error).message });
    throw err;
  }
});
