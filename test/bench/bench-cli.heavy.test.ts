/**
 * `npm run bench -- <name>`: every scenario of the Kamailio comparison runs alone by its name, and
 * such a partial run leaves BENCHMARKS.md's whole comparison as it is. Runs the real script (it
 * builds, starts Kamailio and the floor's servers), with the shortest settings.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bench = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, ['scripts/bench.mjs', ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '', ...env }, timeout: 300_000 });

t.test('an unknown name is refused with the list of what exists, the comparison scenarios included', async (t) => {
  const r = bench(['no-such-scenario']);
  t.equal(r.status, 2);
  t.match(r.stderr, /unknown benchmark no-such-scenario/);
  for (const name of ['parser', 'kamailio', 'register', 'calls', 'idle', 'udp', 'cassandra', 'floor']) t.match(r.stderr, new RegExp(`\\b${name}\\b`), `lists ${name}`);
});

t.test('`npm run bench -- floor` runs that comparison scenario alone against Kamailio and leaves BENCHMARKS.md alone', async (t) => {
  const file = join(root, 'BENCHMARKS.md');
  const before = readFileSync(file, 'utf8');
  const r = bench(['floor'], { SIPFLOW_BENCH_REPS: '1', SIPFLOW_BENCH_SECONDS: '1', SIPFLOW_BENCH_WARMUP: '0', SIPFLOW_BENCH_UAS: '10' });
  t.equal(r.status, 0, 'exit 0', { stderr: r.stderr.slice(-2000) });
  t.match(r.stdout, /scenarios floor\n/, 'the comparison ran the floor scenario only');
  t.match(r.stdout, /floor: Kamailio #1: \d+\/s, CPU [\d.]+ µs\/op/, 'Kamailio measured');
  t.match(r.stdout, /floor: one hop #1: \d+\/s, CPU [\d.]+ µs\/op/, 'the floor measured');
  t.match(r.stdout, /floor: sipflow edges \+ answering core #1: \d+\/s/, "sipflow's edges in front of the floor measured");
  t.notMatch(r.stdout, /\n  register sipflow/, 'no other scenario ran');
  t.match(r.stdout, /BENCHMARKS\.md left as it is/);
  t.equal(readFileSync(file, 'utf8'), before, 'BENCHMARKS.md unchanged');
});

t.test('`npm run bench -- idle` splits a count of flows past one process over load processes, edges and Kamailio instances', async (t) => {
  // 60 flows at 25 per process stands for 50,000 at the 19,000 a process holds under ulimit -n 20000.
  const r = bench(['idle'], { SIPFLOW_BENCH_REPS: '1', SIPFLOW_BENCH_FLOWS: '20,60', SIPFLOW_BENCH_FLOWS_PER_PROCESS: '25', SIPFLOW_BENCH_IDLE_HOLD: '1' });
  t.equal(r.status, 0, 'exit 0', { stderr: r.stderr.slice(-2000) });
  t.match(r.stdout, /== idle registered WebSocket flows ×20\n/, '20 flows: one process a side, no split');
  t.match(r.stdout, /idle-20 sipflow #1: 20\/20 flows over 2 WebSocket listeners/);
  t.match(r.stdout, /idle-20 kamailio #1: 20\/20 flows over 2 WebSocket listeners/);
  t.match(r.stdout, /== idle registered WebSocket flows ×60 \(over 3 load processes; sipflow 3 edges, Kamailio 3 instances\)/);
  t.match(r.stdout, /idle-60 sipflow #1: 60\/60 flows over 3 WebSocket listeners, PSS -?[\d.]+ KiB\/flow/, 'sipflow: all 60 flows held by three edges');
  t.match(r.stdout, /idle-60 kamailio #1: 60\/60 flows over 6 WebSocket listeners, PSS -?[\d.]+ KiB\/flow/, 'Kamailio: all 60 flows held by three instances');
  t.match(r.stdout, /Idle registered WS flows ×60: PSS per flow/, 'the table has the 60-flow rows');
  t.match(r.stdout, /goal: memory per idle registered WS flow, edge\+core ≤ 1\/16 of Kamailio \(×20 flows\)/);
  t.match(r.stdout, /goal: memory per idle registered WS flow, edge\+core ≤ 1\/16 of Kamailio \(×60 flows\)/, 'the goal is checked at both counts');
  t.match(r.stdout, /note: Idle flows ×60: one process may hold 25 flows here/, 'the report says why and how it split');
  t.notMatch(r.stdout, /FAILED/);
});
