/**
 * The servers under comparison, each started as child processes and stopped by pid: a sipflow
 * cluster (one or two cores, zero to four edges, from bin/sipflow.js) and Kamailio (kamailio.cfg
 * beside this file; one to four instances). Everything started is remembered in one table, and killed with SIGKILL if this
 * process exits or is interrupted before it stopped them itself.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync, writeFileSync, type WriteStream } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from '../../deploy/node-flags.js';
import type { Endpoint } from '../loadgen/ws-connection.js';
import { descendants } from './proc-stats.js';

export const PORTS = {
  core: 26060,
  /** The second core process of the two-core case. */
  core2: 26061,
  /** Two edges in every scenario; the idle-flow cases past one process's `ulimit -n` use up to four. */
  edges: [
    { ws: 26081, udp: 26080 },
    { ws: 26083, udp: 26082 },
    { ws: 26085, udp: 26084 },
    { ws: 26087, udp: 26086 },
  ],
  /** The first Kamailio instance (kamailio.cfg's own ports); further instances: kamailioPorts(). */
  kamailio: { udp: 26090, ws: [26091, 26092] },
  /** UDP ports of the load generator. */
  loadgen: Array.from({ length: 8 }, (_, i) => 26100 + i),
} as const;

export const DOMAIN = 'bench.test';
const HOST = '127.0.0.1';

const here = fileURLToPath(new URL('.', import.meta.url));
/** The repository root, from dist/bench/kamailio/ or bench/kamailio/. */
export const ROOT = fileURLToPath(new URL(here.includes('/dist/') ? '../../../' : '../../', import.meta.url));
/** kamailio.cfg lives in the source tree only (tsc copies no .cfg into dist/). */
export const KAMAILIO_CFG = join(ROOT, 'bench', 'kamailio', 'kamailio.cfg');
const FLOOR_NODE = fileURLToPath(new URL(`./floor-node.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url));
const GC_PRELOAD = fileURLToPath(new URL(`./gc-on-signal.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url));

export interface V8Memory {
  heapUsedKiB: number;
  heapTotalKiB: number;
  externalKiB: number;
}

/** The lines the gc-on-signal hook wrote into a node's log so far. */
function v8MemoryLines(logFile: string): string[] {
  try {
    return readFileSync(logFile, 'utf8').split('\n').filter((l) => l.startsWith('{"benchMemory"'));
  } catch {
    return [];
  }
}

/** The last line the gc-on-signal hook wrote into a node's log. */
function lastV8Memory(logFile: string): V8Memory | undefined {
  try {
    const lines = v8MemoryLines(logFile);
    const m = (JSON.parse(lines[lines.length - 1]!) as { benchMemory: { heapUsed: number; heapTotal: number; external: number } }).benchMemory;
    return { heapUsedKiB: m.heapUsed / 1024, heapTotalKiB: m.heapTotal / 1024, externalKiB: m.external / 1024 };
  } catch {
    return undefined;
  }
}

export interface ServerSet {
  system: 'sipflow' | 'kamailio' | 'floor';
  /** Every server process whose CPU and memory count. */
  pids: number[];
  /** Pids by role, for a breakdown (sipflow: core, edges; kamailio: all). */
  roles: Record<string, number[]>;
  /** WebSocket listeners (two per Kamailio instance; one per sipflow edge). */
  ws: Endpoint[];
  udp: Endpoint;
  /**
   * Asks the sipflow nodes for a full garbage collection (idle-flow measurement) and returns what
   * V8 then reports per role (live heap and memory outside the heap, KiB); Kamailio: nothing.
   */
  collectGarbage(): Promise<Record<string, V8Memory>>;
  stop(): Promise<void>;
}

// ---- the table of everything started -------------------------------------------------------------

const live = new Map<number, ChildProcess>();
const extraPids = new Set<number>();
let hooked = false;

function killEverythingNow(): void {
  for (const pid of [...extraPids, ...live.keys()]) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
  extraPids.clear();
}

const onSignal = (sig: NodeJS.Signals): void => {
  killEverythingNow();
  process.exit(sig === 'SIGINT' ? 130 : 143);
};

