/**
 * Starts the local cluster's processes, prefixes their output with the node's name, waits for each
 * one's "ready" log line, and on stop signals exactly the pids it started (SIGTERM, then SIGKILL
 * after each one's grace period) so Ctrl-C leaves nothing running.
 *
 * Each process runs in a process group of its own: Ctrl-C in a terminal signals the whole
 * foreground group, and a node that got that SIGINT and then the launcher's SIGTERM would take the
 * second as "stop now" and skip its drain. So only the launcher hears Ctrl-C, and it stops the nodes
 * one at a time, each given the time its drain may take. Being detached, the nodes would outlive a
 * launcher that dies without stopping them; its exit hook kills what is left.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface ProcessSpec {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** A line matching this marks the process as ready ... */
  readyWhen?: RegExp;
  /** ... or this probe resolving true (polled every 100 ms), for daemons that print nothing when up. */
  probe?: () => Promise<boolean>;
  readyTimeoutMs?: number;
  /** How long a stop waits after SIGTERM before SIGKILL: longer than the node's drain. Default 5000. */
  stopGraceMs?: number;
}

export interface Supervised {
  name: string;
  pid: number;
  child: ChildProcess;
  stopGraceMs: number;
}

const DEFAULT_STOP_GRACE_MS = 5000;

const running = (p: Supervised): boolean => p.child.exitCode === null && p.child.signalCode === null;

export class Supervisor {
  readonly #procs: Supervised[] = [];
  readonly #out: (line: string) => void;
  #stopping = false;
  #exitHook: (() => void) | undefined;
  onUnexpectedExit?: (name: string, code: number | null, signal: NodeJS.Signals | null) => void;

  constructor(out: (line: string) => void = (l) => process.stdout.write(l + '\n')) {
    this.#out = out;
  }

  get processes(): readonly Supervised[] {
    return this.#procs;
  }

  async start(spec: ProcessSpec): Promise<Supervised> {
    const child = spawn(spec.command, spec.args, { env: { ...process.env, ...spec.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    if (child.pid === undefined) throw new Error(`could not start ${spec.name} (${spec.command})`);
    const entry: Supervised = { name: spec.name, pid: child.pid, child, stopGraceMs: spec.stopGraceMs ?? DEFAULT_STOP_GRACE_MS };
    this.#procs.push(entry);
    if (!this.#exitHook) {
      this.#exitHook = () => {
        for (const p of this.#procs) if (running(p)) p.child.kill('SIGKILL');
      };
      process.on('exit', this.#exitHook);
    }
    const width = 10;
    const prefix = spec.name.padEnd(width).slice(0, width) + ' | ';
    let ready = false;
    let resolveReady!: () => void;
    let rejectReady!: (e: Error) => void;
    const readyPromise = new Promise<void>((res, rej) => {
      resolveReady = res;
      rejectReady = rej;
    });
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => {
        this.#out(prefix + line);
        if (!ready && spec.readyWhen?.test(line)) {
          ready = true;
          resolveReady();
        }
      });
    }
    child.on('exit', (code, signal) => {
      if (!ready) rejectReady(new Error(`${spec.name} exited (code ${code}, signal ${signal}) before it was ready; see its lines above`));
      if (!this.#stopping) this.onUnexpectedExit?.(spec.name, code, signal);
    });
    if (spec.probe) {
      const probe = spec.probe;
      void (async () => {
        while (!ready && child.exitCode === null) {
          if (await probe().catch(() => false)) {
            ready = true;
            resolveReady();
            return;
          }
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
    }
    const timeout = setTimeout(() => rejectReady(new Error(`${spec.name} not ready after ${(spec.readyTimeoutMs ?? 30_000) / 1000} s`)), spec.readyTimeoutMs ?? 30_000);
    try {
      await readyPromise;
    } finally {
      clearTimeout(timeout);
    }
    return entry;
  }

  /**
   * Stops in reverse start order, one at a time: edges before cores before rtpengine, so a core
   * still answers while the edges drain what they forwarded to it.
   */
  async stopAll(): Promise<void> {
    this.#stopping = true;
    for (const p of [...this.#procs].reverse()) await this.#stopOne(p);
    this.#procs.length = 0;
    if (this.#exitHook) process.off('exit', this.#exitHook);
    this.#exitHook = undefined;
  }

  /**
   * Stop now rather than drain (a second Ctrl-C): SIGTERM to every process still running. The one
   * draining takes it as its second signal and stops; the others start their drain, and the stop
   * that reaches them sends the second.
   */
  hurry(): void {
    for (const p of this.#procs) if (running(p)) p.child.kill('SIGTERM');
  }

  async #stopOne(p: Supervised): Promise<void> {
    if (!running(p)) return;
    const started = Date.now();
    this.#out(`[cluster] stopping ${p.name} (pid ${p.pid})`);
    const exited = new Promise<void>((resolve) => p.child.once('exit', () => resolve()));
    p.child.kill('SIGTERM');
    const timer = setTimeout(() => {
      this.#out(`[cluster] ${p.name} still running ${p.stopGraceMs / 1000} s after SIGTERM: SIGKILL`);
      p.child.kill('SIGKILL');
    }, p.stopGraceMs);
    await exited;
    clearTimeout(timer);
    this.#out(`[cluster] ${p.name} stopped after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
}
