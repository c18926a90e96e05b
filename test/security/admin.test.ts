/**
 * The admin endpoints (/metrics, /healthz, /readyz, /status) of cores and edges, as an attacker on
 * the network would try them. On loopback they need no token and are reachable nowhere else;
 * bound to a non-loopback address without SIPFLOW_ADMIN_TOKEN the node refuses to start, saying
 * why; with a token, everything but /healthz answers 401 unless `Authorization: Bearer <token>`.
 *
 * A non-loopback address without leaving the machine: the network namespace `sfsec1` holding lo
 * and an interface `sfsec0` with 10.201.0.1/32 (a dummy, or a veth pair with both ends inside
 * where the kernel has no dummy module). The nodes run inside it as processes of the
 * built CLI; requests are made from inside it too. The namespace is deleted at the end (and
 * before, in case an earlier run crashed).
 *
 * Ports: in-process core udp 127.0.0.1:27350 / metrics 27351, edge ws 27352 / udp 27353 / metrics
 * 27354; inside sfsec1 the same numbers on 10.201.0.1 and 127.0.0.1.
 */
import t from 'tap';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { DOMAIN, SECRET, startCore, startEdge } from './fixtures/cluster.js';
import { ensureBuilt } from './fixtures/nodes.js';

const NS = 'sfsec1';
const ADDR = '10.201.0.1';
const TOKEN = 'admin-token-for-the-security-suite-0123456789';
const BIN = fileURLToPath(new URL('../../bin/sipflow.js', import.meta.url));
const HTTP_GET = fileURLToPath(new URL('./fixtures/http-get.mjs', import.meta.url));
const P = { udp: 27350, metrics: 27351, ws: 27352, edgeUdp: 27353, edgeMetrics: 27354 };

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: 'pipe', timeout: 10_000 });
}

function deleteNamespace(): void {
  try {
    ip('netns', 'del', NS);
  } catch {
    // not there
  }
}

/** One GET from inside the namespace. */
function get(url: string, token?: string): Promise<{ status: number; wwwAuthenticate?: string | null; body?: string; error?: string }> {
  return new Promise((resolve, reject) => {
    execFile('ip', ['netns', 'exec', NS, process.execPath, HTTP_GET, url, ...(token ? [token] : [])], { timeout: 15_000 }, (err, stdout) => {
      if (err) return reject(err);
      resolve(JSON.parse(stdout.trim()));
    });
  });
}

interface NsNode {
  pid: number;
  exit: Promise<{ code: number | null; output: string }>;
  kill(): Promise<void>;
}

/** `sipflow <args>` inside the namespace; resolves once ready, or with the exit if it stops first. */
async function startInNs(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ node?: NsNode; exited?: { code: number | null; output: string } }> {
  const child = spawn('ip', ['netns', 'exec', NS, process.execPath, BIN, ...args], { env: { ...process.env, SIPFLOW_ADMIN_TOKEN: '', SIPFLOW_LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const exit = new Promise<{ code: number | null; output: string }>((resolve) => child.once('exit', (code) => resolve({ code, output: lines.join('\n') })));
  const ready = new Promise<void>((resolve) => {
    for (const s of [child.stdout!, child.stderr!]) {
      createInterface({ input: s }).on('line', (l) => {
        lines.push(l);
        if (/"ready":true/.test(l)) resolve();
      });
    }
  });
  const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000).unref());
  const first = await Promise.race([ready.then(() => 'ready' as const), exit.then(() => 'exit' as const), timeout]);
  if (first === 'exit') return { exited: await exit };
  if (first === 'timeout') {
    child.kill('SIGKILL');
    throw new Error(`${args[0]} neither ready nor exited: ${lines.join('\n')}`);
  }
  const node: NsNode = {
    pid: child.pid!,
    exit,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exit;
        clearTimeout(t);
      }
    },
  };
  return { node };
}

t.test('loopback: the admin server answers without a token, and only on 127.0.0.1', async (t) => {
  const core = await startCore(t, P.udp, { metrics: { host: '127.0.0.1', port: P.metrics } });
  const edge = await startEdge(t, { ws: P.ws, udp: P.edgeUdp }, [core.addr], { metrics: { host: '127.0.0.1', port: P.edgeMetrics } });
  for (const [role, port] of [['core', P.metrics], ['edge', P.edgeMetrics]] as const) {
    for (const path of ['/metrics', '/healthz', '/readyz', '/status']) {
      t.equal((await fetch(`http://127.0.0.1:${port}${path}`)).status, 200, `${role} ${path}: 200 without a token on loopback`);
    }
  }
  t.equal(edge.addr.metrics?.host, '127.0.0.1', 'the edge reports its admin address');
});

