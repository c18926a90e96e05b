/**
 * Core node benchmark: one `sipflow core` as a child process (memory store, auth off, rate limit
 * out of the way) driven by SIPp over UDP on 127.0.0.1.
 *
 *   register  REGISTER/s for fresh users (-inf users.csv), one REGISTER → 200 per SIPp call
 *   call      call setups/s: INVITE → 200 → ACK → BYE → 200 between a SIPp UAC and a SIPp UAS
 *             registered behind the core (every message crosses the core; ACK and BYE are routed
 *             by the rewritten Contact)
 *
 * Each phase steps the offered rate up (a few seconds per step) and stops at the first step with a
 * failed call, a SIPp error, or an achieved rate below 95 % of the offered one. Per step it reports
 * the achieved rate, p50/p99 response time (SIPp -trace_rtt: REGISTER → 200, INVITE → 200), SIPp
 * retransmissions (lost or late answers) and the core's CPU time per operation from
 * /proc/<pid>/stat. With --profile the core runs under `node --cpu-prof` and the top self-time
 * functions are printed (profiling slows the core: take rates from a run without it).
 *
 * Everything runs on this machine's cores: SIPp's UAC and UAS compete with the core for CPU, so
 * the figures are a floor for the core, not a ceiling.
 *
 * Run: npx tsc -p tsconfig.build.json && node dist/bench/core/core-bench.js [--profile] [--step-seconds N]
 * Goal: 10,000 REGISTER/s and 2,000 calls/s on one core.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HOST = '127.0.0.1';
const DOMAIN = 'bench.test';
const PORTS = {
  core: 23500,
  register: { sip: 23501, ctl: 23502, media: 23504 },
  uas: { sip: 23510, ctl: 23511, media: 23512 },
  uac: { sip: 23520, ctl: 23521, media: 23524 },
};

export interface CoreBenchOptions {
  /** Offered REGISTER rates, tried in order until one fails. */
  registerRates?: number[];
  /** Offered call rates, tried in order until one fails. */
  callRates?: number[];
  stepSeconds?: number;
  /** Stop starting new steps after this many seconds in total. */
  budgetSeconds?: number;
  /** Run the core under --cpu-prof and report its top costs. */
  profile?: boolean;
  sipp?: string;
  log?: (line: string) => void;
}

export interface StepResult {
  phase: 'register' | 'call';
  offered: number;
  achieved: number;
  ok: number;
  failed: number;
  retransmissions: number;
  p50Ms: number;
  p99Ms: number;
  /** Core CPU (user + system) per successful operation. */
  cpuMsPerOp: number;
  /** Core CPU use during the step, in % of one core. */
  corePercent: number;
  /** UDP datagrams dropped on full socket buffers during the step (whole machine). */
  rcvbufDrops: number;
  passed: boolean;
  note?: string;
}

export interface ProfileEntry {
  fn: string;
  selfMs: number;
  percent: number;
}

export interface CoreBenchResult {
  steps: StepResult[];
  bestRegister?: StepResult;
  bestCall?: StepResult;
  profile?: { top: ProfileEntry[]; gcPercent: number; idlePercent: number; file: string };
}

const repoRoot = (() => {
  // dist/bench/core/core-bench.js or bench/core/core-bench.ts: the repository is the nearest parent holding bin/sipflow.js.
  let dir = fileURLToPath(new URL('.', import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'bin', 'sipflow.js')) && existsSync(join(dir, 'bench', 'core', 'scenarios'))) return dir;
    dir = resolve(dir, '..');
  }
  throw new Error('cannot find the sipflow repository (bin/sipflow.js) above ' + fileURLToPath(import.meta.url));
})();
const scenario = (name: string) => join(repoRoot, 'bench', 'core', 'scenarios', name);

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU of a process in ms (/proc/<pid>/stat fields 14 and 15). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
}