/** Installs the exit and signal hooks that kill whatever is still running; removed by unhookCleanup(). */
export function hookCleanup(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', killEverythingNow);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

export function unhookCleanup(): void {
  killEverythingNow();
  if (!hooked) return;
  hooked = false;
  process.off('exit', killEverythingNow);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
}

interface Spawned {
  child: ChildProcess;
  pid: number;
  log: WriteStream;
  logFile: string;
  exited: Promise<void>;
}

/**
 * Starts `command args` with `ulimit -n` raised to the hard limit (exec keeps the pid), output to
 * `logFile`, and resolves when a line of its output matches `ready`.
 */
function start(command: string, args: string[], o: { logFile: string; ready: RegExp; timeoutMs: number; env?: NodeJS.ProcessEnv }): Promise<Spawned> {
  const child = spawn('bash', ['-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"', 'bash', command, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: o.env ?? process.env,
  });
  if (child.pid === undefined) return Promise.reject(new Error(`could not start ${command}`));
  const pid = child.pid;
  live.set(pid, child);
  const log = createWriteStream(o.logFile);
  const exited = new Promise<void>((resolve) => child.once('exit', () => {
    live.delete(pid);
    resolve();
  }));
  return new Promise((resolve, reject) => {
    let seen = '';
    let done = false;
    const timer = setTimeout(() => finish(new Error(`${command} not ready within ${o.timeoutMs} ms (log: ${o.logFile})`)), o.timeoutMs);
    const finish = (err?: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
        reject(err);
      } else {
        resolve({ child, pid, log, logFile: o.logFile, exited });
      }
    };
    const onData = (d: Buffer): void => {
      log.write(d);
      if (done) return;
      seen = (seen + d.toString('utf8')).slice(-8192);
      if (o.ready.test(seen)) finish();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then(() => finish(new Error(`${command} exited before it was ready (log: ${o.logFile}): ${seen.slice(-600)}`)));
  });
}

async function stopPid(s: Spawned, graceMs = 8000): Promise<void> {
  if (!live.has(s.pid)) return;
  try {
    process.kill(s.pid, 'SIGTERM');
  } catch {
    return;
  }
  const timedOut = await Promise.race([s.exited.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), graceMs))]);
  if (timedOut) {
    try {
      process.kill(s.pid, 'SIGKILL');
    } catch {
      // gone
    }
    await Promise.race([s.exited, new Promise((r) => setTimeout(r, 2000))]);
  }
  s.log.end();
}

