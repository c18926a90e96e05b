/**
 * Datacenter cut. Two DCs, each a network namespace (sfdc1, sfdc2; see fixtures/dc-net.ts) holding
 * its two Cassandra nodes (the seed's 2x2 ring: offset mirror tokens, keyspace {DC1:1, DC2:1}), one
 * core reading and writing its own DC at LOCAL_ONE, and one edge. Simulated browsers in the root
 * namespace register through their DC's edge; the namespaces reach each other only over one veth,
 * and the cut is two iptables DROP rules between the DC subnets inside sfdc1.
 *
 * Expected, and asserted:
 *  - during the cut, calls between UAs of the same DC succeed in both DCs and REGISTERs keep
 *    working in both (LOCAL_ONE: a DC never waits on the other);
 *  - UAs that first register during the cut are written on their side only: the other DC's core
 *    cannot see them yet;
 *  - cross-DC calls fail cleanly: a final error response, or at worst the caller's own transaction
 *    timeout, never a hang;
 *  - after the rules are deleted, within a bounded wait, a registrar query (RFC 3261 §10.2.3)
 *    through EACH DC's core returns every AOR registered on either side, including those written
 *    during the cut (Cassandra hinted handoff), and cross-DC calls work again.
 * Everything started is stopped at the end, also on failure: roles and JVMs by pid, then the
 * namespaces (with their veths and rules) are deleted.
 */
import t from 'tap';
import { cassandraHome } from '../../deploy/cassandra/paths.js';
import { clusterStatus, startCluster, stopCluster } from '../../deploy/cassandra/cluster.js';
import { namespacedRing } from '../../deploy/cassandra/topology.js';
import { mapLimit, percentile, seconds, sleep, waitUntil, within } from './fixtures/bounded.js';
import { RegistrarQuery } from './fixtures/bindings.js';
import { OpStats, RegisterLoad, WsCallLoad } from './fixtures/call-load.js';
import { onInterrupt } from './fixtures/cleanup.js';
import { DC_SITES, DcNetwork, type DcSite } from './fixtures/dc-net.js';
import { FaultReport } from './fixtures/report.js';
import { coreArgs, edgeArgs, Roles, type Endpoint, type EdgeSpec } from './fixtures/roles.js';
import { UaFleet } from './fixtures/ua-fleet.js';
import type { CallResult, WsUa } from './fixtures/ws-ua.js';

t.setTimeout(18 * 60_000);

const PER_DC = 50;
const LATE_PER_DC = 10;
const REGISTER_RATE = 20;
const CALLS_PER_DC = 1;
const HOLD_MS = 1000;
const CUT_MS = 45_000;
/** Cross-DC calls placed during the cut, per direction, to UAs registered before it. */
const CROSS_DURING = 4;
/** Longer than the cores' Timer B (64*T1 = 32 s), so a core's own 408 is seen, not the UA giving up. */
const UA_TIMEOUT_MS = 45_000;
const HEAL_TIMEOUT_MS = 180_000;

const SIP_PORT = 5060;
const EDGE_WS = 5066;
const EDGE_UDP = 5070;
// Metrics on each namespace's own loopback, in this test's port range all the same.
const local = (port: number): Endpoint => ({ host: '127.0.0.1', port });
const coreOf = (s: DcSite): Endpoint => ({ host: s.core, port: SIP_PORT });
/**
 * Each edge forwards to its own DC's core only and accepts requests from the other DC's core as a
 * peer (`--peer-core`): the core that delivers a cross-DC call sends it straight to the callee's
 * edge (the Path), and an edge takes requests over UDP only from cores it knows ("unknown-peer").
 */
const edgeOf = (s: DcSite): EdgeSpec => ({
  ws: { host: s.edge, port: EDGE_WS },
  udp: { host: s.edge, port: EDGE_UDP },
  metrics: local(28602),
  cores: [coreOf(s)],
  peerCores: DC_SITES.filter((o) => o !== s).map(coreOf),
});
const urls = DC_SITES.map((s) => `ws://${s.edge}:${EDGE_WS}`);
const keyspace = `fault_dccut_${Date.now().toString(36)}`;

