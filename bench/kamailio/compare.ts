/**
 * sipflow side by side with Kamailio 5.6 doing the same job, in one run (`npm run bench --
 * kamailio`), with the project's own load generator (bench/loadgen/) on loopback.
 *
 * Scenarios (`npm run bench -- <scenario>...`, or env SIPFLOW_BENCH_SCENARIOS, comma-separated;
 * default all):
 *   register      REGISTER over WebSocket, closed loop: two edges + core vs Kamailio's two WS listeners
 *   register-2cores  the same with two core processes (both CPUs used by sipflow's servers)
 *   calls         WS↔WS calls (INVITE/180/200/ACK/BYE), callers on one edge, callees on the other
 *   idle          idle registered WebSocket flows: memory per flow (PSS and RSS) of all server processes
 *   udp-register  REGISTER over UDP to the core alone vs Kamailio's UDP listener
 *   udp-calls     UDP↔UDP calls through the core alone vs Kamailio
 *   cassandra     the register scenario with `--store cassandra` (Kamailio keeps usrloc in memory)
 *   floor         the register load against servers that do no SIP at all (floor-node.ts): uWS echo
 *                 (one hop, as Kamailio) and uWS → TCP → answer → uWS (sipflow's two hops). What
 *                 the sockets alone cost per REGISTER on this machine, next to Kamailio's whole cost
 *   profile       the register scenario once more under `node --cpu-prof`: top costs by self time
 *                 (SIPFLOW_BENCH_PROFILE=calls profiles the calls scenario instead)
 *
 * The load generator was the limit when Kamailio was measured before, so the figures compared are
 * server CPU per operation (utime + stime of every server process from /proc, over the measured
 * phase only) and memory per flow, not only rates. Each case runs SIPFLOW_BENCH_REPS times (3),
 * alternating which system goes first, every repetition on freshly started servers; the table
 * shows medians. Other knobs: SIPFLOW_BENCH_SECONDS (6), SIPFLOW_BENCH_WARMUP (6 s, unmeasured: V8 on
 * two shared cores takes seconds to compile the hot paths), SIPFLOW_BENCH_UAS (100 REGISTER UAs),
 * SIPFLOW_BENCH_PAIRS (50 call pairs), SIPFLOW_BENCH_FLOWS (10000,50000 idle flows; a count past
 * what one process may hold is split, see idleSplit()), SIPFLOW_BENCH_FLOWS_PER_PROCESS (the
 * `ulimit -n` hard limit less 1000), SIPFLOW_BENCH_WORKERS (1 load-generator thread),
 * SIPFLOW_BENCH_CORE_TRANSPORT (tcp: how sipflow's edges reach its cores; udp is the other choice),
 * SIPFLOW_BENCH_IDLE_HOLD (35 s: idle flows are held past Timer J before memory is read),
 * SIPFLOW_BENCH_WRITE=0 (do not touch BENCHMARKS.md; =1 writes it after a run of some scenarios
 * too, which by default leaves it alone), SIPFLOW_BENCH_HEAP_SNAPSHOTS=<dir> (idle: the
 * sipflow nodes write a V8 heap snapshot at each memory reading).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoadGenerator, type LoadPlan, type LoadResult } from '../loadgen/load-generator.js';
import { summarizeProfiles, type ProfileSummary } from './cpu-profile.js';
import { cpuSeconds, loadAverage, machineCpu, memoryOf, nofileLimits, totalCpuSeconds, udpReceiveBufferErrors } from './proc-stats.js';
import { DOMAIN, ensureKamailio, hookCleanup, PORTS, ROOT, startFloor, startKamailio, startSipflow, unhookCleanup, type ServerSet } from './servers.js';

type System = 'sipflow' | 'kamailio';
export const SCENARIOS = ['register', 'register-2cores', 'calls', 'idle', 'udp-register', 'udp-calls', 'cassandra', 'floor', 'profile'] as const;
/** Names that select several scenarios. */
export const SCENARIO_GROUPS: Readonly<Record<string, readonly string[]>> = { udp: ['udp-register', 'udp-calls'], all: SCENARIOS };
type Scenario = (typeof SCENARIOS)[number];

export interface Settings {
  scenarios: Scenario[];
  reps: number;
  seconds: number;
  warmupSeconds: number;
  /** How long idle flows are held before the memory reading. */
  idleHoldSeconds: number;
  uas: number;
  pairs: number;
  flows: number[];
  /** Idle flows one process (load generator, edge, Kamailio instance) is given at most. */
  flowsPerProcess: number;
  workers: number;
  /** How sipflow's edges reach its cores. */
  coreTransport: 'udp' | 'tcp';
  write: boolean;
}

/** One measured phase of one system. */
export interface Sample {
  rate: number;
  p50: number;
  p99: number;
  /** Server CPU per operation, µs (all server processes). */
  cpuUs: number;
  /** Per-role CPU per operation, µs (sipflow: core, edges). */
  roleCpuUs: Record<string, number>;
  /** Cassandra JVM CPU per operation, µs (cassandra scenario). */
  cassandraCpuUs?: number;
  ops: number;
  errors: number;
  failures: Record<string, number>;
  errorSamples: string[];
  warnings: Record<string, number>;
  /** Answers that came again for a finished transaction, and the callees' 2xx retransmissions. */
  duplicates: number;
  retransmits: number;
  /** UDP datagrams dropped on full receive buffers during the phase (whole machine). */
  udpDrops: number;
  /** Load generator (this process) CPU per operation, µs. */
  clientCpuUs: number;
  /** Share of the machine's two cores busy with anything else during the phase. */
  otherLoad: number;
}

export interface MemorySample {
  flows: number;
  registered: number;
  /** WebSocket listeners the flows were spread over (sipflow: one per edge; Kamailio: two per instance). */
  listeners: number;
  pssPerFlowKiB: number;
  rssPerFlowKiB: number;
  /** Before the garbage collection the sipflow nodes are asked for (equal for Kamailio). */
  pssPerFlowBeforeGcKiB: number;
  pssBeforeKiB: number;
  pssAfterKiB: number;
  /** PSS per flow by role (sipflow: core, edges). */
  rolePssPerFlowKiB: Record<string, number>;
  /** sipflow: V8's live heap per flow by role after the GC (what JavaScript objects hold), KiB. */
  roleHeapPerFlowKiB: Record<string, number>;
  errors: number;
  setupSeconds: number;
  /** Server CPU per flow opened and registered (WebSocket upgrade + first REGISTER), µs. */
  setupCpuUsPerFlow: number;
}

