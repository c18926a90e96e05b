import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { FakeCore } from './fixtures/fake-core.js';
import { SipWsClient, invite, register } from './fixtures/sip-ws-client.js';
import { createResponse } from '../../sip/message/factory.js';

const entry = fileURLToPath(new URL('./fixtures/run-edge-cli.ts', import.meta.url));
/** The TypeScript loader tap runs this file with, so the child runs the CLI from source too. */
const loader = process.execArgv.filter((a) => a.includes('typescript'));

function edgeCli(args: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; lines: string[]; stderr: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [...loader, entry, 'edge', ...args], {
    env: { ...process.env, NODE_OPTIONS: '', SIPFLOW_SECRET: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let err = '';
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts.filter(Boolean));
  });
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, lines, stderr: () => err, exit };
}

async function waitForLine(lines: string[], pred: (l: Record<string, unknown>) => boolean, timeoutMs = 15_000): Promise<Record<string, unknown>> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    for (const l of lines) {
      try {
        const j = JSON.parse(l) as Record<string, unknown>;
        if (pred(j)) return j;
      } catch {
        // not JSON
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no matching log line; got ${lines.join('\n')}`);
}

t.test('sipflow edge: logs one ready line, serves, and exits 0 on SIGTERM', async (t) => {
  const core = await FakeCore.start();
  t.teardown(() => core.close());
  const run = edgeCli(['--ws', '127.0.0.1:0', '--udp', '127.0.0.1:0', '--core', `127.0.0.1:${core.port}`, '--metrics', '127.0.0.1:0', '--max-flows-per-ip', '5'], {
    SIPFLOW_SECRET: 'cli-test-secret-0123456789',
  });
  t.teardown(() => run.child.kill('SIGKILL'));
  const ready = await waitForLine(run.lines, (j) => j.msg === 'edge ready');
  t.equal(ready.ready, true);
  t.equal(ready.uws, 'native', 'the ready line says the native uWS runs');
  t.equal(run.lines.filter((l) => l.includes('"level":"info"')).length, 1, 'exactly one info line when ready');
  t.notOk(run.lines.some((l) => /development secret/i.test(l)), 'no dev-secret warning when SIPFLOW_SECRET is set');
  const wsPort = Number(String(ready.ws).split(':').pop());
  const client = await SipWsClient.connect(`ws://127.0.0.1:${wsPort}/`);
  client.send(register());
  const ok = await client.waitForSip(/^SIP\/2.0 200/);
  t.ok(ok.get('Path'), 'the CLI-run edge adds Path');
  const metricsPort = Number(String(ready.metrics).split(':').pop());
  const status = (await (await fetch(`http://127.0.0.1:${metricsPort}/status`)).json()) as { role: string; flowsOpen: number };
  t.equal(status.role, 'edge');
  t.equal(status.flowsOpen, 1);
  const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  t.match(metrics, /^sipflow_edge_process_resident_memory_bytes \d+/m, 'process metrics exported by the CLI-run edge');
  run.child.kill('SIGTERM');
  t.equal(await run.exit, 0, 'clean exit');
  await client.waitClosed();
  t.pass('the browser connection was closed by the shutdown');
});

