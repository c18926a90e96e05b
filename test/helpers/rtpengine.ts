/** Starts a real rtpengine in userspace with the flags from RECIPES.md; stops it by pid. */
import { spawn, type ChildProcess } from 'node:child_process';
import { RtpengineClient } from '../../core/media/rtpengine-client.js';

export interface RunningRtpengine {
  ng: { host: string; port: number };
  stop(): Promise<void>;
}

export async function startRtpengine(opts: { ngPort: number; portMin: number; portMax: number; host?: string }): Promise<RunningRtpengine> {
  const host = opts.host ?? '127.0.0.1';
  const child: ChildProcess = spawn(
    'rtpengine',
    ['--config-file=none', '--table=-1', '--foreground', '--log-stderr', '--no-log-timestamps', '-L', '4', `--interface=${host}`, `--listen-ng=${host}:${opts.ngPort}`, `--port-min=${opts.portMin}`, `--port-max=${opts.portMax}`, '--delete-delay=0', '--dtls-passive'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr = (stderr + d.toString()).slice(-4000)));
  const client = new RtpengineClient({ instances: [{ host, port: opts.ngPort }], timeoutMs: 200, attempts: 1 });
  try {
    for (let i = 0; i < 40; i++) {
      if (child.exitCode !== null) throw new Error(`rtpengine exited (${child.exitCode}): ${stderr}`);
      try {
        await client.ping();
        break;
      } catch {
        if (i === 39) throw new Error(`rtpengine did not answer ng ping within 8 s: ${stderr}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  } finally {
    client.close();
  }
  return {
    ng: { host, port: opts.ngPort },
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        const t = setTimeout(() => child.kill('SIGKILL'), 3000);
        child.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}
