/**
 * Ctrl-C on `sipflow cluster`, as a terminal sends it: SIGINT to the launcher's whole process
 * group. The nodes run in groups of their own, so only the launcher hears it; it stops the edges
 * first, one at a time, each with one SIGTERM that it drains on (not a second signal that would
 * cut the drain), and leaves nothing running. A second Ctrl-C stops them at once.
 *
 * The cluster runs in a network namespace of this test, so rtpengine's fixed ports and the
 * cluster's own cannot meet anything else on the machine.
 */
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deleteNamespace, pidsIn, requireRoot, run } from '../../helpers/netns.js';
import { until } from '../../helpers/browser.js';
import { within } from '../../faults/fixtures/bounded.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const NS = 'sfcluster-ctrlc';

/** Starts the cluster as a terminal's foreground job would: a process group of its own. */
async function startCluster(t: Test): Promise<{ pid: number; output: () => string; exited: Promise<number | null> }> {
  requireRoot('the cluster Ctrl-C test');
  deleteNamespace(NS);
  run('ip', ['netns', 'add', NS]);
  run('ip', ['netns', 'exec', NS, 'ip', 'link', 'set', 'lo', 'up']);
  t.teardown(() => deleteNamespace(NS));
  const child = spawn(
    'ip',
    ['netns', 'exec', NS, process.execPath, join(root, 'bin', 'sipflow.js'), 'cluster', '--store', 'memory', '--auth', 'off', '--edges', '2', '--cores', '1',
      '--host', '127.0.0.1', '--demo-port', '27400', '--edge-ws-base-port', '27401', '--core-base-port', '27410', '--edge-udp-base-port', '27430', '--metrics-base-port', '27450'],
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SIPFLOW_LOG_LEVEL: 'info' } },
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await until('the cluster to be up', () => {
    if (child.exitCode !== null) throw new Error(`sipflow cluster exited (${child.exitCode}):\n${out.slice(-3000)}`);
    return /Ctrl-C stops everything/.test(out);
  }, 60_000, 100);
  return { pid: child.pid!, output: () => out, exited };
}

t.test('one Ctrl-C: only the launcher hears it; edges first, one at a time, each drains on its single SIGTERM', async (t) => {
  const c = await startCluster(t);
  const nodePids = [...c.output().matchAll(/pid (\d+)/g)].map((m) => Number(m[1])).filter((p) => p !== c.pid);
  t.ok(nodePids.length >= 2, `the launcher started its node processes (${nodePids.join(', ')})`);
  process.kill(-c.pid, 'SIGINT');
  const code = await within(c.exited, 60_000, 'the cluster stopping');
  const out = c.output();
  t.equal(code, 0, 'the launcher exits 0');
  t.match(out, /\[cluster\] SIGINT: stopping every node it started, edges first; each drains/);
  for (const edge of ['edge-1', 'edge-2']) {
    const draining = out.split('\n').filter((l) => l.startsWith(edge) && l.includes('edge draining'));
    t.equal(draining.length, 1, `${edge} started one drain`);
    t.match(draining[0] ?? '', /"signal":"SIGTERM"/, `${edge} drained on the launcher's SIGTERM, not the terminal's SIGINT`);
    t.notOk(out.split('\n').some((l) => l.startsWith(edge) && l.includes('second signal during the drain')), `${edge} was not cut short by a second signal`);
    t.match(out, new RegExp(`\\[cluster\\] ${edge} stopped after \\d+\\.\\d s`), `${edge}: how long its stop took`);
  }
  const at = (s: string): number => out.indexOf(s);
  t.ok(at('[cluster] stopping edge-2') >= 0 && at('[cluster] stopping edge-2') < at('[cluster] stopping edge-1'), 'the last edge started stops first');
  t.ok(at('[cluster] edge-2 stopped') < at('[cluster] stopping edge-1'), 'one at a time: edge-1 only once edge-2 has stopped');
  t.match(out, /^\s+rtpengine\s+rtpengine\s/m, 'rtpengine ran too (Debian rtpengine-daemon)');
  t.ok(at('[cluster] stopping rtpengine') > at('[cluster] edge-1 stopped'), 'rtpengine after the edges');
  t.match(out, /\[cluster\] stopped\n/);
  t.same(pidsIn(NS), [], 'nothing left running in the namespace');
});

t.test('a second Ctrl-C stops the nodes at once, and still nothing is left', async (t) => {
  const c = await startCluster(t);
  process.kill(-c.pid, 'SIGINT');
  await until('the stop to begin', () => /\[cluster\] stopping edge-2/.test(c.output()), 10_000, 20);
  process.kill(-c.pid, 'SIGINT');
  const code = await within(c.exited, 30_000, 'the cluster stopping');
  t.equal(code, 0);
  t.match(c.output(), /\[cluster\] SIGINT: stopping the nodes at once/);
  t.match(c.output(), /\[cluster\] stopped\n/);
  t.same(pidsIn(NS), [], 'nothing left running in the namespace');
});
