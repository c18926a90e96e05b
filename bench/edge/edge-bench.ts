/**
 * Idle flows held by one edge: N WebSocket connections, each registered through the edge, then the
 * edge's resident memory per flow, read from /proc/<pid>/status of the edge running alone in a
 * child process (so the clients' memory is not counted).
 *
 * File descriptors bound N: the edge holds one per flow and so does this process (the clients).
 * Both inherit this process's `ulimit -n`; the child is started under `ulimit -n` raised to the
 * hard limit. 50,000 flows need `ulimit -n` above 50,100 for both (raise the hard limit as root
 * with `ulimit -Hn 65536` or `prlimit`, then run the benchmark), and more than one loopback source
 * address, which this benchmark does on its own (127.0.0.1, 127.0.0.2, ... 20,000 flows each).
 *
 * Usage: runEdgeBench({ flows: 10_000 }) or `node <ts-loader> bench/edge/edge-bench.ts [flows]`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import WebSocket from 'ws';
import { BenchCore } from './bench-core.js';

export interface EdgeBenchOptions {
  /** Connections to open and register. Default 10,000 (env SIPFLOW_BENCH_FLOWS). */
  flows?: number;
  /** Upgrades + REGISTERs in flight at once. Default 200. */
  concurrency?: number;
  /** Give up after this long. Default 300 s. */
  timeoutMs?: number;
  log?: (line: string) => void;
}

export interface EdgeBenchResult {
  flows: number;
  uws: string;
  /** Edge RSS after start, before any connection (MiB). */
  rssBaselineMiB: number;
  /** Edge RSS holding every flow, after a GC (MiB). */
  rssLoadedMiB: number;
  /** (loaded - baseline) / flows, KiB. */
  rssPerFlowKiB: number;
  /** Seconds to open and register all flows. */
  setupSeconds: number;
  registrationsPerSecond: number;
  /** Flows whose first handshake or REGISTER failed and were opened again. */
  retries: number;
  nofile: number;
}

const here = fileURLToPath(import.meta.url);
const isTs = here.endsWith('.ts');
const childEntry = fileURLToPath(new URL(`./edge-bench-child.${isTs ? 'ts' : 'js'}`, import.meta.url));

/** Soft and hard `ulimit -n` of this process. */
function nofileLimits(): { soft: number; hard: number } {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
  const [soft, hard] = (line?.match(/\d+|unlimited/g) ?? []).map((v) => (v === 'unlimited' ? Infinity : Number(v)));
  return { soft: soft ?? 1024, hard: hard ?? 1024 };
}

function rssKiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(line?.match(/\d+/)?.[0] ?? 0);
}

/** Node flags to run the child from TypeScript sources: the loader this process was started with. */
function loaderArgs(): string[] {
  if (!isTs) return [];
  const fromArgv = process.execArgv.filter((a) => a.includes('typescript') || a.includes('ts-node') || a.includes('tsx'));
  if (fromArgv.length > 0) return fromArgv;
  return [`--import=${pathToFileURL(fileURLToPath(new URL('../../node_modules/@tapjs/typescript/dist/esm/import.mjs', import.meta.url))).href}`];
}

function register(i: number): string {
  const tag = i.toString(36);
  return [
    'REGISTER sip:bench.example SIP/2.0',
    `Via: SIP/2.0/WS b${tag}.invalid;branch=z9hG4bK${tag}r${Math.random().toString(36).slice(2, 10)}`,
    'Max-Forwards: 70',
    `From: <sip:u${tag}@bench.example>;tag=f${tag}`,
    `To: <sip:u${tag}@bench.example>`,
    `Call-ID: bench-${tag}-${process.pid}`,
    'CSeq: 1 REGISTER',
    `Contact: <sip:u${tag}@b${tag}.invalid;transport=ws>;expires=3600`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/** Opens one client, registers it, resolves when the 200 OK arrives; the socket stays open. */
function openFlow(port: number, i: number, sockets: WebSocket[]): Promise<void> {
  return new Promise((resolve, reject) => {
    // 20,000 flows per loopback source address keeps clear of the ephemeral port range.
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, 'sip', { localAddress: `127.0.0.${1 + Math.floor(i / 20_000)}`, perMessageDeflate: false });
    sockets.push(ws);
    let stage = 'connecting';
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`flow ${i}: no 200 OK within 30 s (stage: ${stage})`));
    }, 30_000);
    ws.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    ws.once('open', () => {
      stage = 'registering';
      ws.send(register(i));
    });
    ws.once('close', (code) => {
      stage = `closed by the edge (${code})`;
    });
    ws.on('message', (data) => {
      if (String(data).startsWith('SIP/2.0 200')) {
        clearTimeout(timer);
        ws.removeAllListeners('message');
        resolve();
      }
    });
  });
}