const ring = namespacedRing({
  namePrefix: 'dccut',
  clusterName: 'sipflow-dccut',
  dcs: DC_SITES.map((s) => ({ netns: s.netns, ips: s.cassandra })),
});
const progress = (l: string) => process.stderr.write(`[ring] ${l}\n`);

const roles = new Roles();
const report = new FaultReport(
  'Datacenter cut',
  `2 DCs (network namespaces), each 2 Cassandra nodes {DC1:1, DC2:1} LOCAL_ONE + 1 core + 1 edge; ${2 * PER_DC} WS UAs, REGISTER ${REGISTER_RATE}/s, same-DC calls ${CALLS_PER_DC}/s per DC`,
  `iptables DROP between the DC subnets (INPUT rule inside each DC namespace) for ${CUT_MS / 1000} s, then deleted`,
);
let net: DcNetwork | undefined;
let fleet: UaFleet | undefined;
let late: UaFleet | undefined;
const queries: RegistrarQuery[] = [];

let cleaning: Promise<void> | undefined;
/** Heal, stop roles and JVMs by pid, delete the namespaces: once, bounded, whatever failed before. */
const cleanup = (): Promise<void> =>
  (cleaning ??= (async () => {
    fleet?.stop();
    late?.stop();
    for (const q of queries) q.close();
    try {
      net?.heal();
    } catch (err) {
      process.stderr.write(`[dc-cut] heal failed: ${(err as Error).message}\n`);
    }
    await within(roles.stopAll(), 30_000, 'stop roles').catch((e: Error) => process.stderr.write(`[dc-cut] ${e.message}\n`));
    await within(stopCluster({ nodes: ring, graceMs: 20_000, progress }), 150_000, 'stop ring').catch((e: Error) => process.stderr.write(`[dc-cut] ${e.message}\n`));
    DcNetwork.destroy();
  })());
onInterrupt(cleanup);

t.teardown(async () => {
  report.print(t.passing());
  await cleanup();
  // A driver client stuck in reconnection backoff must not keep this process alive.
  setTimeout(() => process.exit(), 10_000).unref();
});

interface CrossCall {
  from: string;
  to: string;
  result: CallResult;
}

/** A call that must end by itself (success or not) within the UA's deadline; a successful one is hung up. */
async function call(caller: WsUa, callee: WsUa): Promise<CrossCall> {
  const result = await caller.call(callee.user);
  if (result.ok) await caller.hangup(result.leg).catch(() => undefined);
  return { from: caller.user, to: callee.user, result };
}

const describe = (calls: CrossCall[]): Record<string, number> => {
  const kinds: Record<string, number> = {};
  for (const c of calls) {
    const k = c.result.ok ? 'ok' : c.result.status !== undefined ? String(c.result.status) : 'no final response';
    kinds[k] = (kinds[k] ?? 0) + 1;
  }
  return kinds;
};