/** The system-wide UDP RcvbufErrors counter: datagrams dropped because a socket buffer was full. */
function udpRcvbufErrors(): number {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
    const head = lines[0]!.split(/\s+/);
    const vals = lines[1]!.split(/\s+/);
    return Number(vals[head.indexOf('RcvbufErrors')]);
  } catch {
    return Number.NaN;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

class CoreProcess {
  readonly child: ChildProcess;
  #out = '';
  readonly exited: Promise<number | null>;

  constructor(profileDir: string | undefined) {
    const nodeArgs = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
    const args = [...nodeArgs, join(repoRoot, 'bin', 'sipflow.js'), '--log-level', 'warn', 'core', '--udp', `${HOST}:${PORTS.core}`, '--domain', DOMAIN, '--store', 'memory', '--auth', 'off', '--rate-limit', '1000000', '--max-expires', '3600'];
    this.child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SIPFLOW_SECRET: 'sipflow-core-bench-secret-0123456789' } });
    const keep = (b: Buffer) => (this.#out = (this.#out + b.toString()).slice(-20_000));
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
    this.exited = new Promise((r) => this.child.once('exit', (code) => r(code)));
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Ready once its UDP port is bound (log level warn hides the "core ready" line). */
  async ready(ms = 15_000): Promise<void> {
    const want = PORTS.core.toString(16).toUpperCase().padStart(4, '0');
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) throw new Error(`core exited: ${this.#out}`);
      try {
        if (readFileSync(`/proc/${this.pid}/net/udp`, 'utf8').split('\n').some((l) => /^\s*\d+:\s+0100007F:([0-9A-F]{4})\s/.exec(l)?.[1] === want)) return;
      } catch {
        /* not yet */
      }
      await sleep(50);
    }
    throw new Error(`core did not bind ${PORTS.core} within ${ms} ms: ${this.#out}`);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    this.child.kill('SIGINT');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(t);
  }
}

interface SippRun {
  code: number | null;
  stats: Record<string, string>;
  rtts: number[];
  spanMs: number;
  errors: string;
}