t.test('non-loopback addresses (inside network namespace sfsec1)', async (t) => {
  t.equal(process.getuid?.(), 0, 'runs as root (network namespaces)');
  ensureBuilt();
  deleteNamespace();
  ip('netns', 'add', NS);
  t.teardown(deleteNamespace);
  ip('netns', 'exec', NS, 'ip', 'link', 'set', 'lo', 'up');
  // A dummy interface where the kernel has the module, else a veth pair with both ends inside.
  try {
    ip('netns', 'exec', NS, 'ip', 'link', 'add', 'sfsec0', 'type', 'dummy');
  } catch {
    ip('netns', 'exec', NS, 'ip', 'link', 'add', 'sfsec0', 'type', 'veth', 'peer', 'name', 'sfsec0p');
    ip('netns', 'exec', NS, 'ip', 'link', 'set', 'sfsec0p', 'up');
  }
  ip('netns', 'exec', NS, 'ip', 'addr', 'add', `${ADDR}/32`, 'dev', 'sfsec0');
  ip('netns', 'exec', NS, 'ip', 'link', 'set', 'sfsec0', 'up');

  const coreArgs = (metrics: string) => ['core', '--udp', `${ADDR}:${P.udp}`, '--domain', DOMAIN, '--auth', 'off', '--secret', SECRET, '--metrics', metrics];
  const edgeArgs = (metrics: string) => ['edge', '--ws', `${ADDR}:${P.ws}`, '--udp', `${ADDR}:${P.edgeUdp}`, '--core', `${ADDR}:${P.udp}`, '--secret', SECRET, '--metrics', metrics];

  await t.test('without SIPFLOW_ADMIN_TOKEN, a node told to serve admin on a non-loopback address refuses to start and says why', async (t) => {
    for (const [role, args] of [
      ['core', coreArgs(`${ADDR}:${P.metrics}`)],
      ['core', coreArgs(`0.0.0.0:${P.metrics}`)],
      ['edge', edgeArgs(`${ADDR}:${P.edgeMetrics}`)],
      ['edge', edgeArgs(`0.0.0.0:${P.edgeMetrics}`)],
    ] as const) {
      const { node, exited } = await startInNs([...args]);
      if (node) await node.kill();
      t.ok(exited, `${role} --metrics ${args.at(-1)}: did not start`);
      t.equal(exited?.code, 1, `${role}: exit code 1`);
      t.match(exited?.output ?? '', /is not loopback and no admin token is set/, `${role}: the error says what is wrong`);
      t.match(exited?.output ?? '', /SIPFLOW_ADMIN_TOKEN/, `${role}: and what to do`);
      t.notMatch(exited?.output ?? '', /"ready":true/, `${role}: never reported ready`);
    }
  });

  await t.test('with a token: /metrics, /readyz and /status need the bearer token, /healthz stays open', async (t) => {
    const core = await startInNs(coreArgs(`${ADDR}:${P.metrics}`), { SIPFLOW_ADMIN_TOKEN: TOKEN });
    t.ok(core.node, `the core starts with a token (${core.exited?.output ?? ''})`);
    t.teardown(() => core.node?.kill());
    const edge = await startInNs(edgeArgs(`${ADDR}:${P.edgeMetrics}`), { SIPFLOW_ADMIN_TOKEN: TOKEN });
    t.ok(edge.node, `the edge starts with a token (${edge.exited?.output ?? ''})`);
    t.teardown(() => edge.node?.kill());
    if (!core.node || !edge.node) return;

    for (const [role, port] of [['core', P.metrics], ['edge', P.edgeMetrics]] as const) {
      const base = `http://${ADDR}:${port}`;
      const healthz = await get(`${base}/healthz`);
      t.equal(healthz.status, 200, `${role} /healthz: open`);
      for (const path of ['/metrics', '/status', '/readyz']) {
        const none = await get(`${base}${path}`);
        t.equal(none.status, 401, `${role} ${path} without a token: 401`);
        t.equal(none.wwwAuthenticate, 'Bearer', `${role} ${path}: WWW-Authenticate: Bearer`);
        t.notMatch(none.body ?? '', /sipflow_|"role"|"node"/, `${role} ${path}: reveals nothing`);
        t.equal((await get(`${base}${path}`, 'wrong-token-0123456789-0123456789-xx')).status, 401, `${role} ${path} with a wrong token: 401`);
        t.equal((await get(`${base}${path}`, TOKEN.slice(0, -1))).status, 401, `${role} ${path} with the token minus its last character: 401`);
      }
      const metrics = await get(`${base}/metrics`, TOKEN);
      t.equal(metrics.status, 200, `${role} /metrics with the token: 200`);
      t.match(metrics.body ?? '', new RegExp(`^sipflow_${role}_`, 'm'), `${role}: and it is the metrics`);
      const status = await get(`${base}/status`, TOKEN);
      t.equal(status.status, 200, `${role} /status with the token: 200`);
      t.equal((JSON.parse(status.body ?? '{}') as { role?: string }).role, role, `${role}: and it is the status`);
    }
  });

  await t.test('without a token but on loopback inside the namespace: open on 127.0.0.1, unreachable on 10.201.0.1', async (t) => {
    const core = await startInNs(coreArgs(`127.0.0.1:${P.metrics}`));
    t.ok(core.node, 'the core starts without a token when its admin address is loopback');
    t.teardown(() => core.node?.kill());
    if (!core.node) return;
    t.equal((await get(`http://127.0.0.1:${P.metrics}/status`)).status, 200, '/status on 127.0.0.1: 200, no token needed');
    const outside = await get(`http://${ADDR}:${P.metrics}/status`);
    t.equal(outside.status, 0, `on ${ADDR}: nothing listens (${outside.error})`);
  });
});