t.test('a datacenter cut: each DC keeps registering and calling its own users; after healing both DCs see every registration', async (t) => {
  try {
    net = DcNetwork.create();
    t.pass('namespaces sfdc1, sfdc2 joined by one link; the root namespace does not forward between them');

    const ringStart = Date.now();
    const started = await startCluster({ nodes: ring, fresh: true, timeoutMs: 300_000, progress });
    const status = await clusterStatus({ nodes: ring });
    t.ok(status.length === 4 && status.every((n) => n.running && n.cql), `4 Cassandra nodes run inside the namespaces and answer CQL (${seconds(Date.now() - ringStart)} s, ${started.install.version})`);
    report.detail('ringStartSeconds', seconds(Date.now() - ringStart));

    // One core after the other: the first creates the keyspace, the second finds it.
    for (const s of DC_SITES) {
      const args = coreArgs({
        udp: coreOf(s),
        metrics: local(28601),
        store: 'cassandra',
        cassandra: s.cassandra.map((ip) => `${ip}:9042`).join(','),
        dc: `DC${s.index}`,
        keyspace,
        replication: 'DC1:1,DC2:1',
        consistency: 'LOCAL_ONE',
        // Both edges (the other DC's edge holds flows this core may reach), and the registrar queries from the root namespace.
        trusted: [...DC_SITES.map((o) => o.edge), s.rootHost].join(','),
      });
      await roles.start(`core-dc${s.index}`, args, { netns: s.netns });
    }
    await Promise.all(DC_SITES.map((s) => roles.start(`edge-dc${s.index}`, edgeArgs(edgeOf(s)), { netns: s.netns })));
    for (const s of DC_SITES) queries.push(await RegistrarQuery.open(s.rootHost));
    const [q1, q2] = queries as [RegistrarQuery, RegistrarQuery];
    const queryBoth = (user: string, timeoutMs = 5000) => Promise.all([q1.query(user, coreOf(DC_SITES[0]), timeoutMs), q2.query(user, coreOf(DC_SITES[1]), timeoutMs)]);

    fleet = new UaFleet({ prefix: 'dc-', count: 2 * PER_DC, edges: urls, firstEdge: (i) => (i < PER_DC ? 0 : 1), ua: { transactionTimeoutMs: UA_TIMEOUT_MS } });
    const reg = await fleet.registerAll(20);
    t.equal(reg.failed.length, 0, `all ${2 * PER_DC} UAs registered, ${PER_DC} through each DC's edge`, { failed: reg.failed.slice(0, 5) });
    fleet.startKeepalives();
    const dc = [fleet.uas.slice(0, PER_DC), fleet.uas.slice(PER_DC)] as const;

    // Replication works before the cut: both cores see every AOR.
    const visibleEverywhere = async (uas: readonly WsUa[]): Promise<string[]> => {
      const missing: string[] = [];
      await mapLimit(uas, 10, async (ua) => {
        const [a, b] = await queryBoth(ua.user);
        if (a.status !== 200 || a.contacts.length === 0 || b.status !== 200 || b.contacts.length === 0) missing.push(ua.user);
      });
      return missing;
    };
    await waitUntil(async () => (await visibleEverywhere(fleet!.uas)).length === 0, { timeoutMs: 30_000, intervalMs: 1000, what: 'both cores to see every AOR before the cut' });
    t.pass('before the cut, a registrar query through either core returns every AOR');
    const crossBefore = await Promise.all([call(dc[0][0]!, dc[1][0]!), call(dc[1][1]!, dc[0][1]!)]);
    t.ok(crossBefore.every((c) => c.result.ok), 'before the cut, cross-DC calls connect in both directions', { kinds: describe(crossBefore) });
    t.ok(await DcNetwork.tcpReachable(DC_SITES[0].netns, DC_SITES[1].cassandra[0]!, 7000), 'DC1 reaches DC2\'s Cassandra storage port before the cut');

    // Steady load: REGISTER refreshes from everyone, calls inside each DC (first half calls second half).
    const regLoad = new RegisterLoad(fleet.uas, { perSecond: REGISTER_RATE });
    const callLoads = dc.map((uas) => new WsCallLoad(uas.slice(0, PER_DC / 2), uas.slice(PER_DC / 2), { perSecond: CALLS_PER_DC, holdMs: HOLD_MS }));
    await sleep(5000);

    // ---- the cut --------------------------------------------------------------------------------
    const cutAt = Date.now();
    net.cut();
    const [reach12, reach21] = await Promise.all([
      DcNetwork.tcpReachable(DC_SITES[0].netns, DC_SITES[1].cassandra[0]!, 7000, 2),
      DcNetwork.tcpReachable(DC_SITES[1].netns, DC_SITES[0].cassandra[0]!, 9042, 2),
    ]);
    t.notOk(reach12, 'the cut holds: DC1 cannot reach DC2\'s Cassandra');
    t.notOk(reach21, 'nor DC2 DC1\'s');

    // New users register on each side during the cut.
    late = new UaFleet({ prefix: 'dc-late-', count: 2 * LATE_PER_DC, edges: urls, firstEdge: (i) => (i < LATE_PER_DC ? 0 : 1), ua: { transactionTimeoutMs: UA_TIMEOUT_MS } });
    const lateReg = await late.registerAll(10);
    t.equal(lateReg.failed.length, 0, `${2 * LATE_PER_DC} new UAs registered during the cut, ${LATE_PER_DC} in each DC`, { failed: lateReg.failed.slice(0, 3) });
    const lateDc = [late.uas.slice(0, LATE_PER_DC), late.uas.slice(LATE_PER_DC)] as const;
    const ownSide = await mapLimit(late.uas, 10, (ua, i) => queries[i < LATE_PER_DC ? 0 : 1]!.query(ua.user, coreOf(DC_SITES[i < LATE_PER_DC ? 0 : 1]), 5000));
    const otherSide = await mapLimit(late.uas, 10, (ua, i) => queries[i < LATE_PER_DC ? 1 : 0]!.query(ua.user, coreOf(DC_SITES[i < LATE_PER_DC ? 1 : 0]), 5000));
    t.ok(ownSide.every((b) => b.status === 200 && b.contacts.length === 1), 'each was written in its own DC: its core returns the binding', { statuses: ownSide.map((b) => `${b.status}/${b.contacts.length}`) });
    t.ok(
      otherSide.every((b) => b.status === 200 && b.contacts.length === 0),
      'and not (yet) in the other DC: the cut really separates the two replicas',
      { statuses: otherSide.map((b) => `${b.status}/${b.contacts.length}`) },
    );

    // Cross-DC calls during the cut: to users registered before it (the caller's DC still holds
    // their binding, pointing at the unreachable edge) and to users registered during it (unknown).
    const crossStart = Date.now();
    const cross = await Promise.all([
      ...Array.from({ length: CROSS_DURING }, (_, i) => call(dc[0][PER_DC / 2 - 1 - i]!, dc[1][PER_DC - 1 - i]!)),
      ...Array.from({ length: CROSS_DURING }, (_, i) => call(dc[1][PER_DC / 2 - 1 - i]!, dc[0][PER_DC - 1 - i]!)),
      call(dc[0][0]!, lateDc[1][0]!),
      call(dc[1][0]!, lateDc[0][0]!),
    ]);
    const crossMs = cross.map((c) => c.result.ok ? c.result.leg.setupMs : c.result.ms);
    t.equal(cross.filter((c) => c.result.ok).length, 0, `no cross-DC call connected during the cut (${cross.length} tried)`, { kinds: describe(cross) });
    t.ok(Math.max(...crossMs) <= UA_TIMEOUT_MS + 2000, `every cross-DC call ended by itself, the slowest after ${seconds(Math.max(...crossMs))} s (no hang)`);
    const answered = cross.filter((c) => !c.result.ok && c.result.status !== undefined);
    t.equal(answered.length, cross.length, 'each got a final error response from the cluster (not just the caller giving up)', { kinds: describe(cross) });
    t.ok(Date.now() - crossStart < UA_TIMEOUT_MS + 5000, 'the cross-DC calls were all over within the UA deadline');

    // Keep the cut long enough for both DCs' gossip to convict the other's nodes.
    await sleep(Math.max(0, cutAt + CUT_MS - Date.now()));
    const dropped = net.droppedPackets();
    t.ok(Object.values(dropped).every((n) => n > 0), `the cut's rules dropped packets in both directions (${JSON.stringify(dropped)})`);

    // ---- heal -----------------------------------------------------------------------------------
    const healAt = Date.now();
    net.heal();
    const everyone = [...fleet.uas, ...late.uas];
    let stillMissing: string[] = everyone.map((u) => u.user);
    let healMs: number | undefined;
    try {
      healMs = await waitUntil(
        async () => {
          stillMissing = await visibleEverywhere(everyone.filter((u) => stillMissing.includes(u.user)));
          return stillMissing.length === 0;
        },
        { timeoutMs: HEAL_TIMEOUT_MS, intervalMs: 1000, what: 'both cores to return every AOR registered on either side' },
      );
    } catch (err) {
      t.fail((err as Error).message, { missing: stillMissing.slice(0, 10) });
    }
    if (healMs !== undefined) t.pass(`after healing, a registrar query through each DC's core returns all ${everyone.length} AORs, the ${2 * LATE_PER_DC} written during the cut included, ${seconds(healMs)} s after the rules were deleted`);

    const crossAfter = await Promise.all([
      ...Array.from({ length: 3 }, (_, i) => call(dc[0][i + 1]!, dc[1][PER_DC / 2 + i]!)),
      ...Array.from({ length: 3 }, (_, i) => call(dc[1][i + 1]!, dc[0][PER_DC / 2 + i]!)),
      ...Array.from({ length: 3 }, (_, i) => call(dc[0][i + 4]!, lateDc[1][i + 1]!)),
      ...Array.from({ length: 3 }, (_, i) => call(dc[1][i + 4]!, lateDc[0][i + 1]!)),
    ]);
    t.ok(crossAfter.every((c) => c.result.ok), `after healing, cross-DC calls connect again in both directions, to old and new users (${crossAfter.length})`, { kinds: describe(crossAfter) });

    await sleep(3000);
    await Promise.all([regLoad.stop(), ...callLoads.map((l) => l.stop())]);
    const endAt = Date.now();

    // What users of each DC saw while it was cut off from the other.
    const inCut = (s: OpStats) => s.failures.filter((f) => f.at >= cutAt && f.at < healAt);
    // A same-DC call never leaves its DC (the edge forwards to its own DC's core only, which reads
    // its own DC's replicas): no same-DC call may fail, the ones in setup at the instant of the cut
    // included.
    for (const [i, l] of callLoads.entries()) {
      t.ok(l.setup.attempted >= 20, `DC${i + 1}: ${l.setup.attempted} same-DC calls placed over the run`);
      t.equal(l.setup.failures.length, 0, `DC${i + 1}: every same-DC call connected, before, during and after the cut`, { failures: l.setup.failures.slice(0, 3) });
      t.equal(l.teardown.failed, 0, `DC${i + 1}: every same-DC call ended with a 2xx to its BYE, during the cut too`, { failures: l.teardown.failures.slice(0, 3) });
    }
    t.equal(regLoad.stats.failed, 0, `every REGISTER refresh succeeded, in both DCs, during the cut too (${regLoad.stats.attempted})`, { failures: regLoad.stats.failures.slice(0, 3) });
    t.ok(regLoad.stats.attempted >= ((endAt - cutAt) / 1000) * REGISTER_RATE * 0.5, 'the REGISTER load was actually held');

    const sameDcFailedInCut = callLoads.reduce((n, l) => n + inCut(l.setup).length + inCut(l.teardown).length, 0);
    const runCalls = callLoads.reduce((n, l) => n + l.setup.attempted, 0);
    report.set({
      bindingsLost: stillMissing.length,
      callsFailed: sameDcFailedInCut + inCut(regLoad.stats).length,
      callsFailedNote:
        `same-DC calls failed during the cut: ${sameDcFailedInCut}, of ${runCalls} placed over the run (slowest setup ${Math.max(...callLoads.flatMap((l) => l.setup.latencies))} ms); ` +
        `REGISTERs failed: ${inCut(regLoad.stats).length} during the cut (${regLoad.stats.failed} of ${regLoad.stats.attempted} over the run, max ${Math.max(...regLoad.stats.latencies)} ms); ` +
        `new UAs registered during the cut: ${2 * LATE_PER_DC - lateReg.failed.length}/${2 * LATE_PER_DC}; ` +
        `cross-DC calls during the cut (expected to fail): ${cross.filter((c) => !c.result.ok).length} of ${cross.length} failed cleanly (${Object.entries(describe(cross)).map(([k, v]) => `${v}× ${k}`).join(', ')}; slowest ${seconds(Math.max(...crossMs))} s)`,
      recoverySeconds: healMs === undefined ? null : seconds(healMs),
      recoveryNote: 'rules deleted → a registrar query through each DC\'s core returns every AOR of both sides (gossip reconnects, hints replay)',
    });
    report.detail('crossDuringCut', cross.map((c) => ({ from: c.from, to: c.to, status: c.result.ok ? 200 : (c.result.status ?? null), ms: c.result.ok ? c.result.leg.setupMs : c.result.ms })));
    report.detail('register', { ...regLoad.stats.summary(), p99Ms: percentile(regLoad.stats.latencies, 99) });
    report.detail('sameDcCalls', callLoads.map((l) => ({ ...l.setup.summary(), p99Ms: percentile(l.setup.latencies, 99) })));
    report.detail('droppedPackets', dropped);
    report.detail('cassandraHome', cassandraHome());
  } catch (err) {
    report.set({ error: (err as Error).message });
    throw err;
  }
});
