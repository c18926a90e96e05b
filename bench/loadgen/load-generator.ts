/**
 * The load generator's public face: one LoadPlan, run in this thread or split over worker threads
 * or child processes (each a LoadEngine with its share of the UAs), phase by phase so the caller can read the
 * servers' CPU and memory between phases:
 *
 *   const load = LoadGenerator.create(plan, { workers: 2 });
 *   await load.prepare();   // connect and register everything once (not measured)
 *   ...sample /proc...
 *   const r = await load.run();   // the closed loop: REGISTER/s or calls/s, latency p50/p99
 *   ...sample /proc...
 *   await load.close();
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { EngineCommand, EngineReply } from './engine-host.js';
import { summarize, type LatencySummary } from './latency.js';
import { LoadEngine, type LoadPlan, type PhaseResult } from './load-engine.js';

export type { LoadPlan, LoadMode, PhaseResult } from './load-engine.js';
export type { LatencySummary } from './latency.js';

export interface LoadResult {
  ops: number;
  /** ops per second over the phase. */
  rate: number;
  elapsedMs: number;
  latency: LatencySummary;
  /** Every error, by kind; `errors` is their sum. */
  failures: Record<string, number>;
  errors: number;
  errorSamples: string[];
  /** Protocol deviations that did not stop the transaction (see PhaseResult.warnings). */
  warnings: Record<string, number>;
  duplicates: number;
  /** The callees' 2xx retransmissions (no ACK yet after T1, 2*T1, ...). */
  retransmits: number;
  sent: number;
  received: number;
  openConnections: number;
}

export interface LoadGeneratorOptions {
  /** 0 runs the engine in this thread (tests; TypeScript sources). Default 0. */
  workers?: number;
  /**
   * The `workers` parts run as child processes instead of threads: each its own open-file limit,
   * for more flows than one process may hold. Default false.
   */
  processes?: boolean;
}

interface Part {
  call(op: 'prepare' | 'run' | 'close', durationMs?: number): Promise<PhaseResult | undefined>;
}

/** Splits a plan into `n` plans with disjoint UAs (and UDP ports). */
export function splitPlan(plan: LoadPlan, n: number): LoadPlan[] {
  const parts = Math.max(1, Math.min(n, plan.count, plan.udpPorts?.length ?? Infinity));
  const out: LoadPlan[] = [];
  let offset = plan.idOffset ?? 0;
  for (let i = 0; i < parts; i++) {
    const count = Math.floor(plan.count / parts) + (i < plan.count % parts ? 1 : 0);
    const part: LoadPlan = { ...plan, count, idOffset: offset };
    if (plan.udpPorts) {
      const per = Math.floor(plan.udpPorts.length / parts);
      part.udpPorts = plan.udpPorts.slice(i * per, i === parts - 1 ? undefined : (i + 1) * per);
    }
    if (plan.concurrency) part.concurrency = Math.max(1, Math.ceil(plan.concurrency / parts));
    out.push(part);
    offset += count;
  }
  return out;
}

export function mergeResults(parts: PhaseResult[]): LoadResult {
  const failures: Record<string, number> = {};
  const warnings: Record<string, number> = {};
  for (const p of parts) for (const [k, v] of Object.entries(p.failures)) failures[k] = (failures[k] ?? 0) + v;
  for (const p of parts) for (const [k, v] of Object.entries(p.warnings)) warnings[k] = (warnings[k] ?? 0) + v;
  const ops = parts.reduce((s, p) => s + p.ops, 0);
  const elapsedMs = Math.max(0, ...parts.map((p) => p.elapsedMs));
  return {
    ops,
    rate: elapsedMs > 0 ? (ops * 1000) / elapsedMs : 0,
    elapsedMs,
    latency: summarize(parts.map((p) => p.latency)),
    failures,
    errors: Object.values(failures).reduce((s, v) => s + v, 0),
    errorSamples: parts.flatMap((p) => p.errorSamples).slice(0, 8),
    warnings,
    duplicates: parts.reduce((s, p) => s + p.duplicates, 0),
    retransmits: parts.reduce((s, p) => s + p.retransmits, 0),
    sent: parts.reduce((s, p) => s + p.sent, 0),
    received: parts.reduce((s, p) => s + p.received, 0),
    openConnections: parts.reduce((s, p) => s + p.openConnections, 0),
  };
}

function inline(plan: LoadPlan): Part {
  const engine = new LoadEngine(plan);
  return {
    async call(op, durationMs) {
      if (op === 'prepare') return engine.prepare();
      if (op === 'run') return engine.run(durationMs);
      engine.close();
      return undefined;
    },
  };
}