function request(child: ChildProcess, op: string): Promise<unknown> {
  return new Promise((resolve) => {
    const onMsg = (m: { op: string }): void => {
      if (m.op === op) {
        child.off('message', onMsg);
        resolve(m);
      }
    };
    child.on('message', onMsg);
    child.send({ op });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function runEdgeBench(options: EdgeBenchOptions = {}): Promise<EdgeBenchResult> {
  const flows = options.flows ?? (Number(process.env.SIPFLOW_BENCH_FLOWS) || 10_000);
  const concurrency = options.concurrency ?? 200;
  const log = options.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const limits = nofileLimits();
  const nofile = Math.min(limits.hard, 1_048_576);
  if (flows + 200 > limits.soft && flows + 200 > nofile) {
    throw new Error(`${flows} flows need ulimit -n above ${flows + 200} (soft ${limits.soft}, hard ${limits.hard}); raise it and run again`);
  }

  const core = await BenchCore.start();
  // The child gets `ulimit -n` raised to the hard limit before node starts; --expose-gc so the
  // loaded measurement is taken after a full collection.
  const node = [process.execPath, '--expose-gc', ...loaderArgs(), childEntry, JSON.stringify({ core: core.address })];
  const child = spawn('/bin/sh', ['-c', `ulimit -n ${nofile} 2>/dev/null; exec "$@"`, 'sh', ...node], {
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  const sockets: WebSocket[] = [];
  try {
    const ready = await new Promise<{ pid: number; ws: { port: number }; uws: string }>((resolve, reject) => {
      let buf = '';
      child.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        const line = buf.split('\n').find((l) => l.includes('"ready":true'));
        if (line) resolve(JSON.parse(line) as { pid: number; ws: { port: number }; uws: string });
      });
      child.once('exit', (code) => reject(new Error(`edge child exited with ${code} before it was ready`)));
      setTimeout(() => reject(new Error('edge child not ready within 30 s')), 30_000).unref();
    });
    await request(child, 'gc');
    await sleep(500);
    const baseline = rssKiB(ready.pid);
    log(`edge pid ${ready.pid} (${ready.uws}) ready on ws port ${ready.ws.port}; baseline RSS ${(baseline / 1024).toFixed(1)} MiB; opening ${flows} flows`);

    const started = Date.now();
    const deadline = started + (options.timeoutMs ?? 300_000);
    let next = 0;
    let done = 0;
    let retries = 0;
    const worker = async (): Promise<void> => {
      while (next < flows) {
        if (Date.now() > deadline) throw new Error(`only ${done} of ${flows} flows registered in time`);
        const i = next++;
        // A loaded 2-core machine occasionally loses a handshake (SYN backlog, a starved client):
        // try that flow again on a new connection, twice at most, and report how often it happened.
        for (let attempt = 0; ; attempt++) {
          try {
            await openFlow(ready.ws.port, i, sockets);
            break;
          } catch (err) {
            if (attempt >= 2) throw err;
            retries++;
            log(`  flow ${i}: ${(err as Error).message}; retrying`);
          }
        }
        done++;
        if (done % 2000 === 0) log(`  ${done} flows registered`);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, flows) }, () => worker()));
    const setupSeconds = (Date.now() - started) / 1000;

    await sleep(1000);
    const state = (await request(child, 'gc')) as { flows: number; counters: string[] };
    if (state.counters.length > 0) log(`edge counters: ${state.counters.join(' ')}`);
    await sleep(500);
    const loaded = rssKiB(ready.pid);
    if (state.flows !== flows) throw new Error(`the edge holds ${state.flows} flows, expected ${flows}`);
    const result: EdgeBenchResult = {
      flows,
      uws: ready.uws,
      rssBaselineMiB: round(baseline / 1024),
      rssLoadedMiB: round(loaded / 1024),
      rssPerFlowKiB: round((loaded - baseline) / flows),
      setupSeconds: round(setupSeconds),
      registrationsPerSecond: Math.round(flows / setupSeconds),
      retries,
      nofile,
    };
    log(`edge: ${flows} idle registered flows, RSS ${result.rssLoadedMiB} MiB, ${result.rssPerFlowKiB} KiB per flow; set up in ${result.setupSeconds} s`);
    return result;
  } finally {
    for (const s of sockets) s.terminate();
    if (child.exitCode === null) {
      child.send?.({ op: 'stop' });
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([new Promise((r) => child.once('exit', r)), new Promise((r) => (timer = setTimeout(r, 5000)))]);
      clearTimeout(timer);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    await core.close();
  }
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

if (process.argv[1] && fileURLToPath(pathToFileURL(process.argv[1])) === here) {
  const flows = Number(process.argv[2]) || undefined;
  const result = await runEdgeBench(flows ? { flows } : {});
  process.stdout.write(JSON.stringify(result) + '\n');
}
