/**
 * baresip 1.0.0 as a headless desk phone for peer tests (settings from RECIPES.md §4): a config
 * directory per run, `baresip -f <dir> -v` as a child (optionally inside a network namespace),
 * its log read as it comes, and the sndfile module's WAV dumps for checking received audio.
 *
 * Shutdown: SIGTERM makes baresip un-REGISTER and wait for the answer, so stop it BEFORE the
 * registrar; `stop()` sends SIGKILL if it has not exited after `graceMs`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const BARESIP_BIN = process.env.BARESIP_BIN ?? '/usr/bin/baresip';

export interface BaresipOptions {
  /** sip_listen; baresip also takes the next port for SIP over TLS. */
  sipListen: { host: string; port: number };
  /** rtp_ports, inclusive. */
  rtpPorts: [number, number];
  /** Lines of the accounts file, e.g. `<sip:deskphone@127.0.0.1:5060;transport=udp>;auth_pass=...`. */
  accounts: string[];
  /** ctrl_tcp_listen port on sipListen.host; omitted: the module is not loaded. */
  ctrlPort?: number;
  /** Default 'ausine,440': a 440 Hz tone (ausine in 1.0.0 only does 48 kHz stereo). */
  audioSource?: string;
  netns?: string;
}

export class Baresip {
  readonly dir: string;
  readonly recDir: string;
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #out = '';
  #hasExited = false;