/** What a worker thread and a child process have in common, as far as driving an engine goes. */
interface Host {
  on(event: 'message', listener: (m: EngineReply | { op: 'plan' }) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'exit', listener: (code: number | null) => void): unknown;
  off(event: string, listener: (...args: never[]) => void): unknown;
  once(event: 'exit', listener: () => void): unknown;
}

/** A part whose engine runs in `host`; `post` sends it one command. */
function remote(host: Host, post: (cmd: EngineCommand) => void, what: string, ready: Promise<void> = Promise.resolve()): Part & { exited: Promise<void> } {
  let gone = false;
  const exited = new Promise<void>((resolve) => host.once('exit', () => {
    gone = true;
    resolve();
  }));
  return {
    exited,
    async call(op, durationMs) {
      await ready;
      if (gone) throw new Error(`${what} exited`);
      return new Promise((resolve, reject) => {
        const onMessage = (m: EngineReply | { op: 'plan' }): void => {
          if (m.op !== op) return;
          cleanup();
          const reply = m as EngineReply;
          if (reply.error) reject(new Error(`${what}: ${reply.error}`));
          else resolve(reply.result);
        };
        const onError = (err: Error): void => {
          cleanup();
          reject(err);
        };
        const onExit = (code: number | null): void => {
          cleanup();
          if (op === 'close') resolve(undefined);
          else reject(new Error(`${what} exited with ${code}`));
        };
        const cleanup = (): void => {
          host.off('message', onMessage);
          host.off('error', onError);
          host.off('exit', onExit);
        };
        host.on('message', onMessage);
        host.on('error', onError);
        host.on('exit', onExit);
        post({ op, ...(durationMs !== undefined ? { durationMs } : {}) });
      });
    },
  };
}

/** Flags of this process that mean nothing to a worker or a child (node -e's, --cpu-prof). */
function hostExecArgv(): string[] {
  return process.execArgv.filter((a) => !a.startsWith('--input-type') && !a.startsWith('--cpu-prof'));
}

function threaded(plan: LoadPlan): Part {
  const worker = new Worker(new URL('./load-worker.js', import.meta.url), { workerData: plan, execArgv: hostExecArgv() });
  return remote(worker as unknown as Host, (cmd) => worker.postMessage(cmd), 'load worker');
}

/**
 * A part in a child process of its own, with `ulimit -n` raised to the hard limit (bash's exec keeps
 * the IPC descriptor): each process holds up to that many flows. From TypeScript sources (tests)
 * the child runs the .ts host with this process's loader flags.
 */
function forked(plan: LoadPlan): Part {
  const script = fileURLToPath(new URL(`./load-process.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url));
  const child = spawn('bash', ['-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"', 'bash', process.execPath, ...hostExecArgv(), script], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
  });
  const ready = new Promise<void>((resolve, reject) => {
    const onMessage = (m: { op: string }): void => {
      if (m.op !== 'plan') return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve();
    };
    const onExit = (code: number | null): void => reject(new Error(`load process exited with ${code} before it took its plan`));
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
  ready.catch(() => undefined);
  child.send({ op: 'plan', plan });
  const part = remote(child as unknown as Host, (cmd) => child.send(cmd), `load process ${child.pid}`, ready);
  return {
    async call(op, durationMs) {
      const r = await part.call(op, durationMs);
      if (op === 'close') {
        // The child ends itself once it has closed its flows; one that hangs is not waited for long.
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await part.exited;
        clearTimeout(timer);
      }
      return r;
    },
  };
}

export class LoadGenerator {
  readonly plan: LoadPlan;
  readonly #parts: Part[];
  #closed = false;

  private constructor(plan: LoadPlan, parts: Part[]) {
    this.plan = plan;
    this.#parts = parts;
  }

  static create(plan: LoadPlan, options: LoadGeneratorOptions = {}): LoadGenerator {
    const workers = options.workers ?? 0;
    if (workers <= 0) return new LoadGenerator(plan, [inline(plan)]);
    return new LoadGenerator(plan, splitPlan(plan, workers).map(options.processes ? forked : threaded));
  }

  /** Connects and registers every UA once. */
  async prepare(): Promise<LoadResult> {
    return mergeResults((await Promise.all(this.#parts.map((p) => p.call('prepare')))) as PhaseResult[]);
  }

  /** The closed loop, for `durationMs` or the plan's duration. */
  async run(durationMs?: number): Promise<LoadResult> {
    return mergeResults((await Promise.all(this.#parts.map((p) => p.call('run', durationMs)))) as PhaseResult[]);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.allSettled(this.#parts.map((p) => p.call('close')));
  }
}
