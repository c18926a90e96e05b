/**
 * Runs SIPp (Debian sip-tester 3.6.1, /usr/bin/sipp) as a bounded child process for peer tests
 * and the core benchmark. Each run gets its own temporary directory: the scenario is copied there
 * and SIPp runs with it as cwd, so the files SIPp names after the scenario (stats, rtt) never land
 * in test/fixtures. After exit the result carries the exit code, the last stats row (-trace_stat),
 * the error log (-trace_err), the <log> actions (-trace_logs) and optionally every message and
 * response time.
 *
 * SIPp exit codes: 0 every call succeeded, 1 at least one failed, 97 exit on internal command,
 * 99 normal exit without calls processed, 255 fatal error, 254 fatal error binding a socket.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SIPP_BIN = process.env.SIPP_BIN ?? '/usr/bin/sipp';
export const SIPP_FIXTURES = resolve(fileURLToPath(new URL('.', import.meta.url)), '../fixtures/sipp');

export interface HostPort {
  host: string;
  port: number;
}

export interface SippOptions {
  /** A scenario file (absolute, or a name in test/fixtures/sipp), or a built-in: 'uac', 'uas'. */
  scenario: string;
  /** -i / -p: SIPp's SIP socket. */
  local: HostPort;
  /** -cp: SIPp's UDP control socket (default 8888, outside our port range: always set it). */
  controlPort: number;
  /** -mp: media port; SIPp binds it and port + 2 (on -mi = local.host) whether or not media is used. */
  mediaPort: number;
  /** The proxy (or peer) to send to; omitted for a UAS. */
  remote?: HostPort;
  /** -s: the Request-URI user ([service]). */
  service?: string;
  /** -key NAME VALUE: [NAME] in the scenario. */
  keys?: Record<string, string | number>;
  /** -m: stop after this many calls (default 1). */
  calls?: number;
  /** -r calls per -rp milliseconds (default 10 per second). */
  rate?: number;
  ratePeriodMs?: number;
  /** -l: maximum simultaneous calls. */
  limit?: number;
  /** -d: length of <pause/> in ms. */
  pauseMs?: number;
  rtpEcho?: boolean;
  /** -au / -ap for [authentication]. */
  auth?: { user: string; password: string };
  /** -timeout (global, with -timeout_error so reaching it is a failure); default 20 s. */
  timeoutS?: number;
  /** A CSV injection file's content (-inf). */
  inf?: string;
  /** Keep every message (-trace_msg). */
  traceMessages?: boolean;
  /** Record every response time (-trace_rtt). */
  traceRtt?: boolean;
  /** Run inside this network namespace (ip netns exec). */
  netns?: string;
  extra?: string[];
}

export interface SippResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Last row of the -trace_stat CSV, by column name (e.g. 'SuccessfulCall(C)'). */
  stats: Record<string, string> | undefined;
  /** -trace_err: unexpected messages, timeouts, regexp failures... */
  errors: string;
  /** -trace_logs: the scenario's <log> lines. */
  logs: string;
  /** -trace_msg, when asked for. */
  messages: string;
  /** -trace_rtt response times in ms with the rtd's name, when asked for. */
  rtts: { rtd: string; ms: number }[];
  ms: number;
}

export class SippProcess {
  readonly child: ChildProcess;
  readonly dir: string;
  readonly opts: SippOptions;
  readonly done: Promise<SippResult>;
  readonly #started = performance.now();
  #stdout = '';
  #stderr = '';
  #exited = false;