/** Refuses to start over a port something else holds (a leftover of an interrupted run, say). */
async function assertTcpFree(port: number): Promise<void> {
  const busy = await new Promise<boolean>((resolve) => {
    const s = net.connect({ host: HOST, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (busy) throw new Error(`127.0.0.1:${port} is already in use; is an earlier benchmark still running?`);
}

async function waitTcp(port: number, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: HOST, port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
}

// ---- sipflow -------------------------------------------------------------------------------------

export interface SipflowOptions {
  /** Edges to start: 0 (UDP scenarios: the core alone) to PORTS.edges.length. */
  edges: number;
  /**
   * Core processes: 1, or 2 (each its own UDP port, as a transaction-stateful UDP proxy must: a
   * response, ACK or CANCEL has to reach the process holding its transaction). Edges hash each
   * Call-ID to one of them, so a UA's refreshes stay on one core and the memory store suffices.
   */
  cores?: 1 | 2;
  /** How the edges reach the cores (`--core-transport`); each core listens on TCP too at its UDP port. */
  coreTransport?: 'udp' | 'tcp';
  store: 'memory' | 'cassandra';
  cassandra?: { contact: string; dc: string; keyspace: string; consistency: string };
  /** Write a .cpuprofile per node into this folder (node --cpu-prof). */
  cpuProfDir?: string;
  /** Load the SIGUSR2 → gc() hook (idle-flow memory). */
  gcHook?: boolean;
  /**
   * Instead of the sipflow core, the floor's answering process (floor-node.ts `answer`): what the
   * edges cost when whatever is behind them costs nothing. Needs coreTransport tcp.
   */
  floorCore?: boolean;
  logDir: string;
}

export async function startSipflow(o: SipflowOptions): Promise<ServerSet> {
  const bin = join(ROOT, 'bin', 'sipflow.js');
  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing: run npm run build');
  if (o.edges > PORTS.edges.length) throw new Error(`at most ${PORTS.edges.length} edges (PORTS.edges), not ${o.edges}`);
  for (const e of PORTS.edges.slice(0, o.edges)) await assertTcpFree(e.ws);
  const nodeFlags = (name: string): string[] => [
    // As every launcher runs a node (deploy/node-flags.ts).
    ...NODE_FLAGS,
    ...(o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${join(o.cpuProfDir, name)}`] : []),
    ...(o.gcHook ? ['--expose-gc', `--import=${GC_PRELOAD}`] : []),
    // SIPFLOW_BENCH_NODE_FLAGS: more flags for the sipflow nodes (e.g. --trace-gc while looking into a profile).
    ...(process.env.SIPFLOW_BENCH_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean),
  ];
  const env = { ...process.env, NODE_OPTIONS: '' };
  const started: Spawned[] = [];
  const stopAll = async (): Promise<void> => {
    // Edges first, so the core never sees a half-stopped cluster send it anything.
    for (const s of [...started].reverse()) await stopPid(s);
  };
  const corePorts = o.cores === 2 ? [PORTS.core, PORTS.core2] : [PORTS.core];
  try {
    if (o.floorCore) {
      started.push(await start(process.execPath, [...NODE_FLAGS, FLOOR_NODE, 'answer', String(PORTS.core)], { logFile: join(o.logDir, 'answer.log'), ready: /floor ready/, timeoutMs: 20_000, env }));
    }
    for (const [i, port] of (o.floorCore ? [] : corePorts).entries()) {
      const coreArgs = [
        ...nodeFlags(i === 0 ? 'core' : `core${i + 1}`),
        bin,
        '--log-level',
        'info',
        'core',
        '--udp',
        `${HOST}:${port}`,
        '--tcp',
        `${HOST}:${port}`,
        '--domain',
        DOMAIN,
        '--store',
        o.store,
        '--auth',
        'off',
        '--rate-limit',
        '10000000',
        '--trusted',
        HOST,
        ...(o.store === 'cassandra' && o.cassandra
          ? ['--cassandra', o.cassandra.contact, '--dc', o.cassandra.dc, '--keyspace', o.cassandra.keyspace, '--consistency', o.cassandra.consistency]
          : []),
      ];
      // Info level: the ready line is logged at info, and nothing is logged per message at info.
      started.push(await start(process.execPath, coreArgs, { logFile: join(o.logDir, i === 0 ? 'core.log' : `core${i + 1}.log`), ready: /"ready":true/, timeoutMs: 60_000, env }));
    }
    for (let i = 0; i < o.edges; i++) {
      const e = PORTS.edges[i]!;
      const edgeArgs = [
        ...nodeFlags(`edge${i + 1}`),
        bin,
        '--log-level',
        'info',
        'edge',
        '--ws',
        `${HOST}:${e.ws}`,
        '--udp',
        `${HOST}:${e.udp}`,
        '--core',
        corePorts.map((p) => `${HOST}:${p}`).join(','),
        '--core-transport',
        o.coreTransport ?? 'udp',
        // A benchmark client is one IP with thousands of flows sending as fast as it is answered.
        '--max-flows-per-ip',
        '0',
        '--rate-per-flow',
        '0',
        '--rate-per-ip',
        '0',
      ];
      started.push(await start(process.execPath, edgeArgs, { logFile: join(o.logDir, `edge${i + 1}.log`), ready: /"ready":true/, timeoutMs: 30_000, env }));
    }
  } catch (err) {
    await stopAll();
    throw err;
  }
  const coreCount = o.floorCore ? 1 : corePorts.length;
  const cores = started.slice(0, coreCount).map((s) => s.pid);
  const edges = started.slice(coreCount).map((s) => s.pid);
  return {
    system: 'sipflow',
    pids: [...cores, ...edges],
    roles: edges.length ? { core: cores, edges } : { core: cores },
    ws: PORTS.edges.slice(0, o.edges).map((e) => ({ host: HOST, port: e.ws })),
    udp: { host: HOST, port: PORTS.core },
    async collectGarbage() {
      const out: Record<string, V8Memory> = {};
      if (!o.gcHook) return out;
      const before = started.map((s) => v8MemoryLines(s.logFile).length);
      for (const s of started) {
        try {
          process.kill(s.pid, 'SIGUSR2');
        } catch {
          // gone
        }
      }
      // The hook answers with one line per node once its collections are done (about a second;
      // longer with heap snapshots); the memory is read from /proc after that, not before.
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline && started.some((s, i) => v8MemoryLines(s.logFile).length <= before[i]!)) {
        await new Promise((r) => setTimeout(r, 100));
      }
      await new Promise((r) => setTimeout(r, 200));
      started.forEach((s, i) => {
        const m = lastV8Memory(s.logFile);
        if (!m) return;
        const role = i < corePorts.length ? 'core' : 'edges';
        const sum = (out[role] ??= { heapUsedKiB: 0, heapTotalKiB: 0, externalKiB: 0 });
        sum.heapUsedKiB += m.heapUsedKiB;
        sum.heapTotalKiB += m.heapTotalKiB;
        sum.externalKiB += m.externalKiB;
      });
      return out;
    },
    stop: stopAll,
  };
}

// ---- the transport floor -------------------------------------------------------------------------

/**
 * The floor (floor-node.ts): 'one-hop' is two uWS echo processes on the edges' WebSocket ports;
 * 'two-hop' is two uWS relay processes there, each with a TCP connection to one answering process
 * on the core's port. Same node flags as the sipflow nodes, same ports, same load.
 */
export async function startFloor(o: { hops: 1 | 2; logDir: string }): Promise<ServerSet> {
  const edges = PORTS.edges.slice(0, 2);
  for (const e of edges) await assertTcpFree(e.ws);
  const env = { ...process.env, NODE_OPTIONS: '' };
  const started: Spawned[] = [];
  const stopAll = async (): Promise<void> => {
    for (const s of [...started].reverse()) await stopPid(s);
  };
  const run = async (name: string, args: string[]): Promise<void> => {
    started.push(await start(process.execPath, [...NODE_FLAGS, FLOOR_NODE, ...args], { logFile: join(o.logDir, `${name}.log`), ready: /floor ready/, timeoutMs: 20_000, env }));
  };
  try {
    if (o.hops === 2) await run('answer', ['answer', String(PORTS.core)]);
    for (const [i, e] of edges.entries()) {
      await run(`edge${i + 1}`, o.hops === 2 ? ['edge', String(e.ws), String(PORTS.core)] : ['echo', String(e.ws)]);
    }
  } catch (err) {
    await stopAll();
    throw err;
  }
  const pids = started.map((s) => s.pid);
  return {
    system: 'floor',
    pids,
    roles: o.hops === 2 ? { core: pids.slice(0, 1), edges: pids.slice(1) } : { edges: pids },
    ws: edges.map((e) => ({ host: HOST, port: e.ws })),
    udp: { host: HOST, port: PORTS.core },
    async collectGarbage() {
      return {};
    },
    stop: stopAll,
  };
}

// ---- Kamailio ------------------------------------------------------------------------------------

const KAMAILIO_PACKAGES = ['kamailio', 'kamailio-websocket-modules', 'kamailio-extra-modules', 'kamailio-utils-modules'];

function kamailioInstalled(): boolean {
  const which = spawnSync('bash', ['-c', 'command -v kamailio'], { encoding: 'utf8' });
  if (which.status !== 0) return false;
  const probe = spawnSync('bash', ['-c', 'ls /usr/lib/*/kamailio/modules/websocket.so /usr/lib/kamailio/modules/websocket.so 2>/dev/null | head -1'], { encoding: 'utf8' });
  return probe.stdout.trim().length > 0;
}

/** Installs Kamailio from Debian when this process is root; otherwise says what to run. */
export function ensureKamailio(log: (line: string) => void): void {
  if (kamailioInstalled()) return;
  const command = `apt-get install -y --no-install-recommends ${KAMAILIO_PACKAGES.join(' ')}`;
  if (process.getuid?.() !== 0) throw new Error(`Kamailio is not installed; as root run: apt-get update && ${command}`);
  log(`installing Kamailio: apt-get update && ${command}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const upd = spawnSync('apt-get', ['update', '-qq'], { stdio: 'ignore', env, timeout: 300_000 });
  const inst = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...KAMAILIO_PACKAGES], { stdio: 'ignore', env, timeout: 600_000 });
  if (upd.status !== 0 || inst.status !== 0 || !kamailioInstalled()) throw new Error(`installing Kamailio failed; run as root: apt-get update && ${command}`);
}

/** Kamailio instances the idle-flow cases may start side by side (each its own ports). */
export const MAX_KAMAILIO_INSTANCES = 4;

/** Ports of Kamailio instance `i`: the first is kamailio.cfg's own; the others 26110 + 3(i − 1) on. */
export function kamailioPorts(i: number): { udp: number; ws: [number, number] } {
  if (!Number.isInteger(i) || i < 0 || i >= MAX_KAMAILIO_INSTANCES) throw new Error(`Kamailio instance ${i}: 0 to ${MAX_KAMAILIO_INSTANCES - 1}`);
  if (i === 0) return { udp: PORTS.kamailio.udp, ws: [PORTS.kamailio.ws[0], PORTS.kamailio.ws[1]] };
  const base = 26110 + 3 * (i - 1);
  return { udp: base, ws: [base + 1, base + 2] };
}

/**
 * kamailio.cfg for instance `i`: the same file with its listen lines moved to kamailioPorts(i).
 * Refuses a kamailio.cfg whose listen lines are not the ones PORTS names, rather than start two
 * instances on one port.
 */
export function kamailioConfigFor(i: number, cfg: string): string {
  const own = kamailioPorts(0);
  const ports = kamailioPorts(i);
  const lines = [`listen=udp:${HOST}:${own.udp}`, `listen=tcp:${HOST}:${own.ws[0]}`, `listen=tcp:${HOST}:${own.ws[1]}`];
  const cfgLines = new Set(cfg.split('\n'));
  const missing = lines.filter((l) => !cfgLines.has(l));
  if (missing.length) throw new Error(`kamailio.cfg lacks ${missing.join(', ')}: keep its listen lines and PORTS.kamailio in step`);
  return cfg
    .replace(lines[0]!, `listen=udp:${HOST}:${ports.udp}`)
    .replace(lines[1]!, `listen=tcp:${HOST}:${ports.ws[0]}`)
    .replace(lines[2]!, `listen=tcp:${HOST}:${ports.ws[1]}`);
}

/**
 * Starts `instances` Kamailio process trees (default one). Several are for idle flows past one
 * process's `ulimit -n`: Kamailio's TCP main process holds a descriptor per connection, so one
 * instance cannot hold more flows than that limit. Instance 0 reads kamailio.cfg itself; the others
 * a copy in `logDir` with their own ports.
 */
export async function startKamailio(o: { logDir: string; shmMb?: number; pkgMb?: number; instances?: number }): Promise<ServerSet> {
  const count = o.instances ?? 1;
  if (!Number.isInteger(count) || count < 1 || count > MAX_KAMAILIO_INSTANCES) throw new Error(`Kamailio instances: 1 to ${MAX_KAMAILIO_INSTANCES}, not ${count}`);
  const running: ServerSet[] = [];
  try {
    for (let i = 0; i < count; i++) running.push(await startKamailioInstance(i, o));
  } catch (err) {
    for (const r of running.reverse()) await r.stop();
    throw err;
  }
  if (running.length === 1) return running[0]!;
  const pids = running.flatMap((r) => r.pids);
  return {
    system: 'kamailio',
    pids,
    roles: { kamailio: pids },
    ws: running.flatMap((r) => r.ws),
    udp: running[0]!.udp,
    async collectGarbage() {
      return {};
    },
    async stop() {
      for (const r of [...running].reverse()) await r.stop();
    },
  };
}

async function startKamailioInstance(i: number, o: { logDir: string; shmMb?: number; pkgMb?: number }): Promise<ServerSet> {
  const ports = kamailioPorts(i);
  for (const p of ports.ws) await assertTcpFree(p);
  let cfg = KAMAILIO_CFG;
  if (i > 0) {
    cfg = join(o.logDir, `kamailio-${i + 1}.cfg`);
    writeFileSync(cfg, kamailioConfigFor(i, readFileSync(KAMAILIO_CFG, 'utf8')));
  }
  const args = ['-f', cfg, '-DD', '-E', '-m', String(o.shmMb ?? 1024), '-M', String(o.pkgMb ?? 16)];
  const main = await start('kamailio', args, { logFile: join(o.logDir, i === 0 ? 'kamailio.log' : `kamailio-${i + 1}.log`), ready: /Listening on/, timeoutMs: 20_000 });
  const stop = async (): Promise<void> => {
    const children = descendants(main.pid);
    await stopPid(main);
    for (const pid of children) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone with its parent, as it should be
      }
      extraPids.delete(pid);
    }
  };
  try {
    for (const p of ports.ws) await waitTcp(p, 10_000);
    // The workers fork after the listeners open; give them a moment to be there all.
    await new Promise((r) => setTimeout(r, 500));
  } catch (err) {
    await stop();
    throw err;
  }
  const children = descendants(main.pid);
  for (const pid of children) extraPids.add(pid);
  const pids = [main.pid, ...children];
  return {
    system: 'kamailio',
    pids,
    roles: { kamailio: pids },
    ws: ports.ws.map((port) => ({ host: HOST, port })),
    udp: { host: HOST, port: ports.udp },
    async collectGarbage() {
      return {};
    },
    stop,
  };
}
