/**
 * Starts the local cluster's processes, prefixes their output with the node's name, waits for each
 * one's "ready" log line, and on stop signals exactly the pids it started (SIGTERM, then SIGKILL
 * after a grace period) so Ctrl-C leaves nothing running.
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
}

export interface Supervised {
  name: string;
  pid: number;
  child: ChildProcess;
}

export class Supervisor {
  readonly #procs: Supervised[] = [];
  readonly #out: (line: string) => void;
  #stopping = false;
  onUnexpectedExit?: (name: string, code: number | null, signal: NodeJS.Signals | null) => void;

  constructor(out: (line: string) => void = (l) => process.stdout.write(l + '\n')) {
    this.#out = out;
  }

  get processes(): readonly Supervised[] {
    return this.#procs;
  }

  async start(spec: ProcessSpec): Promise<Supervised> {
    const child = spawn(spec.command, spec.args, { env: { ...process.env, ...spec.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    if (child.pid === undefined) throw new Error(`could not start ${spec.name} (${spec.command})`);
    const entry: Supervised = { name: spec.name, pid: child.pid, child };
    this.#procs.push(entry);
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

  /** Stops in reverse start order: edges before cores before the store. */
  async stopAll(graceMs = 5000): Promise<void> {
    this.#stopping = true;
    for (const p of [...this.#procs].reverse()) await stopOne(p, graceMs);
    this.#procs.length = 0;
  }
}

async function stopOne(p: Supervised, graceMs: number): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => p.child.once('exit', () => resolve()));
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}