export interface Row {
  label: string;
  sipflow: number | undefined;
  kamailio: number | undefined;
  unit: string;
  /** Lower is better (CPU, latency, memory) or higher (rates). */
  better: 'lower' | 'higher';
  note?: string;
}

export interface ComparisonReport {
  date: string;
  commit: string;
  command: string;
  settings: Settings;
  machine: { loadBefore: string; loadAfter: string; otherLoadMedian: number | undefined; nofile: number };
  samples: Record<string, { sipflow: Array<Sample | MemorySample>; kamailio: Array<Sample | MemorySample> }>;
  rows: Row[];
  goals: Array<{ goal: string; measured: string; met: boolean | undefined }>;
  profile?: { core: ProfileSummary; edges: ProfileSummary; mode: 'register' | 'calls'; ops: number };
  cassandra?: { keyspaces: string[]; jvmPid: number | undefined };
  notes: string[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]): number | undefined => {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
};

function envInt(name: string, dflt: number, max: number): number {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? Math.min(Math.floor(v), max) : dflt;
}

export function settingsFromEnv(): Settings {
  const wanted = (process.env.SIPFLOW_BENCH_SCENARIOS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const expanded = [...new Set(wanted.flatMap((w) => SCENARIO_GROUPS[w] ?? [w]))];
  const unknown = expanded.filter((w) => !(SCENARIOS as readonly string[]).includes(w));
  if (unknown.length) throw new Error(`unknown scenario ${unknown.join(', ')}; known: ${SCENARIOS.join(', ')} (and udp, all)`);
  const flowsEnv = process.env.SIPFLOW_BENCH_FLOWS;
  return {
    scenarios: expanded.length ? (expanded as Scenario[]) : [...SCENARIOS],
    reps: envInt('SIPFLOW_BENCH_REPS', 3, 9),
    seconds: envInt('SIPFLOW_BENCH_SECONDS', 6, 120),
    warmupSeconds: process.env.SIPFLOW_BENCH_WARMUP === '0' ? 0 : envInt('SIPFLOW_BENCH_WARMUP', 6, 60),
    idleHoldSeconds: envInt('SIPFLOW_BENCH_IDLE_HOLD', 35, 600),
    uas: envInt('SIPFLOW_BENCH_UAS', 100, 5000),
    pairs: envInt('SIPFLOW_BENCH_PAIRS', 50, 2500),
    flows: flowsEnv ? flowsEnv.split(',').map((f) => Math.min(Math.max(1, Math.floor(Number(f) || 0)), 100_000)) : [10_000, 50_000],
    flowsPerProcess: envInt('SIPFLOW_BENCH_FLOWS_PER_PROCESS', flowsPerProcess(nofileLimits().hard), 1_000_000),
    workers: envInt('SIPFLOW_BENCH_WORKERS', 1, 2),
    coreTransport: process.env.SIPFLOW_BENCH_CORE_TRANSPORT === 'udp' ? 'udp' : 'tcp',
    // BENCHMARKS.md keeps the whole comparison: a run of some scenarios does not replace it unless asked.
    write: process.env.SIPFLOW_BENCH_WRITE === '1' || (process.env.SIPFLOW_BENCH_WRITE !== '0' && (expanded.length === 0 || expanded.length === SCENARIOS.length)),
  };
}

// ---- idle flows past one process's open-file limit -----------------------------------------------

/** Descriptors a process keeps for itself (listeners, logs, IPC, the store) besides its flows. */
const DESCRIPTORS_SPARE = 1000;
/** Load processes, edges and Kamailio instances an idle case may be split over. */
export const MAX_IDLE_SPLIT = 4;

/** Flows one process may hold under a `ulimit -n` hard limit of `hard`. */
export function flowsPerProcess(hard: number): number {
  return Math.max(1, hard - DESCRIPTORS_SPARE);
}

/**
 * How many processes a side needs for `flows` idle flows: each flow is a descriptor in the load
 * generator, in the sipflow edge holding it and in the Kamailio TCP main process accepting it, and
 * `ulimit -n` bounds each process (raising the hard limit needs CAP_SYS_RESOURCE). Past one
 * process's share the flows go over several load processes, several edges and as many Kamailio
 * instances; undefined when even MAX_IDLE_SPLIT would not do.
 */
export function idleSplit(flows: number, perProcess: number): number | undefined {
  const n = Math.max(1, Math.ceil(flows / Math.max(1, perProcess)));
  return n <= MAX_IDLE_SPLIT ? n : undefined;
}

/**
 * Kamailio's shared memory (-m, MB) for `flows` connections in one instance: each open TCP/WebSocket
 * connection keeps its read buffer there (~72 KiB measured; 88 allowed). 1024 at least, as in every
 * other case, rounded up to 256 MB. Only the pages used count in PSS, so the size skews nothing.
 */
export function kamailioShmMb(flows: number): number {
  const needed = (flows * 88) / 1024;
  return Math.max(1024, Math.ceil(needed / 256) * 256);
}

/** The servers an idle case of `flows` split over `split` processes runs: every scenario has two edges at least. */
function idleServers(flows: number, split: number): { edges: number; kamailioInstances: number; kamailioShmMb: number } {
  return { edges: Math.max(2, split), kamailioInstances: split, kamailioShmMb: kamailioShmMb(Math.ceil(flows / split)) };
}

/**
 * Loopback source addresses for `flows` connections: each bound source address offers one
 * ephemeral port range (~28,000 ports) to all connections from it; 8,000 flows per address keeps
 * far from that, at least three as the 10,000-flow case always used.
 */
export function idleSourceAddresses(flows: number): string[] {
  const n = Math.min(250, Math.max(3, Math.ceil(flows / 8000)));
  return Array.from({ length: n }, (_, i) => `127.0.0.${i + 1}`);
}

// ---- Cassandra -----------------------------------------------------------------------------------

interface CassandraNode {
  pid: number | undefined;
  contact: string;
  dc: string;
  startedHere: boolean;
}

function sipflowCli(args: string[], timeoutMs: number): string {
  return execFileSync(process.execPath, [join(ROOT, 'bin', 'sipflow.js'), ...args], { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
}

function cassandraStatus(): CassandraNode | undefined {
  try {
    const all = JSON.parse(sipflowCli(['cassandra', 'status', '--topology', '1', '--json'], 30_000)) as Array<{ ip: string; cqlPort: number; dc: string; pid: number | null; cql: boolean }>;
    const n = all.find((s) => s.cql);
    return n ? { pid: n.pid ?? undefined, contact: `${n.ip}:${n.cqlPort}`, dc: n.dc, startedHere: false } : undefined;
  } catch {
    return undefined;
  }
}

async function ensureCassandra(log: (l: string) => void): Promise<CassandraNode> {
  const running = cassandraStatus();
  if (running) return running;
  log('no Cassandra node answers CQL: starting one (node bin/sipflow.js cassandra start --topology 1)');
  sipflowCli(['cassandra', 'start', '--topology', '1', '--timeout', '240'], 300_000);
  const now = cassandraStatus();
  if (!now) throw new Error('Cassandra did not come up (node bin/sipflow.js cassandra start)');
  return { ...now, startedHere: true };
}

async function dropKeyspaces(node: CassandraNode, keyspaces: string[]): Promise<void> {
  if (keyspaces.length === 0) return;
  const { default: cassandra } = await import('cassandra-driver');
  const client = new cassandra.Client({ contactPoints: [node.contact], localDataCenter: node.dc });
  try {
    await client.connect();
    for (const ks of keyspaces) await client.execute(`DROP KEYSPACE IF EXISTS ${ks}`).catch(() => undefined);
  } finally {
    await client.shutdown().catch(() => undefined);
  }
}

// ---- one case ------------------------------------------------------------------------------------

interface CaseSpec {
  system: System;
  mode: 'register' | 'calls';
  transport: 'ws' | 'udp';
  store?: 'memory' | 'cassandra';
  cassandra?: { node: CassandraNode; keyspace: string };
  cpuProfDir?: string;
  /** sipflow core processes (default 1). */
  cores?: 1 | 2;
  /** Instead of sipflow: the transport floor with this many hops (floor-node.ts). */
  floorHops?: 1 | 2;
  /** sipflow's edges in front of the floor's answering process instead of a sipflow core. */
  floorCore?: boolean;
}

class Runner {
  readonly s: Settings;
  readonly logDir: string;
  readonly log: (line: string) => void;
  readonly otherLoads: number[] = [];

  constructor(s: Settings, log: (line: string) => void) {
    this.s = s;
    this.log = log;
    this.logDir = mkdtempSync(join(tmpdir(), 'sipflow-vs-kamailio-'));
  }

  async #servers(system: System, o: { edges: number; kamailioInstances?: number; kamailioShmMb?: number; cores?: 1 | 2; store?: 'memory' | 'cassandra'; cassandra?: CaseSpec['cassandra']; cpuProfDir?: string; gcHook?: boolean; floorHops?: 1 | 2; floorCore?: boolean; tag: string }): Promise<ServerSet> {
    const dir = join(this.logDir, o.tag);
    mkdirSync(dir, { recursive: true });
    if (system === 'kamailio') return startKamailio({ logDir: dir, ...(o.kamailioInstances ? { instances: o.kamailioInstances } : {}), ...(o.kamailioShmMb ? { shmMb: o.kamailioShmMb } : {}) });
    if (o.floorHops) return startFloor({ hops: o.floorHops, logDir: dir });
    return startSipflow({
      edges: o.edges,
      coreTransport: this.s.coreTransport,
      ...(o.cores ? { cores: o.cores } : {}),
      store: o.store ?? 'memory',
      logDir: dir,
      ...(o.cassandra ? { cassandra: { contact: o.cassandra.node.contact, dc: o.cassandra.node.dc, keyspace: o.cassandra.keyspace, consistency: 'LOCAL_ONE' } } : {}),
      ...(o.cpuProfDir ? { cpuProfDir: o.cpuProfDir } : {}),
      ...(o.gcHook ? { gcHook: true } : {}),
      ...(o.floorCore ? { floorCore: true } : {}),
    });
  }

  /** Fresh servers, setup (connect + register everything), then the measured closed loop. */
  async loadCase(spec: CaseSpec, tag: string): Promise<Sample> {
    const edges = spec.transport === 'ws' ? 2 : 0;
    const servers = await this.#servers(spec.system, { edges, tag, ...(spec.floorHops ? { floorHops: spec.floorHops } : {}), ...(spec.floorCore ? { floorCore: true } : {}), ...(spec.cores ? { cores: spec.cores } : {}), ...(spec.store ? { store: spec.store } : {}), ...(spec.cassandra ? { cassandra: spec.cassandra } : {}), ...(spec.cpuProfDir ? { cpuProfDir: spec.cpuProfDir } : {}) });
    try {
      const plan: LoadPlan = {
        mode: spec.mode,
        transport: spec.transport,
        targets: spec.transport === 'ws' ? servers.ws : [servers.udp],
        count: spec.mode === 'register' ? this.s.uas : this.s.pairs,
        durationMs: this.s.seconds * 1000,
        domain: DOMAIN,
        ...(spec.transport === 'udp' ? { udpPorts: [...PORTS.loadgen].slice(0, 4) } : {}),
      };
      const load = LoadGenerator.create(plan, { workers: this.s.workers });
      try {
        const setup = await load.prepare();
        const expected = spec.mode === 'register' ? plan.count : 2 * plan.count;
        if (setup.ops < expected) throw new Error(`${spec.system}: setup registered ${setup.ops} of ${expected} UAs: ${setup.errorSamples.join('; ')}`);
        // Unmeasured warm-up: V8 compiles the hot paths of the sipflow nodes (on helper threads
        // whose CPU /proc counts), and both systems fill their caches and tables.
        if (this.s.warmupSeconds > 0) await load.run(this.s.warmupSeconds * 1000);
        await sleep(300);
        const cas = spec.cassandra?.node.pid;
        const t0 = { server: totalCpuSeconds(servers.pids), roles: roleCpu(servers), self: cpuSeconds('self'), machine: machineCpu(), cassandra: cas ? cpuSeconds(cas) : 0, udpDrops: udpReceiveBufferErrors(), at: performance.now() };
        const r = await load.run();
        const t1 = { server: totalCpuSeconds(servers.pids), roles: roleCpu(servers), self: cpuSeconds('self'), machine: machineCpu(), cassandra: cas ? cpuSeconds(cas) : 0, udpDrops: udpReceiveBufferErrors(), at: performance.now() };
        return this.#sample(r, t0, t1, servers);
      } finally {
        await load.close();
      }
    } finally {
      await servers.stop();
    }
  }

  #sample(
    r: LoadResult,
    t0: { server: number; roles: Record<string, number>; self: number; machine: { busy: number; total: number }; cassandra: number; udpDrops: number; at: number },
    t1: typeof t0,
    servers: ServerSet,
  ): Sample {
    const per = (s: number): number => (r.ops > 0 ? (s * 1e6) / r.ops : NaN);
    const server = t1.server - t0.server;
    const self = t1.self - t0.self;
    const cassandra = t1.cassandra - t0.cassandra;
    const total = t1.machine.total - t0.machine.total;
    const other = Math.max(0, t1.machine.busy - t0.machine.busy - server - self - cassandra);
    const otherLoad = total > 0 ? other / total : NaN;
    this.otherLoads.push(otherLoad);
    const roleCpuUs: Record<string, number> = {};
    for (const k of Object.keys(servers.roles)) roleCpuUs[k] = per(t1.roles[k]! - t0.roles[k]!);
    return {
      rate: r.rate,
      p50: r.latency.p50,
      p99: r.latency.p99,
      cpuUs: per(server),
      roleCpuUs,
      ...(t0.cassandra || t1.cassandra ? { cassandraCpuUs: per(cassandra) } : {}),
      ops: r.ops,
      errors: r.errors,
      failures: r.failures,
      errorSamples: r.errorSamples,
      warnings: r.warnings,
      duplicates: r.duplicates,
      retransmits: r.retransmits,
      udpDrops: t1.udpDrops - t0.udpDrops,
      clientCpuUs: per(self),
      otherLoad,
    };
  }

  /**
   * Memory of all server processes before and after `flows` registered idle WebSocket flows, over
   * `split` load processes and the servers idleServers() names for that split (idleSplit()).
   */
  async idleCase(system: System, flows: number, split: number, tag: string): Promise<MemorySample> {
    const servers = await this.#servers(system, { ...idleServers(flows, split), gcHook: true, tag });
    try {
      await sleep(1000);
      const v8Before = await servers.collectGarbage();
      const before = memoryOf(servers.pids);
      const rolesBefore = roleMemory(servers);
      const load = LoadGenerator.create(
        { mode: 'idle', transport: 'ws', targets: servers.ws, count: flows, durationMs: 0, domain: DOMAIN, concurrency: 200, setupTimeoutMs: 240_000 * split, sourceAddresses: idleSourceAddresses(flows) },
        split > 1 ? { workers: split, processes: true } : { workers: this.s.workers },
      );
      try {
        const started = performance.now();
        const cpu0 = totalCpuSeconds(servers.pids);
        const setup = await load.prepare();
        const setupCpu = totalCpuSeconds(servers.pids) - cpu0;
        const setupSeconds = (performance.now() - started) / 1000;
        // RFC 3261 §17.2.2 Timer J: a server transaction for a REGISTER over UDP (edge → core) is
        // kept 64*T1 = 32 s after its answer; idle means after that, with nothing left but the
        // flows and their registrations.
        await sleep(this.s.idleHoldSeconds * 1000);
        const settled = memoryOf(servers.pids);
        const v8After = await servers.collectGarbage();
        const after = memoryOf(servers.pids);
        const rolesAfter = roleMemory(servers);
        const held = setup.openConnections;
        if (setup.ops < flows) this.log(`  ${system}: only ${setup.ops} of ${flows} flows registered (${setup.errorSamples.join('; ')})`);
        const n = Math.max(1, Math.min(setup.ops, held));
        return {
          flows,
          registered: setup.ops,
          listeners: servers.ws.length,
          pssPerFlowKiB: (after.pssKiB - before.pssKiB) / n,
          rssPerFlowKiB: (after.rssKiB - before.rssKiB) / n,
          pssPerFlowBeforeGcKiB: (settled.pssKiB - before.pssKiB) / n,
          pssBeforeKiB: before.pssKiB,
          pssAfterKiB: after.pssKiB,
          roleHeapPerFlowKiB: Object.fromEntries(
            Object.keys(v8After).map((k) => [k, (v8After[k]!.heapUsedKiB + v8After[k]!.externalKiB - (v8Before[k]?.heapUsedKiB ?? 0) - (v8Before[k]?.externalKiB ?? 0)) / n]),
          ),
          rolePssPerFlowKiB: Object.fromEntries(Object.keys(rolesAfter).map((k) => [k, (rolesAfter[k]! - rolesBefore[k]!) / n])),
          errors: setup.errors,
          setupSeconds,
          setupCpuUsPerFlow: setup.ops > 0 ? (setupCpu * 1e6) / setup.ops : NaN,
        };
      } finally {
        await load.close();
      }
    } finally {
      await servers.stop();
    }
  }
}

function roleMemory(servers: ServerSet): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, pids] of Object.entries(servers.roles)) out[k] = memoryOf(pids).pssKiB;
  return out;
}