  private constructor(opts: BaresipOptions) {
    this.dir = mkdtempSync(join(tmpdir(), 'sipflow-baresip-'));
    this.recDir = join(this.dir, 'rec');
    mkdirSync(this.recDir);
    writeFileSync(join(this.dir, 'config'), configText(opts, this.recDir));
    writeFileSync(join(this.dir, 'accounts'), opts.accounts.join('\n') + '\n');
    writeFileSync(join(this.dir, 'contacts'), '');
    const args = ['-f', this.dir, '-v'];
    const [cmd, argv] = opts.netns ? ['ip', ['netns', 'exec', opts.netns, BARESIP_BIN, ...args]] : [BARESIP_BIN, args];
    this.child = spawn(cmd, argv, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const onData = (b: Buffer) => {
      // Strip ANSI colours; keep the last 500 kB.
      this.#out = (this.#out + b.toString().replace(/\x1b\[[0-9;]*m/g, '')).slice(-500_000);
    };
    this.child.stdout!.on('data', onData);
    this.child.stderr!.on('data', onData);
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.#hasExited = true;
        resolve({ code, signal });
      });
      this.child.once('error', (err) => {
        this.#out += `\nspawn failed: ${err.message}`;
        this.#hasExited = true;
        resolve({ code: null, signal: null });
      });
    });
  }

  /** Starts baresip and waits (bounded) until it says it is ready. */
  static async start(opts: BaresipOptions, readyMs = 5000): Promise<Baresip> {
    if (!existsSync(BARESIP_BIN)) throw new Error(`baresip not found at ${BARESIP_BIN}: apt-get install baresip (scripts/test.mjs does it when run as root)`);
    const b = new Baresip(opts);
    try {
      await b.waitFor(/baresip is ready/, readyMs);
    } catch (err) {
      await b.dispose();
      throw err;
    }
    return b;
  }

  get output(): string {
    return this.#out;
  }

  get running(): boolean {
    return !this.#hasExited;
  }

  /** Waits (bounded) until the log matches `re` (searching the whole log so far, from `from`). */
  async waitFor(re: RegExp, ms = 5000, from = 0): Promise<RegExpMatchArray> {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = re.exec(this.#out.slice(from));
      if (m) return m;
      if (this.#hasExited) throw new Error(`baresip exited while waiting for ${re}; log tail: ${this.#out.slice(-1500)}`);
      if (Date.now() > deadline) throw new Error(`baresip log did not match ${re} within ${ms} ms; log tail: ${this.#out.slice(-1500)}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** SIGTERM (un-REGISTER, then exit), SIGKILL after `graceMs`. */
  async stop(graceMs = 5000): Promise<{ code: number | null; signal: NodeJS.Signals | null; graceful: boolean }> {
    if (this.#hasExited) return { ...(await this.exited), graceful: true };
    this.child.kill('SIGTERM');
    let graceful = true;
    const t = setTimeout(() => {
      graceful = false;
      this.child.kill('SIGKILL');
    }, graceMs);
    const r = await this.exited;
    clearTimeout(t);
    return { ...r, graceful };
  }

  async dispose(): Promise<void> {
    await this.stop(1000);
    if (process.env.SIPFLOW_KEEP_BARESIP) writeFileSync(join(this.dir, 'baresip.log'), this.#out);
    else rmSync(this.dir, { recursive: true, force: true });
  }

  /** The sndfile dumps: `*-dec.wav` is what baresip decoded from the network, `*-enc.wav` what it sent. */
  recordings(): { decoded: string[]; encoded: string[] } {
    const files = existsSync(this.recDir) ? readdirSync(this.recDir).map((f) => join(this.recDir, f)) : [];
    return { decoded: files.filter((f) => f.endsWith('dec.wav')), encoded: files.filter((f) => f.endsWith('enc.wav')) };
  }
}

function configText(o: BaresipOptions, recDir: string): string {
  const lines: [string, string][] = [
    ['module_path', '/usr/lib/baresip/modules'],
    ['poll_method', 'epoll'],
    ['sip_listen', `${o.sipListen.host}:${o.sipListen.port}`],
    // REQUIRED on loopback-only hosts (the default skips lo); an address works, a name does not.
    ['net_interface', o.sipListen.host],
    ['dns_server', '127.0.0.1:53'],
    ['audio_player', 'alsa,null'],
    ['audio_alert', 'alsa,null'],
    ['audio_source', o.audioSource ?? 'ausine,440'],
    ['ausrc_srate', '48000'],
    ['ausrc_channels', '2'],
    ['audio_buffer', '60'],
    ['rtp_ports', `${o.rtpPorts[0]}-${o.rtpPorts[1]}`],
    ['rtcp_mux', 'no'],
    ['jitter_buffer_delay', '5-10'],
    ['module', 'g711.so'],
    ['module', 'alsa.so'],
    ['module', 'ausine.so'],
    ['module', 'sndfile.so'],
    ['module_tmp', 'uuid.so'],
    ['module_tmp', 'account.so'],
    ['module_app', 'contact.so'],
    ['module_app', 'menu.so'],
    ['snd_path', recDir],
  ];
  if (o.ctrlPort !== undefined) lines.push(['module_app', 'ctrl_tcp.so'], ['ctrl_tcp_listen', `${o.sipListen.host}:${o.ctrlPort}`]);
  return lines.map(([k, v]) => `${k}\t\t${v}`).join('\n') + '\n';
}

/** Peak absolute sample and length of a 16-bit PCM WAV file (the sndfile dumps). */
export function wavStats(path: string): { peak: number; samples: number; rate: number } {
  const buf = readFileSync(path);
  if (buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE') throw new Error(`${path} is not a WAV file`);
  let off = 12;
  let rate = 0;
  let bits = 16;
  while (off + 8 <= buf.length) {
    const id = buf.toString('ascii', off, off + 4);
    const size = buf.readUInt32LE(off + 4);
    if (id === 'fmt ') {
      rate = buf.readUInt32LE(off + 12);
      bits = buf.readUInt16LE(off + 22);
    } else if (id === 'data') {
      if (bits !== 16) throw new Error(`${path}: ${bits}-bit samples, expected 16`);
      const end = Math.min(buf.length, off + 8 + (size || buf.length));
      let peak = 0;
      let n = 0;
      for (let p = off + 8; p + 1 < end; p += 2, n++) peak = Math.max(peak, Math.abs(buf.readInt16LE(p)));
      return { peak, samples: n, rate };
    }
    off += 8 + size + (size & 1);
  }
  return { peak: 0, samples: 0, rate };
}
