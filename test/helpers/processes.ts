/** Spawns sipflow role processes from the built CLI and waits for their "ready" line; kills them by pid. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../bin/sipflow.js', import.meta.url));

export interface RoleProcess {
  child: ChildProcess;
  lines: string[];
  /** SIGTERM by default: the role drains (bounded by its --drain-timeout), then SIGKILL after `graceMs` (default 25 s). */
  kill(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

/**
 * `netns`: run the role inside that network namespace (`ip netns exec`, root only). `ip` execs node
 * without forking, so the child's pid is the role's and killing it kills the role.
 */
export async function startRole(args: string[], opts: { env?: NodeJS.ProcessEnv; readyTimeoutMs?: number; ready?: RegExp; nodeArgs?: string[]; netns?: string } = {}): Promise<RoleProcess> {
  const argv = [...(opts.nodeArgs ?? []), bin, ...args];
  const [command, commandArgs] = opts.netns === undefined ? [process.execPath, argv] : ['ip', ['netns', 'exec', opts.netns, process.execPath, ...argv]];
  const child = spawn(command, commandArgs, { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const ready = opts.ready ?? /"ready":true/;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args[0]} not ready in time; output:\n${lines.join('\n')}`)), opts.readyTimeoutMs ?? 30_000);
    for (const s of [child.stdout!, child.stderr!]) {
      createInterface({ input: s }).on('line', (l) => {
        // Bounded: a long-running node under attack logs a lot.
        if (lines.length < 2000) lines.push(l);
        if (ready.test(l)) {
          clearTimeout(timer);
          resolve();
        }
      });
    }
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${args[0]} exited with ${code} before ready:\n${lines.join('\n')}`));
    });
  });
  return {
    child,
    lines,
    kill: (signal = 'SIGTERM', graceMs = 25_000) =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
        child.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
        child.kill(signal);
      }),
  };
}