function roleCpu(servers: ServerSet): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, pids] of Object.entries(servers.roles)) out[k] = totalCpuSeconds(pids);
  return out;
}

// ---- the table -----------------------------------------------------------------------------------

const fmt = (v: number | undefined, unit: string): string => {
  if (v === undefined || !Number.isFinite(v)) return 'n/a';
  if (unit === 'ms') return v.toFixed(v < 10 ? 2 : 1);
  if (v >= 100) return Math.round(v).toLocaleString('en-US');
  return v.toFixed(1);
};

function ratio(row: Row): string {
  if (row.sipflow === undefined || row.kamailio === undefined || !row.kamailio || !Number.isFinite(row.sipflow)) return '';
  const r = row.sipflow / row.kamailio;
  if (r <= 0) return '0';
  return r >= 0.1 ? `${r.toFixed(2)}×` : `1/${(1 / r).toFixed(0)}`;
}

export function formatTable(rows: Row[]): string {
  const head = ['scenario', 'sipflow', 'Kamailio', 'sipflow/Kamailio'];
  const body = rows.map((r) => [`${r.label} (${r.unit})${r.note ? ` ${r.note}` : ''}`, fmt(r.sipflow, r.unit), fmt(r.kamailio, r.unit), ratio(r)]);
  const widths = head.map((_, i) => Math.max(head[i]!.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  return [line(head), `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...body.map(line)].join('\n');
}

function loadRows(label: string, unitOp: string, op: string, sf: Sample[], km: Sample[], extra: { cassandra?: boolean } = {}): Row[] {
  const m = (xs: Sample[], f: (s: Sample) => number): number | undefined => median(xs.map(f));
  const errs = (xs: Sample[]): number => xs.reduce((s, x) => s + x.errors, 0);
  const warns = (xs: Sample[]): number => xs.reduce((s, x) => s + Object.values(x.warnings).reduce((a, b) => a + b, 0), 0);
  const flags = [
    ...(errs(sf) + errs(km) > 0 ? [`errors: sipflow ${errs(sf)}, Kamailio ${errs(km)}`] : []),
    ...(warns(sf) + warns(km) > 0 ? [`protocol warnings: sipflow ${warns(sf)}, Kamailio ${warns(km)}`] : []),
  ];
  const note = flags.length ? `[${flags.join('; ')}]` : undefined;
  const rows: Row[] = [
    { label: `${label}: rate`, sipflow: m(sf, (s) => s.rate), kamailio: m(km, (s) => s.rate), unit: unitOp, better: 'higher', ...(note ? { note } : {}) },
    { label: `${label}: server CPU per ${op}`, sipflow: m(sf, (s) => s.cpuUs), kamailio: m(km, (s) => s.cpuUs), unit: 'µs', better: 'lower' },
  ];
  for (const role of Object.keys(sf[0]?.roleCpuUs ?? {})) {
    if (Object.keys(sf[0]!.roleCpuUs).length < 2) break;
    rows.push({ label: `  of which sipflow ${role}`, sipflow: m(sf, (s) => s.roleCpuUs[role]!), kamailio: undefined, unit: 'µs', better: 'lower' });
  }
  if (extra.cassandra) rows.push({ label: '  Cassandra JVM CPU per REGISTER (not in the line above)', sipflow: m(sf, (s) => s.cassandraCpuUs ?? NaN), kamailio: undefined, unit: 'µs', better: 'lower' });
  rows.push(
    { label: `${label}: ${op === 'call' ? 'setup ' : ''}latency p50`, sipflow: m(sf, (s) => s.p50), kamailio: m(km, (s) => s.p50), unit: 'ms', better: 'lower' },
    { label: `${label}: ${op === 'call' ? 'setup ' : ''}latency p99`, sipflow: m(sf, (s) => s.p99), kamailio: m(km, (s) => s.p99), unit: 'ms', better: 'lower' },
  );
  return rows;
}

/**
 * What the goal is checked against. A freshly started node has heap it committed while starting and
 * no longer uses (about 10 MiB per process here); the first flows fill it without the PSS growing,
 * so at 10,000 flows the PSS difference alone understates what a flow costs. The live V8 heap and
 * external memory the flows added (after full collections) is a floor for that cost; the larger of
 * the two is used.
 */
function goalMemoryKiB(s: MemorySample): number {
  const live = Object.values(s.roleHeapPerFlowKiB).reduce((a, b) => a + b, 0);
  return Math.max(s.pssPerFlowKiB, live);
}

function memoryRows(flows: number, sf: MemorySample[], km: MemorySample[]): Row[] {
  const errs = [...sf, ...km].reduce((s, x) => s + x.errors + (x.flows - x.registered), 0);
  const note = errs ? `[${errs} flows failed]` : undefined;
  const roles = Object.keys(sf[0]?.rolePssPerFlowKiB ?? {});
  return [
    { label: `Idle registered WS flows ×${flows}: PSS per flow`, sipflow: median(sf.map((s) => s.pssPerFlowKiB)), kamailio: median(km.map((s) => s.pssPerFlowKiB)), unit: 'KiB', better: 'lower', ...(note ? { note } : {}) },
    ...(roles.length > 1 ? roles.map((role): Row => ({ label: `  of which sipflow ${role}`, sipflow: median(sf.map((s) => s.rolePssPerFlowKiB[role]!)), kamailio: undefined, unit: 'KiB', better: 'lower' })) : []),
    ...Object.keys(sf[0]?.roleHeapPerFlowKiB ?? {}).map((role): Row => ({ label: `  sipflow ${role}: live V8 heap + external per flow`, sipflow: median(sf.map((s) => s.roleHeapPerFlowKiB[role]!)), kamailio: undefined, unit: 'KiB', better: 'lower' })),
    { label: `Idle registered WS flows ×${flows}: RSS per flow`, sipflow: median(sf.map((s) => s.rssPerFlowKiB)), kamailio: median(km.map((s) => s.rssPerFlowKiB)), unit: 'KiB', better: 'lower' },
    {
      label: `Idle registered WS flows ×${flows}: memory per flow for the goal (larger of PSS and live heap)`,
      sipflow: median(sf.map(goalMemoryKiB)),
      kamailio: median(km.map((s) => s.pssPerFlowKiB)),
      unit: 'KiB',
      better: 'lower',
    },
    { label: `Idle registered WS flows ×${flows}: opening + first REGISTER, server CPU per flow`, sipflow: median(sf.map((s) => s.setupCpuUsPerFlow)), kamailio: median(km.map((s) => s.setupCpuUsPerFlow)), unit: 'µs', better: 'lower' },
  ];
}

// ---- BENCHMARKS.md -------------------------------------------------------------------------------

function markdownSection(rep: ComparisonReport): string {
  const lines = [
    '## Kamailio comparison',
    '',
    `Measured ${rep.date} at commit \`${rep.commit}\` with \`${rep.command}\` (scenarios: ${rep.settings.scenarios.join(', ')}; ` +
      `${rep.settings.reps} runs each, alternating, median shown; ${rep.settings.seconds} s closed loop after ${rep.settings.warmupSeconds} s unmeasured warm-up; ` +
      `${rep.settings.uas} REGISTER UAs, ${rep.settings.pairs} call pairs; idle flows read after ${rep.settings.idleHoldSeconds} s).`,
    `Kamailio 5.6 from Debian with bench/kamailio/kamailio.cfg (websocket + xhttp, usrloc db_mode 0, tm/rr, no auth, children=2, tcp_children=2, -m 1024 -M 16);`,
    `sipflow: \`sipflow core --store memory --auth off\` and two \`sipflow edge --core-transport ${rep.settings.coreTransport}\` processes, edges and core talking ${rep.settings.coreTransport.toUpperCase()} (UDP scenarios: the core alone).`,
    `Machine: 2 cores shared with other work; load average ${rep.machine.loadBefore} before, ${rep.machine.loadAfter} after; other processes kept a median ` +
      `${rep.machine.otherLoadMedian === undefined ? 'n/a' : `${(rep.machine.otherLoadMedian * 100).toFixed(0)} %`} of the machine busy during the measured phases.`,
    'Server CPU = utime + stime of every server process (Kamailio: all its processes; sipflow: every edge and core) during the measured phase, divided by the operations completed.',
    'Memory per flow = (PSS or RSS of all server processes with the flows open − before) / flows; sipflow nodes collect garbage until V8 has released what it freed (bench/kamailio/gc-on-signal.ts) before each reading; the goal uses the larger of PSS and the live V8 heap + external memory the flows added.',
    '',
    formatTable(rep.rows),
    '',
    'Goals:',
    '',
    ...rep.goals.map((g) => `- ${g.goal}: ${g.measured} — ${g.met === undefined ? 'not measured' : g.met ? 'met' : 'NOT met'}`),
  ];
  if (rep.profile) {
    lines.push(
      '',
      `CPU profile (\`node --cpu-prof\`, ${rep.profile.mode === 'calls' ? 'calls scenario' : 'REGISTER scenario'}, ${rep.profile.ops} ${rep.profile.mode === 'calls' ? 'calls' : 'REGISTERs'} measured), top self time as a share of each process's busy main-thread time. ` +
        'V8 samples the main thread by wall-clock time, so time spent descheduled inside a send (a busy machine) is charged to the function sending; startup is included.',
      '',
    );
    for (const [name, p] of [['core', rep.profile.core], ['edges', rep.profile.edges]] as const) {
      lines.push(`${name} (busy ${p.busyMs.toFixed(0)} ms, of which GC ${p.gcMs.toFixed(0)} ms):`, '');
      for (const r of p.top.slice(0, 10)) lines.push(`- ${(r.busyShare * 100).toFixed(1)} % ${r.name}`);
      lines.push('');
    }
  }
  if (rep.notes.length) lines.push(...(lines[lines.length - 1] === '' ? [] : ['']), 'Notes:', '', ...rep.notes.map((n) => `- ${n}`));
  return lines.join('\n').trimEnd() + '\n';
}

function writeBenchmarksMd(rep: ComparisonReport): string {
  const file = join(ROOT, 'BENCHMARKS.md');
  const section = markdownSection(rep);
  let text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n\n';
  const start = text.indexOf('## Kamailio comparison');
  if (start >= 0) {
    const next = text.indexOf('\n## ', start + 5);
    text = text.slice(0, start) + section + (next >= 0 ? '\n' + text.slice(next + 1) : '');
  } else {
    text = text.trimEnd() + '\n\n' + section;
  }
  writeFileSync(file, text);
  return file;
}

// ---- the whole comparison ------------------------------------------------------------------------

export async function runKamailioComparison(settings: Settings = settingsFromEnv()): Promise<ComparisonReport> {
  const log = (line: string): void => {
    process.stdout.write(`${line}\n`);
  };
  ensureKamailio(log);
  hookCleanup();
  const runner = new Runner(settings, log);
  const limits = nofileLimits();
  const report: ComparisonReport = {
    date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
    commit: gitCommit(),
    command: settings.scenarios.length === SCENARIOS.length ? 'npm run bench -- kamailio' : `npm run bench -- ${settings.scenarios.join(' ')}`,
    settings,
    machine: { loadBefore: loadAverage(), loadAfter: '', otherLoadMedian: undefined, nofile: limits.hard },
    samples: {},
    rows: [],
    goals: [],
    notes: [],
  };
  log(`logs: ${runner.logDir}; load average ${report.machine.loadBefore}; scenarios ${settings.scenarios.join(', ')}`);
  const has = (s: Scenario): boolean => settings.scenarios.includes(s);
  const alternate = async <T extends Sample | MemorySample>(name: string, run: (system: System, tag: string) => Promise<T>): Promise<{ sipflow: T[]; kamailio: T[] }> => {
    const out = { sipflow: [] as T[], kamailio: [] as T[] };
    for (let rep = 0; rep < settings.reps; rep++) {
      const order: System[] = rep % 2 === 0 ? ['sipflow', 'kamailio'] : ['kamailio', 'sipflow'];
      for (const system of order) {
        const started = Date.now();
        const r = await run(system, `${name}-${system}-${rep + 1}`);
        out[system].push(r);
        log(`  ${name} ${system} #${rep + 1}: ${brief(r)} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
      }
    }
    report.samples[name] = out as { sipflow: Array<Sample | MemorySample>; kamailio: Array<Sample | MemorySample> };
    for (const system of ['sipflow', 'kamailio'] as const) {
      const kinds: Record<string, number> = {};
      for (const r of out[system] as Array<Sample | MemorySample>) if ('warnings' in r) for (const [k, v] of Object.entries(r.warnings)) kinds[k] = (kinds[k] ?? 0) + v;
      for (const [k, v] of Object.entries(kinds)) report.notes.push(`${name}, ${system}: ${v}× ${k} (accepted as a lenient UA would; a strict UA answers 404).`);
    }
    return out;
  };

  let cassandraNode: CassandraNode | undefined;
  const keyspaces: string[] = [];
  // One scenario failing (a server that would not start, a setup that did not register) is
  // reported and the others still run; the servers of the failed case are already stopped.
  const guard = async (name: string, body: () => Promise<void>): Promise<void> => {
    try {
      await body();
    } catch (err) {
      log(`  ${name} FAILED: ${(err as Error).message}`);
      report.notes.push(`Scenario ${name} failed: ${(err as Error).message}`);
    }
  };
  try {
    if (has('register')) await guard('register', async () => {
      log('== REGISTER over WebSocket');
      const r = await alternate('register', (system, tag) => runner.loadCase({ system, mode: 'register', transport: 'ws' }, tag));
      report.rows.push(...loadRows('REGISTER over WS', 'REGISTER/s', 'REGISTER', r.sipflow, r.kamailio));
    });
    if (has('register-2cores')) await guard('register-2cores', async () => {
      log('== REGISTER over WebSocket, two sipflow core processes');
      const r = await alternate('register-2cores', (system, tag) => runner.loadCase({ system, mode: 'register', transport: 'ws', ...(system === 'sipflow' ? { cores: 2 as const } : {}) }, tag));
      report.rows.push(...loadRows('REGISTER over WS, 2 sipflow cores', 'REGISTER/s', 'REGISTER', r.sipflow, r.kamailio));
    });
    if (has('calls')) await guard('calls', async () => {
      log('== WS↔WS calls');
      const r = await alternate('calls', (system, tag) => runner.loadCase({ system, mode: 'calls', transport: 'ws' }, tag));
      report.rows.push(...loadRows('WS↔WS calls', 'calls/s', 'call', r.sipflow, r.kamailio));
    });
    if (has('idle')) await guard('idle', async () => {
      for (const flows of settings.flows) {
        const split = idleSplit(flows, settings.flowsPerProcess);
        if (split === undefined) {
          report.notes.push(`Idle flows ×${flows} skipped: more than ${MAX_IDLE_SPLIT} processes of ${settings.flowsPerProcess} flows each (\`ulimit -n\` hard limit ${limits.hard}).`);
          log(`== idle flows ×${flows}: skipped (over ${MAX_IDLE_SPLIT} processes of ${settings.flowsPerProcess} flows)`);
          continue;
        }
        const layout = idleServers(flows, split);
        log(`== idle registered WebSocket flows ×${flows}${split > 1 ? ` (over ${split} load processes; sipflow ${layout.edges} edges, Kamailio ${layout.kamailioInstances} instances)` : ''}`);
        const r = await alternate(`idle-${flows}`, (system, tag) => runner.idleCase(system, flows, split, tag));
        report.rows.push(...memoryRows(flows, r.sipflow, r.kamailio));
        if (split > 1) {
          report.notes.push(
            `Idle flows ×${flows}: one process may hold ${settings.flowsPerProcess} flows here (\`ulimit -n\` hard limit ${limits.hard}; raising it needs CAP_SYS_RESOURCE, which this machine does not grant), ` +
              `so the flows went over ${split} load-generator processes, ${layout.edges} sipflow edges (one core) and ${layout.kamailioInstances} Kamailio instances (kamailio.cfg with its own ports each, -m ${layout.kamailioShmMb}); ` +
              'memory per flow is still all server processes together, after minus before, over the flows held.',
          );
        }
      }
    });
    if (has('udp-register')) await guard('udp-register', async () => {
      log('== REGISTER over UDP (core alone)');
      const r = await alternate('udp-register', (system, tag) => runner.loadCase({ system, mode: 'register', transport: 'udp' }, tag));
      report.rows.push(...loadRows('REGISTER over UDP', 'REGISTER/s', 'REGISTER', r.sipflow, r.kamailio));
    });
    if (has('udp-calls')) await guard('udp-calls', async () => {
      log('== UDP↔UDP calls (core alone)');
      const r = await alternate('udp-calls', (system, tag) => runner.loadCase({ system, mode: 'calls', transport: 'udp' }, tag));
      report.rows.push(...loadRows('UDP↔UDP calls', 'calls/s', 'call', r.sipflow, r.kamailio));
    });
    if (has('cassandra')) await guard('cassandra', async () => {
      log('== REGISTER over WebSocket, Cassandra store');
      cassandraNode = await ensureCassandra(log);
      report.cassandra = { keyspaces, jvmPid: cassandraNode.pid };
      if (cassandraNode.pid === undefined) report.notes.push('Cassandra answers CQL but was not started by `sipflow cassandra`: its JVM pid is unknown, so its CPU is not reported.');
      const node = cassandraNode;
      const r = await alternate('cassandra', (system, tag) => {
        const keyspace = `bench_${Date.now()}`;
        if (system === 'sipflow') keyspaces.push(keyspace);
        return runner.loadCase({ system, mode: 'register', transport: 'ws', ...(system === 'sipflow' ? { store: 'cassandra' as const, cassandra: { node, keyspace } } : {}) }, tag);
      });
      report.rows.push(...loadRows('REGISTER over WS, sipflow Cassandra store', 'REGISTER/s', 'REGISTER', r.sipflow, r.kamailio, { cassandra: true }));
      report.notes.push('Cassandra scenario: sipflow stores registrations in a single local Cassandra node (LOCAL_ONE, a fresh keyspace per run) on the same two cores, which may also be serving other work on this machine; Kamailio keeps usrloc in memory as in the first scenario.');
    });
    if (has('floor')) await guard('floor', async () => {
      log('== REGISTER over WebSocket against the transport floor (no SIP processing)');
      const cases = {
        one: { spec: { system: 'sipflow', mode: 'register', transport: 'ws', floorHops: 1 }, name: 'one hop' },
        two: { spec: { system: 'sipflow', mode: 'register', transport: 'ws', floorHops: 2 }, name: 'two hops' },
        edges: { spec: { system: 'sipflow', mode: 'register', transport: 'ws', floorCore: true }, name: 'sipflow edges + answering core' },
        kamailio: { spec: { system: 'kamailio', mode: 'register', transport: 'ws' }, name: 'Kamailio' },
      } satisfies Record<string, { spec: CaseSpec; name: string }>;
      const names = Object.keys(cases) as Array<keyof typeof cases>;
      const runs = Object.fromEntries(names.map((n) => [n, [] as Sample[]])) as Record<keyof typeof cases, Sample[]>;
      for (let rep = 0; rep < settings.reps; rep++) {
        for (const [i] of names.entries()) {
          const which = names[(i + rep) % names.length]!;
          const started = Date.now();
          const r = await runner.loadCase(cases[which].spec, `floor-${which}-${rep + 1}`);
          runs[which].push(r);
          log(`  floor: ${cases[which].name} #${rep + 1}: ${brief(r)} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
        }
      }
      const km = runs.kamailio;
      report.rows.push(
        ...loadRows('Transport floor, one hop (uWS echo, no SIP)', 'REGISTER/s', 'REGISTER', runs.one, km).slice(0, 2),
        ...loadRows('Transport floor, two hops (uWS → TCP → answer → uWS, no SIP)', 'REGISTER/s', 'REGISTER', runs.two, km).slice(0, 2),
        ...loadRows('sipflow edges in front of the floor\'s answering core', 'REGISTER/s', 'REGISTER', runs.edges, km).slice(0, 4),
      );
    });
    if (has('profile')) await guard('profile', async () => {
      const mode = process.env.SIPFLOW_BENCH_PROFILE === 'calls' ? 'calls' : 'register';
      log(`== CPU profile of the ${mode} scenario (sipflow, node --cpu-prof)`);
      const dir = join(runner.logDir, 'cpu-profiles');
      const s = await runner.loadCase({ system: 'sipflow', mode, transport: 'ws', cpuProfDir: dir }, 'profile');
      const files = (sub: string): string[] => (existsSync(join(dir, sub)) ? readdirSync(join(dir, sub)).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(dir, sub, f)) : []);
      const core = files('core');
      const edges = [...files('edge1'), ...files('edge2')];
      if (core.length && edges.length) {
        report.profile = { core: summarizeProfiles(core, ROOT), edges: summarizeProfiles(edges, ROOT), mode, ops: s.ops };
        log(`  profiles in ${dir}`);
      } else {
        report.notes.push(`CPU profile: no .cpuprofile written under ${dir} (the nodes must exit cleanly on SIGTERM).`);
      }
    });
  } finally {
    unhookCleanup();
    if (cassandraNode && keyspaces.length) await dropKeyspaces(cassandraNode, keyspaces).catch(() => undefined);
    if (cassandraNode?.startedHere) {
      try {
        sipflowCli(['cassandra', 'stop', '--topology', '1'], 60_000);
      } catch {
        report.notes.push('Could not stop the Cassandra node this run started: stop it with `node bin/sipflow.js cassandra stop`.');
      }
    }
  }

  report.machine.loadAfter = loadAverage();
  report.machine.otherLoadMedian = median(runner.otherLoads);
  report.goals = goals(report.rows);
  log('');
  log(formatTable(report.rows));
  log('');
  for (const g of report.goals) log(`goal: ${g.goal}: ${g.measured} — ${g.met === undefined ? 'not measured' : g.met ? 'met' : 'NOT met'}`);
  if (report.profile) {
    for (const [name, p] of [['core', report.profile.core], ['edges', report.profile.edges]] as const) {
      log(`profile ${name}: busy ${p.busyMs.toFixed(0)} ms (GC ${p.gcMs.toFixed(0)} ms); top self time:`);
      for (const r of p.top.slice(0, 12)) log(`  ${(r.busyShare * 100).toFixed(1).padStart(5)} %  ${r.selfMs.toFixed(0).padStart(6)} ms  ${r.name}`);
    }
  }
  for (const n of report.notes) log(`note: ${n}`);
  log(`machine: load average ${report.machine.loadBefore} → ${report.machine.loadAfter}; other processes kept ${report.machine.otherLoadMedian === undefined ? 'n/a' : `${(report.machine.otherLoadMedian * 100).toFixed(0)} %`} of the machine busy (median over measured phases)`);
  if (settings.write) log(`wrote ${writeBenchmarksMd(report)}`);
  else log('BENCHMARKS.md left as it is (some scenarios only, or SIPFLOW_BENCH_WRITE=0; SIPFLOW_BENCH_WRITE=1 writes it)');
  return report;
}

function brief(r: Sample | MemorySample): string {
  if ('pssPerFlowKiB' in r) {
    const roles = Object.keys(r.rolePssPerFlowKiB).length > 1 ? ` [${Object.entries(r.rolePssPerFlowKiB).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}]` : '';
    const heap = Object.keys(r.roleHeapPerFlowKiB).length ? `, V8 live heap+external per flow [${Object.entries(r.roleHeapPerFlowKiB).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}]` : '';
    return `${r.registered}/${r.flows} flows over ${r.listeners} WebSocket listeners, PSS ${r.pssPerFlowKiB.toFixed(1)} KiB/flow${roles}${heap} (before GC ${r.pssPerFlowBeforeGcKiB.toFixed(1)}), RSS ${r.rssPerFlowKiB.toFixed(1)} KiB/flow, setup ${r.setupSeconds.toFixed(1)} s at ${r.setupCpuUsPerFlow.toFixed(0)} µs server CPU per flow`;
  }
  const roles = Object.entries(r.roleCpuUs).length > 1 ? ` [${Object.entries(r.roleCpuUs).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')}]` : '';
  const cas = r.cassandraCpuUs !== undefined ? ` + Cassandra ${r.cassandraCpuUs.toFixed(0)} µs` : '';
  const errs = r.errors ? `, ${r.errors} errors: ${r.errorSamples.slice(0, 3).join('; ')}` : '';
  const retx = r.retransmits || r.duplicates ? `, ${r.retransmits} 2xx retransmitted, ${r.duplicates} duplicate answers` : '';
  const warns = Object.keys(r.warnings).length ? `, warnings: ${Object.entries(r.warnings).map(([k, v]) => `${v}× ${k}`).join('; ')}` : '';
  const drops = r.udpDrops ? `, ${r.udpDrops} UDP datagrams dropped machine-wide` : '';
  return `${r.rate.toFixed(0)}/s, CPU ${r.cpuUs.toFixed(0)} µs/op${roles}${cas}, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, client ${r.clientCpuUs.toFixed(0)} µs/op, other load ${(r.otherLoad * 100).toFixed(0)} %${drops}${retx}${warns}${errs}`;
}

export function goals(rows: Row[]): ComparisonReport['goals'] {
  const find = (label: string): Row | undefined => rows.find((r) => r.label === label);
  const out: ComparisonReport['goals'] = [];
  const check = (goal: string, row: Row | undefined, limit: number, show: (r: number) => string): void => {
    if (!row || row.sipflow === undefined || row.kamailio === undefined || !row.kamailio) return void out.push({ goal, measured: 'n/a', met: undefined });
    const r = row.sipflow / row.kamailio;
    out.push({ goal, measured: `${fmt(row.sipflow, row.unit)} vs ${fmt(row.kamailio, row.unit)} ${row.unit} = ${show(r)}`, met: r <= limit });
  };
  // Checked at every count of flows measured (10,000 and 50,000 by default); none measured is n/a.
  const memoryRowsForGoal = rows.filter((r) => /^Idle registered WS flows ×\d+: memory per flow for the goal/.test(r.label));
  for (const row of memoryRowsForGoal.length ? memoryRowsForGoal : [undefined]) {
    const flows = row ? /×(\d+)/.exec(row.label)![1] : undefined;
    check(`memory per idle registered WS flow, edge+core ≤ 1/16 of Kamailio${flows ? ` (×${flows} flows)` : ''}`, row, 1 / 16, (r) => (r > 0 ? `1/${(1 / r).toFixed(1)}` : r.toFixed(3)));
  }
  check('CPU per REGISTER through edge+core ≤ 1.0× Kamailio', find('REGISTER over WS: server CPU per REGISTER'), 1.0, (r) => `${r.toFixed(2)}×`);
  check('REGISTER p99 ≤ Kamailio', find('REGISTER over WS: latency p99'), 1.0, (r) => `${r.toFixed(2)}×`);
  check('CPU per WS↔WS call ≤ 1.5× Kamailio', find('WS↔WS calls: server CPU per call'), 1.5, (r) => `${r.toFixed(2)}×`);
  return out;
}

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}
