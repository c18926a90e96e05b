/**
 * Location store benchmark against the local Cassandra node (127.0.0.2): binding writes/s (one
 * REGISTER refresh = one update() of one binding) and AOR lookups/s (one INVITE = one lookup()),
 * each for a fixed time with a fixed number of requests in flight. Alongside, the CPU the Cassandra
 * JVM used (from /proc/<pid>/stat), because on this 2-core machine the database and the benchmark
 * share the cores and the figure only means something next to it.
 *
 * Run: npx tsc -p tsconfig.build.json && node dist/bench/store/store-bench.js [seconds] [concurrency]
 * (the node must be running: `sipflow cassandra start`).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { CassandraLocationStore } from '../../core/location/cassandra-store.js';
import type { Binding } from '../../core/location/location-store.js';
import { runningPid } from '../../deploy/cassandra/node-process.js';
import { cassandraHome, nodePaths } from '../../deploy/cassandra/paths.js';
import { topologyNodes } from '../../deploy/cassandra/topology.js';

export interface StoreBenchOptions {
  contactPoint?: string;
  localDataCenter?: string;
  keyspace?: string;
  /** Per phase; default 5000 ms. */
  durationMs?: number;
  /** Requests in flight; default 32. */
  concurrency?: number;
  /** Distinct AORs written and looked up; default 2000. */
  aors?: number;
  /** The Cassandra JVM to measure; default: the pid of the project's single node. */
  cassandraPid?: number;
}

export interface PhaseResult {
  ops: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** Cassandra JVM CPU during the phase, in cores (1.0 = one core fully busy); undefined if unknown. */
  cassandraCores?: number;
  /** This benchmark process's CPU (driver + store code), in cores. */
  clientCores: number;
}

export interface StoreBenchResult {
  writes: PhaseResult;
  lookups: PhaseResult;
  cassandraPid?: number;
}

function clockTicks(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
}

/** utime + stime of a process in clock ticks (fields 14 and 15 of /proc/<pid>/stat). */
function cpuTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces; fields are counted after its closing paren.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function phase(durationMs: number, concurrency: number, pid: number | undefined, hz: number, op: (i: number) => Promise<void>): Promise<PhaseResult> {
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const startTicks = pid !== undefined ? cpuTicks(pid) : undefined;
  const startCpu = process.cpuUsage();
  const started = performance.now();
  const end = started + durationMs;
  const worker = async () => {
    // Bounded by time, and by count as a guard against a clock that does not advance.
    for (let n = 0; performance.now() < end && n < 10_000_000; n++) {
      const i = next++;
      const t0 = performance.now();
      try {
        await op(i);
        latencies.push(performance.now() - t0);
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = (performance.now() - started) / 1000;
  const endTicks = pid !== undefined ? cpuTicks(pid) : undefined;
  const cpu = process.cpuUsage(startCpu);
  latencies.sort((a, b) => a - b);
  return {
    ops: latencies.length,
    perSecond: Math.round(latencies.length / elapsed),
    p50Ms: Number(percentile(latencies, 50).toFixed(2)),
    p99Ms: Number(percentile(latencies, 99).toFixed(2)),
    errors,
    ...(startTicks !== undefined && endTicks !== undefined ? { cassandraCores: Number(((endTicks - startTicks) / hz / elapsed).toFixed(2)) } : {}),
    clientCores: Number(((cpu.user + cpu.system) / 1e6 / elapsed).toFixed(2)),
  };
}

export async function runStoreBench(options: StoreBenchOptions = {}): Promise<StoreBenchResult> {
  const spec = topologyNodes('1')[0]!;
  const durationMs = options.durationMs ?? 5000;
  const concurrency = options.concurrency ?? 32;
  const aorCount = options.aors ?? 2000;
  const pid = options.cassandraPid ?? runningPid(nodePaths(cassandraHome(), spec.name));
  const hz = clockTicks();
  const store = new CassandraLocationStore({
    contactPoints: [options.contactPoint ?? `${spec.ip}:${spec.cqlPort}`],
    localDataCenter: options.localDataCenter ?? spec.dc,
    keyspace: options.keyspace ?? 'sipflow_bench',
    readConsistency: 'LOCAL_ONE',
    writeConsistency: 'LOCAL_ONE',
    requestTimeoutMs: 5000,
  });
  try {
    await store.ping();
    const aors = Array.from({ length: aorCount }, (_, i) => `sip:bench${i}@example.com`);
    const binding = (aor: string, i: number): Binding => {
      const now = Date.now();
      const contact = `sip:ua${i % 3}@192.0.2.${i % 250}:5060;transport=ws`;
      return {
        aor,
        key: `urn:uuid:00000000-0000-4000-8000-${String(i % 3).padStart(12, '0')};1`,
        contact,
        instance: `urn:uuid:00000000-0000-4000-8000-${String(i % 3).padStart(12, '0')}`,
        regId: 1,
        q: 1,
        path: ['<sip:edge1.example.com;lr;ob>'],
        received: `ws:192.0.2.${i % 250}:40000`,
        callId: `bench-${i}`,
        cseq: i + 1,
        userAgent: 'sipflow-bench',
        expiresAt: now + 600_000,
        createdAt: now,
      };
    };
    const writes = await phase(durationMs, concurrency, pid, hz, async (i) => {
      const aor = aors[i % aors.length]!;
      await store.update(aor, [binding(aor, i)], []);
    });
    const lookups = await phase(durationMs, concurrency, pid, hz, async (i) => {
      const found = await store.lookup(aors[i % aors.length]!);
      if (found.length === 0) throw new Error('lookup found nothing');
    });
    return { writes, lookups, ...(pid !== undefined ? { cassandraPid: pid } : {}) };
  } finally {
    await store.close();
  }
}

export function formatStoreBench(r: StoreBenchResult): string {
  const line = (name: string, p: PhaseResult) =>
    `${name.padEnd(8)} ${String(p.perSecond).padStart(7)}/s  p50 ${p.p50Ms.toFixed(2)} ms  p99 ${p.p99Ms.toFixed(2)} ms  errors ${p.errors}  ` +
    `cassandra CPU ${p.cassandraCores !== undefined ? `${(p.cassandraCores * 100).toFixed(0)}% of a core` : 'unknown'}  bench CPU ${(p.clientCores * 100).toFixed(0)}%`;
  return `${line('writes', r.writes)}\n${line('lookups', r.lookups)}\n`;
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) {
  const seconds = Number(process.argv[2] ?? 5);
  const concurrency = Number(process.argv[3] ?? 32);
  const r = await runStoreBench({ durationMs: seconds * 1000, concurrency });
  process.stdout.write(formatStoreBench(r));
}