  private constructor(opts: SippOptions) {
    this.opts = opts;
    this.dir = mkdtempSync(join(tmpdir(), 'sipflow-sipp-'));
    const args = sippArgs(opts, this.dir);
    const [cmd, argv] = opts.netns ? ['ip', ['netns', 'exec', opts.netns, SIPP_BIN, ...args]] : [SIPP_BIN, args];
    this.child = spawn(cmd, argv, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (b: Buffer) => (this.#stdout = (this.#stdout + b.toString()).slice(-200_000)));
    this.child.stderr!.on('data', (b: Buffer) => (this.#stderr = (this.#stderr + b.toString()).slice(-50_000)));
    this.done = new Promise((resolveDone) => {
      const finish = (code: number | null, signal: NodeJS.Signals | null) => {
        this.#exited = true;
        resolveDone(this.#collect(code, signal));
      };
      this.child.once('exit', finish);
      this.child.once('error', (err) => {
        this.#stderr += `\nspawn failed: ${err.message}`;
        finish(null, null);
      });
    });
  }

  /** Starts SIPp; for a UAS, `await ready()` before sending it anything. */
  static start(opts: SippOptions): SippProcess {
    if (!existsSync(SIPP_BIN)) throw new Error(`SIPp not found at ${SIPP_BIN}: apt-get install sip-tester (scripts/test.mjs does it when run as root)`);
    return new SippProcess(opts);
  }

  /** Runs to completion and deletes the run directory; rejects nothing: the caller checks `code`. */
  static async run(opts: SippOptions): Promise<SippResult> {
    const p = SippProcess.start(opts);
    try {
      return await p.done;
    } finally {
      await p.dispose();
    }
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Resolves once SIPp's SIP socket is bound (read from its namespace's /proc/<pid>/net/udp). */
  async ready(ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    const want = this.opts.local.port.toString(16).toUpperCase().padStart(4, '0');
    while (Date.now() < deadline) {
      if (this.#exited) throw new Error(`sipp exited before binding ${this.opts.local.port}: ${this.#stderr.slice(-500)} ${this.#stdout.slice(-500)}`);
      try {
        const table = readFileSync(`/proc/${this.child.pid}/net/udp`, 'utf8');
        // "  sl  local_address ..." rows: "13273: 0100007F:59E2 00000000:0000 07 ..."
        if (table.split('\n').some((l) => /^\s*\d+:\s+[0-9A-F]+:([0-9A-F]{4})\s/.exec(l)?.[1] === want)) return;
      } catch {
        /* process not there yet */
      }
      await sleep(20);
    }
    throw new Error(`sipp did not bind UDP ${this.opts.local.port} within ${ms} ms`);
  }

  /** The <log> lines written so far (SIPp flushes them as it goes). */
  logsSoFar(): string {
    const f = join(this.dir, 'logs.log');
    return existsSync(f) ? readFileSync(f, 'utf8') : '';
  }

  /** Waits (bounded) until a <log> line matches. */
  async waitForLog(re: RegExp, ms = 5000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      const m = re.exec(this.logsSoFar());
      if (m) return m;
      if (this.#exited) break;
      await sleep(20);
    }
    throw new Error(`no SIPp log line matching ${re} within ${ms} ms; logs: ${this.logsSoFar().slice(-500)}`);
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the result. */
  async stop(graceMs = 1000): Promise<SippResult> {
    if (!this.#exited) {
      this.child.kill('SIGTERM');
      const t = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
      await this.done;
      clearTimeout(t);
    }
    return this.done;
  }

  /** Stops the process if needed and deletes the run directory. */
  async dispose(): Promise<void> {
    await this.stop(500);
    if (!process.env.SIPFLOW_KEEP_SIPP) rmSync(this.dir, { recursive: true, force: true });
  }

  #collect(code: number | null, signal: NodeJS.Signals | null): SippResult {
    const read = (name: string) => {
      const f = join(this.dir, name);
      return existsSync(f) ? readFileSync(f, 'utf8') : '';
    };
    const files = existsSync(this.dir) ? readdirSync(this.dir) : [];
    const rttFile = files.find((f) => f.endsWith('_rtt.csv'));
    return {
      code,
      signal,
      stdout: this.#stdout,
      stderr: this.#stderr,
      stats: parseStatCsv(read('stats.csv')),
      errors: read('errors.log'),
      logs: read('logs.log'),
      messages: read('messages.log'),
      rtts: rttFile ? parseRttCsv(read(rttFile)) : [],
      ms: performance.now() - this.#started,
    };
  }
}

function sippArgs(o: SippOptions, dir: string): string[] {
  const args: string[] = [];
  if (o.scenario === 'uac' || o.scenario === 'uas') args.push('-sn', o.scenario);
  else {
    const src = o.scenario.includes('/') ? o.scenario : join(SIPP_FIXTURES, o.scenario);
    copyFileSync(src, join(dir, basename(src)));
    args.push('-sf', basename(src));
  }
  if (o.remote) args.push(`${o.remote.host}:${o.remote.port}`);
  args.push('-i', o.local.host, '-p', String(o.local.port), '-cp', String(o.controlPort));
  args.push('-mi', o.local.host, '-mp', String(o.mediaPort));
  if (o.service) args.push('-s', o.service);
  for (const [k, v] of Object.entries(o.keys ?? {})) args.push('-key', k, String(v));
  args.push('-m', String(o.calls ?? 1));
  if (o.rate !== undefined) args.push('-r', String(o.rate));
  if (o.ratePeriodMs !== undefined) args.push('-rp', String(o.ratePeriodMs));
  if (o.limit !== undefined) args.push('-l', String(o.limit));
  if (o.pauseMs !== undefined) args.push('-d', String(o.pauseMs));
  if (o.rtpEcho) args.push('-rtp_echo');
  if (o.auth) args.push('-au', o.auth.user, '-ap', o.auth.password);
  if (o.inf !== undefined) {
    writeFileSync(join(dir, 'inf.csv'), o.inf);
    args.push('-inf', 'inf.csv');
  }
  args.push('-nostdin', '-timeout', `${o.timeoutS ?? 20}s`, '-timeout_error');
  // Stats once at the end (-fd large) plus the final dump SIPp always writes when it quits.
  args.push('-trace_stat', '-stf', 'stats.csv', '-fd', '3600');
  args.push('-trace_err', '-error_file', 'errors.log');
  args.push('-trace_logs', '-log_file', 'logs.log');
  if (o.traceMessages) args.push('-trace_msg', '-message_file', 'messages.log');
  if (o.traceRtt) args.push('-trace_rtt', '-rtt_freq', '1');
  args.push(...(o.extra ?? []));
  return args;
}

/** The last data row of a SIPp stats CSV (';'-separated, header first), by column name. */
export function parseStatCsv(text: string): Record<string, string> | undefined {
  const lines = text.split('\n').filter((l) => l.trim());
  if (lines.length < 2) return undefined;
  const head = lines[0]!.split(';');
  const last = lines[lines.length - 1]!.split(';');
  const out: Record<string, string> = {};
  head.forEach((h, i) => (out[h] = last[i] ?? ''));
  return out;
}

/** Numeric stats value (cumulative columns end in '(C)'); NaN when absent. */
export function stat(result: SippResult, column: string): number {
  const v = result.stats?.[column];
  return v === undefined || v === '' ? Number.NaN : Number(v);
}

/** -trace_rtt rows: "Date_ms;response_time_ms;rtd_no" (ms since SIPp started; the rtd's name). */
export function parseRttCsv(text: string): { rtd: string; ms: number }[] {
  const out: { rtd: string; ms: number }[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.split(';');
    if (f.length < 3) continue;
    const ms = Number(f[1]);
    if (Number.isFinite(ms)) out.push({ rtd: f[2]!.trim(), ms });
  }
  return out;
}

/** A one-paragraph account of a run for assertion messages. */
export function describe(r: SippResult): string {
  const s = r.stats;
  const counts = s ? `success=${s['SuccessfulCall(C)']} failed=${s['FailedCall(C)']} retrans=${s['Retransmissions(C)']}` : 'no stats';
  return `sipp rc=${r.code}${r.signal ? ` signal=${r.signal}` : ''} ${counts} ${Math.round(r.ms)} ms; errors: ${r.errors.slice(-800) || '-'}; stderr: ${r.stderr.slice(-300) || '-'}`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