t.test('sipflow edge: SIGTERM drains (an INVITE on its way gets its answer, then 1001); a second SIGTERM stops at once', async (t) => {
  const core = await FakeCore.start();
  t.teardown(() => core.close());
  let answer: (() => void) | undefined;
  core.onRequest = (req, reply) => {
    if (req.method !== 'INVITE') return false;
    answer = () => reply(createResponse(req, 486, 'Busy Here', { toTag: true }));
    return true;
  };
  const start = async () => {
    const run = edgeCli(['--ws', '127.0.0.1:0', '--udp', '127.0.0.1:0', '--core', `127.0.0.1:${core.port}`, '--drain-timeout', '20000'], { SIPFLOW_SECRET: 'cli-test-secret-0123456789' });
    t.teardown(() => run.child.kill('SIGKILL'));
    const ready = await waitForLine(run.lines, (j) => j.msg === 'edge ready');
    const client = await SipWsClient.connect(`ws://127.0.0.1:${Number(String(ready.ws).split(':').pop())}/`);
    client.send(invite());
    await core.waitFor((r) => r.message.kind === 'request' && r.message.method === 'INVITE' && r.from.port === Number(String(ready.udp).split(':').pop()));
    return { run, client };
  };

  const first = await start();
  first.run.child.kill('SIGTERM');
  const draining = await waitForLine(first.run.lines, (j) => j.msg === 'edge draining: no new work; a second signal stops at once');
  t.equal(draining.drainTimeoutMs, 20000, 'the drain is logged with its bound');
  t.equal(first.client.closed, false, 'the flow stays open while its INVITE waits');
  answer!();
  t.equal((await first.client.waitForSip(/^SIP\/2.0 486/)).kind, 'response', 'the answer reaches the browser during the drain');
  t.equal(await first.client.waitClosed(), 1001, 'then the flow is closed with 1001');
  t.equal(await first.run.exit, 0, 'clean exit');
  t.ok(first.run.lines.some((l) => l.includes('"msg":"edge drained"')), 'logged as drained');

  answer = undefined;
  const second = await start();
  const started = Date.now();
  second.run.child.kill('SIGTERM');
  await waitForLine(second.run.lines, (j) => j.msg === 'edge draining: no new work; a second signal stops at once');
  second.run.child.kill('SIGTERM');
  t.equal(await second.run.exit, 0, 'the second SIGTERM: clean exit');
  t.ok(Date.now() - started < 10_000, 'long before the 20 s drain timeout');
  t.ok(second.run.lines.some((l) => l.includes('second signal during the drain')), 'logged');
  t.equal(await second.client.waitClosed(), 1001, 'the flow still gets 1001');
});

t.test('sipflow edge: without a secret it warns loudly', async (t) => {
  const core = await FakeCore.start();
  t.teardown(() => core.close());
  const run = edgeCli(['--ws', '127.0.0.1:0', '--core', `127.0.0.1:${core.port}`]);
  t.teardown(() => run.child.kill('SIGKILL'));
  await waitForLine(run.lines, (j) => j.msg === 'edge ready');
  const warn = await waitForLine(run.lines, (j) => j.level === 'warn' && /secret/i.test(String(j.msg)));
  t.match(String(warn.msg), /development secret/i);
  run.child.kill('SIGINT');
  t.equal(await run.exit, 0);
});

t.test('sipflow edge: bad options fail with one line and exit code 2', async (t) => {
  const cases: Array<[string, string[], NodeJS.ProcessEnv, RegExp]> = [
    ['missing --core', ['--ws', '127.0.0.1:0'], {}, /--core/],
    ['port out of range', ['--ws', '127.0.0.1:99999', '--core', '127.0.0.1:5060'], {}, /--ws: expected HOST:PORT/],
    ['--wss without a key', ['--ws', '127.0.0.1:0', '--core', '127.0.0.1:5060', '--wss', '127.0.0.1:0'], {}, /--wss: needs --cert and --key/],
    ['idle timeout uWS refuses', ['--ws', '127.0.0.1:0', '--core', '127.0.0.1:5060', '--idle-timeout', '5'], {}, /--idle-timeout/],
    ['a bad value from the environment', ['--core', '127.0.0.1:5060'], { SIPFLOW_WS: 'nonsense' }, /--ws/],
  ];
  const runs = cases.map(([, args, env]) => edgeCli(args, env));
  for (const [i, [name, , , pattern]] of cases.entries()) {
    t.equal(await runs[i]!.exit, 2, `${name}: exit code 2`);
    t.match(runs[i]!.stderr(), pattern, `${name}: says which option`);
    t.equal(runs[i]!.stderr().trim().split('\n').length, 1, `${name}: one line`);
  }
});
