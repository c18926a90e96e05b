/**
 * The local cluster's process supervisor: every node in a process group of its own (so Ctrl-C in a
 * terminal reaches the launcher alone), stopped one at a time in reverse order with its own grace,
 * hurried by a second signal, and killed by the launcher's exit hook if the launcher ends first.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Supervisor } from '../../../deploy/cluster/supervisor.js';

/** A node stand-in: ready at once; on SIGTERM it "drains" for `drainMs`, a second SIGTERM ends it now. */
const node = (name: string, drainMs: number, ignoreTerm = false) => ({
  name,
  command: process.execPath,
  args: [
    '-e',
    ignoreTerm
      ? `process.on('SIGTERM', () => console.log('ignoring SIGTERM')); console.log('ready'); setInterval(() => {}, 1000);`
      : `let n = 0; process.on('SIGTERM', () => { n++; console.log('SIGTERM ' + n); if (n === 2) process.exit(0); setTimeout(() => process.exit(0), ${drainMs}); }); console.log('ready'); setInterval(() => {}, 1000);`,
  ],
  readyWhen: /ready/,
});

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const pgid = (pid: number): number => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[2]);

t.test('each node leads a process group of its own, apart from the launcher', async (t) => {
  const sup = new Supervisor(() => {});
  t.teardown(() => sup.stopAll());
  const a = await sup.start(node('a', 0));
  t.equal(pgid(a.pid), a.pid, 'the node is its own group leader');
  t.not(pgid(a.pid), pgid(process.pid), "not in the launcher's group, which a terminal's Ctrl-C signals");
});

t.test('stopAll stops one at a time in reverse start order, each drain allowed to finish, and says so', async (t) => {
  const lines: string[] = [];
  const sup = new Supervisor((l) => lines.push(l));
  const first = await sup.start({ ...node('core-1', 300), stopGraceMs: 5000 });
  const second = await sup.start({ ...node('edge-1', 300), stopGraceMs: 5000 });
  const started = Date.now();
  await sup.stopAll();
  const took = Date.now() - started;
  t.ok(took >= 550, `the two 300 ms drains ran one after the other (${took} ms)`);
  t.notOk(alive(first.pid) || alive(second.pid), 'both gone');
  const ours = lines.filter((l) => l.startsWith('[cluster]'));
  t.match(ours[0], /^\[cluster\] stopping edge-1 \(pid \d+\)$/);
  t.match(ours[1], /^\[cluster\] edge-1 stopped after 0\.\d s$/);
  t.match(ours[2], /^\[cluster\] stopping core-1/);
  t.match(ours[3], /^\[cluster\] core-1 stopped after/);
  t.equal(lines.filter((l) => /SIGTERM 1/.test(l)).length, 2, 'each node got exactly one SIGTERM: it drained, not stopped at once');
  t.notOk(lines.some((l) => /SIGTERM 2/.test(l)));
});

t.test('a node that outlives its own grace is killed, and the line says so', async (t) => {
  const lines: string[] = [];
  const sup = new Supervisor((l) => lines.push(l));
  const stubborn = await sup.start({ ...node('stubborn', 0, true), stopGraceMs: 400 });
  const started = Date.now();
  await sup.stopAll();
  t.ok(Date.now() - started < 3000, 'not the default grace');
  t.notOk(alive(stubborn.pid));
  t.ok(lines.some((l) => l === '[cluster] stubborn still running 0.4 s after SIGTERM: SIGKILL'), lines.join('\n'));
});

t.test('hurry (a second Ctrl-C) cuts the drains short: the one draining and the ones not reached yet', async (t) => {
  const lines: string[] = [];
  const sup = new Supervisor((l) => lines.push(l));
  await sup.start({ ...node('core-1', 20_000), stopGraceMs: 30_000 });
  await sup.start({ ...node('edge-1', 20_000), stopGraceMs: 30_000 });
  const started = Date.now();
  const stopping = sup.stopAll();
  await new Promise((r) => setTimeout(r, 300));
  sup.hurry();
  await stopping;
  const took = Date.now() - started;
  t.ok(took < 5000, `both stopped well before their 20 s drains (${took} ms)`);
  t.equal(lines.filter((l) => /SIGTERM 2/.test(l)).length, 2, 'each took the second SIGTERM as "stop now"');
});

t.test("a launcher that exits without stopping its nodes takes them with it (the exit hook)", async (t) => {
  const supervisorModule = fileURLToPath(new URL('../../../deploy/cluster/supervisor.ts', import.meta.url));
  const script = `
    import { Supervisor } from ${JSON.stringify(supervisorModule)};
    const sup = new Supervisor(() => {});
    const p = await sup.start({ name: 'orphan', command: process.execPath, args: ['-e', "console.log('ready'); setInterval(() => {}, 1000)"], readyWhen: /ready/ });
    console.log('PID ' + p.pid);
    process.exit(0);
  `;
  const r = spawnSync(process.execPath, [...process.execArgv, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  const pid = Number(/PID (\d+)/.exec(r.stdout)?.[1]);
  t.ok(pid > 0, `the launcher started its node (${r.stderr.slice(-500)})`);
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline && alive(pid)) await new Promise((res) => setTimeout(res, 50));
  t.notOk(alive(pid), 'the node did not outlive its launcher');
  if (alive(pid)) process.kill(pid, 'SIGKILL');
});