function sippStart(bin: string, dir: string, args: string[]): ChildProcess {
  return spawn(bin, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

async function sippWait(child: ChildProcess, dir: string, rtd: string, timeoutMs: number): Promise<SippRun> {
  const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((r) => (child.exitCode !== null ? r(child.exitCode) : child.once('exit', (c) => r(c))));
  clearTimeout(t);
  const files = readdirSync(dir);
  const read = (f: string | undefined) => (f && existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8') : '');
  const statLines = read('stats.csv').split('\n').filter((l) => l.trim());
  const stats: Record<string, string> = {};
  if (statLines.length >= 2) {
    const head = statLines[0]!.split(';');
    const last = statLines[statLines.length - 1]!.split(';');
    head.forEach((h, i) => (stats[h] = last[i] ?? ''));
  }
  // -trace_rtt rows: "Date_ms;response_time_ms;rtd_no" (ms since SIPp started).
  const rtts: number[] = [];
  let first = Infinity;
  let lastAt = 0;
  for (const line of read(files.find((f) => f.endsWith('_rtt.csv'))).split('\n').slice(1)) {
    const [at, ms, name] = line.split(';');
    if (name?.trim() !== rtd) continue;
    rtts.push(Number(ms));
    first = Math.min(first, Number(at));
    lastAt = Math.max(lastAt, Number(at));
  }
  return { code, stats, rtts, spanMs: rtts.length > 1 ? lastAt - first : 0, errors: read('errors.log').slice(-600) };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

function commonArgs(scen: string, ports: { sip: number; ctl: number; media: number }): string[] {
  return ['-sf', basename(scen), '-i', HOST, '-p', String(ports.sip), '-cp', String(ports.ctl), '-mi', HOST, '-mp', String(ports.media), '-nostdin', '-trace_err', '-error_file', 'errors.log', '-max_recv_loops', '5000', '-max_sched_loops', '5000', '-buff_size', '4194304'];
}

/** REGISTERs `user` with a Contact at `port` from that port, so the core's flow names it. */
async function registerAt(user: string, port: number): Promise<void> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(port, HOST, () => r()));
  try {
    await new Promise<void>((resolveReg, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to the REGISTER of ${user}`)), 3000);
      s.on('message', (m) => {
        const status = Number(m.toString('utf8', 0, 12).split(' ')[1]);
        clearTimeout(timer);
        if (status === 200) resolveReg();
        else reject(new Error(`REGISTER of ${user}: ${status}`));
      });
      const text = [
        `REGISTER sip:${DOMAIN} SIP/2.0`,
        `Via: SIP/2.0/UDP ${HOST}:${port};branch=z9hG4bK-bench-${Date.now()};rport`,
        'Max-Forwards: 70',
        `To: <sip:${user}@${DOMAIN}>`,
        `From: <sip:${user}@${DOMAIN}>;tag=bench`,
        `Call-ID: bench-reg-${user}-${Date.now()}`,
        'CSeq: 1 REGISTER',
        `Contact: <sip:${user}@${HOST}:${port}>`,
        'Expires: 3600',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
      s.send(text, PORTS.core, HOST);
    });
  } finally {
    await new Promise<void>((r) => s.close(() => r()));
  }
}

async function step(
  phase: 'register' | 'call',
  offered: number,
  seconds: number,
  core: CoreProcess,
  sippBin: string,
): Promise<StepResult> {
  const dir = mkdtempSync(join(tmpdir(), `sipflow-bench-${phase}-`));
  try {
    const calls = Math.round(offered * seconds);
    const rate = ['-r', String(offered), '-m', String(calls), '-l', String(Math.max(100, offered)), '-timeout', `${seconds + 20}s`, '-timeout_error'];
    const trace = ['-trace_stat', '-stf', 'stats.csv', '-fd', '3600', '-trace_rtt', '-rtt_freq', String(Math.max(1, Math.round(offered / 10)))];
    let args: string[];
    if (phase === 'register') {
      writeFileSync(join(dir, 'register.xml'), readFileSync(scenario('register.xml')));
      const users = ['SEQUENTIAL'];
      for (let i = 0; i < calls; i++) users.push(`b${offered}x${i}`);
      writeFileSync(join(dir, 'users.csv'), users.join('\n') + '\n');
      args = [...commonArgs('register.xml', PORTS.register), `${HOST}:${PORTS.core}`, '-inf', 'users.csv', '-key', 'domain', DOMAIN, '-key', 'expires', '3600', ...rate, ...trace];
    } else {
      writeFileSync(join(dir, 'uac.xml'), readFileSync(scenario('uac.xml')));
      args = [...commonArgs('uac.xml', PORTS.uac), `${HOST}:${PORTS.core}`, '-s', 'bench', '-key', 'domain', DOMAIN, ...rate, ...trace];
    }
    const cpu0 = cpuMs(core.pid);
    const drops0 = udpRcvbufErrors();
    const t0 = performance.now();
    const child = sippStart(sippBin, dir, args);
    const run = await sippWait(child, dir, phase === 'register' ? 'register' : 'setup', (seconds + 30) * 1000);
    const wallMs = performance.now() - t0;
    const cpu = cpuMs(core.pid) - cpu0;
    const rcvbufDrops = udpRcvbufErrors() - drops0;
    const ok = Number(run.stats['SuccessfulCall(C)'] ?? 0);
    const failed = Number(run.stats['FailedCall(C)'] ?? 0);
    const retransmissions = Number(run.stats['Retransmissions(C)'] ?? 0);
    const sorted = [...run.rtts].sort((a, b) => a - b);
    // The rtt rows span the run from the first to the last answered operation.
    const spanS = run.spanMs > 0 ? run.spanMs / 1000 + 1 / offered : wallMs / 1000;
    const achieved = ok / spanS;
    const passed = run.code === 0 && failed === 0 && ok === calls && achieved >= offered * 0.95;
    return {
      phase,
      offered,
      achieved: Math.round(achieved),
      ok,
      failed,
      retransmissions,
      p50Ms: percentile(sorted, 0.5),
      p99Ms: percentile(sorted, 0.99),
      cpuMsPerOp: ok ? cpu / ok : Number.NaN,
      corePercent: (cpu / wallMs) * 100,
      rcvbufDrops,
      passed,
      ...(passed ? {} : { note: `sipp rc=${run.code}${run.errors ? ` ${run.errors.replace(/\s+/g, ' ').slice(0, 100)}` : ''}` }),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Self time per function from a .cpuprofile (V8 sampling profile). */
export function topCosts(file: string, n = 15): { top: ProfileEntry[]; gcPercent: number; idlePercent: number } {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as {
    nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }[];
    startTime: number;
    endTime: number;
    samples: number[];
  };
  const totalMs = (prof.endTime - prof.startTime) / 1000;
  const perSample = totalMs / Math.max(1, prof.samples.length);
  const self = new Map<string, number>();
  let gc = 0;
  let idle = 0;
  let all = 0;
  for (const node of prof.nodes) {
    const hits = node.hitCount ?? 0;
    if (!hits) continue;
    const f = node.callFrame;
    const ms = hits * perSample;
    all += ms;
    if (f.functionName === '(garbage collector)') gc += ms;
    if (f.functionName === '(idle)') {
      idle += ms;
      continue;
    }
    const where = f.url ? `${f.url.replace(/^file:\/\/.*?\/(dist|node_modules)\//, '$1/').replace(/^node:/, 'node:')}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
    self.set(key, (self.get(key) ?? 0) + ms);
  }
  const busy = all - idle;
  const top = [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([fn, ms]) => ({ fn, selfMs: Math.round(ms), percent: busy > 0 ? Math.round((ms / busy) * 1000) / 10 : 0 }));
  return { top, gcPercent: busy > 0 ? Math.round((gc / busy) * 1000) / 10 : 0, idlePercent: all > 0 ? Math.round((idle / all) * 1000) / 10 : 0 };
}

export async function runCoreBench(opts: CoreBenchOptions = {}): Promise<CoreBenchResult> {
  const log = opts.log ?? (() => {});
  const sippBin = opts.sipp ?? process.env.SIPP_BIN ?? '/usr/bin/sipp';
  if (!existsSync(sippBin)) throw new Error(`SIPp not found at ${sippBin} (Debian: apt-get install sip-tester)`);
  const seconds = opts.stepSeconds ?? 3;
  const budgetEnd = Date.now() + (opts.budgetSeconds ?? 75) * 1000;
  const profileDir = opts.profile ? mkdtempSync(join(tmpdir(), 'sipflow-bench-prof-')) : undefined;
  const core = new CoreProcess(profileDir);
  const steps: StepResult[] = [];
  let uas: ChildProcess | undefined;
  let uasDir: string | undefined;
  try {
    await core.ready();
    // Warm-up: JIT the REGISTER path before measuring.
    await step('register', 500, 1, core, sippBin);

    for (const r of opts.registerRates ?? [1000, 2000, 4000, 5000, 6000, 8000, 10000, 12000]) {
      if (Date.now() > budgetEnd) break;
      const s = await step('register', r, seconds, core, sippBin);
      steps.push(s);
      log(fmtStep(s));
      if (!s.passed) break;
    }

    await registerAt('bench', PORTS.uas.sip);
    uasDir = mkdtempSync(join(tmpdir(), 'sipflow-bench-uas-'));
    writeFileSync(join(uasDir, 'uas.xml'), readFileSync(scenario('uas.xml')));
    uas = sippStart(sippBin, uasDir, [...commonArgs('uas.xml', PORTS.uas), '-s', 'bench', '-timeout', '600s']);
    await sleep(300);
    await step('call', 100, 1, core, sippBin);
    for (const r of opts.callRates ?? [200, 500, 1000, 1250, 1500, 2000, 2500]) {
      if (Date.now() > budgetEnd) break;
      const s = await step('call', r, seconds, core, sippBin);
      steps.push(s);
      log(fmtStep(s));
      if (!s.passed) break;
    }
  } finally {
    uas?.kill('SIGKILL');
    await core.stop();
    if (uasDir) rmSync(uasDir, { recursive: true, force: true });
  }
  const best = (phase: 'register' | 'call') => steps.filter((s) => s.phase === phase && s.passed).sort((a, b) => b.achieved - a.achieved)[0];
  const bestRegister = best('register');
  const bestCall = best('call');
  const result: CoreBenchResult = { steps, ...(bestRegister ? { bestRegister } : {}), ...(bestCall ? { bestCall } : {}) };
  if (profileDir) {
    const file = readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'));
    if (file) result.profile = { ...topCosts(join(profileDir, file)), file: join(profileDir, file) };
  }
  return result;
}

/** SIPp's response times are whole milliseconds: 0 means under 1 ms. */
function ms(v: number): string {
  return !Number.isFinite(v) ? '-' : v === 0 ? '<1' : v.toFixed(0);
}

function fmtStep(s: StepResult): string {
  const cells = [
    s.phase.padEnd(8),
    String(s.offered).padStart(7),
    String(s.achieved).padStart(8),
    String(s.ok).padStart(7),
    String(s.failed).padStart(6),
    String(s.retransmissions).padStart(7),
    ms(s.p50Ms).padStart(6),
    ms(s.p99Ms).padStart(6),
    (Number.isFinite(s.cpuMsPerOp) ? s.cpuMsPerOp.toFixed(3) : '-').padStart(9),
    s.corePercent.toFixed(0).padStart(6),
    String(s.rcvbufDrops).padStart(6),
    s.passed ? 'ok' : `FAIL ${s.note ?? ''}`,
  ];
  return cells.join(' ');
}

export const TABLE_HEADER = 'phase    offered/s achieved/s    ok failed retrans p50ms  p99ms cpu-ms/op core%  drops result';

async function main(argv: string[]): Promise<void> {
  const profile = argv.includes('--profile');
  const i = argv.indexOf('--step-seconds');
  const stepSeconds = i >= 0 ? Number(argv[i + 1]) : 3;
  process.stdout.write(`core bench: one core (child process) on ${HOST}:${PORTS.core}, SIPp over UDP, ${stepSeconds} s per step${profile ? ', under --cpu-prof' : ''}; ${cpus().length} CPUs, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
  process.stdout.write(TABLE_HEADER + '\n');
  const r = await runCoreBench({ profile, stepSeconds, log: (l) => process.stdout.write(l + '\n') });
  process.stdout.write(
    `\nbest: ${r.bestRegister ? `${r.bestRegister.achieved} REGISTER/s (p50 ${ms(r.bestRegister.p50Ms)} ms, p99 ${ms(r.bestRegister.p99Ms)} ms, ${r.bestRegister.cpuMsPerOp.toFixed(3)} ms CPU each)` : 'no REGISTER step passed'}; ` +
      `${r.bestCall ? `${r.bestCall.achieved} calls/s (setup p50 ${ms(r.bestCall.p50Ms)} ms, p99 ${ms(r.bestCall.p99Ms)} ms, ${r.bestCall.cpuMsPerOp.toFixed(3)} ms CPU per call)` : 'no call step passed'}\n`,
  );
  process.stdout.write('goal: 10000 REGISTER/s and 2000 calls/s on one core\n');
  if (r.profile) {
    process.stdout.write(`\nprofile (${r.profile.file}): idle ${r.profile.idlePercent}% of samples; of the busy time, GC ${r.profile.gcPercent}%; top self time:\n`);
    for (const e of r.profile.top) process.stdout.write(`  ${String(e.percent).padStart(5)}%  ${String(e.selfMs).padStart(6)} ms  ${e.fn}\n`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((err: Error) => {
    process.stderr.write(`core bench failed: ${err.stack ?? err.message}\n`);
    process.exitCode = 1;
  });
}
