/**
 * A client for rtpengine's ng control protocol: one UDP datagram per command,
 * `cookie + ' ' + bencode(dict)`, answered by `cookie + ' ' + bencode(reply)`. Commands are
 * retried on timeout (rtpengine caches replies by cookie, so a retried offer is not applied twice)
 * and spread over several rtpengines; a call sticks to the instance that got its offer.
 */
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { bdecode, bencode, type BValue } from './bencode.js';

export interface RtpengineAddress {
  host: string;
  port: number;
}

export class RtpengineError extends Error {
  constructor(message: string, readonly kind: 'timeout' | 'error-reply' | 'bad-reply' | 'no-instance') {
    super(message);
    this.name = 'RtpengineError';
  }
}

export interface RtpengineClientOptions {
  instances: RtpengineAddress[];
  /** Per-attempt timeout. */
  timeoutMs?: number;
  /** Attempts per instance before moving to the next one. */
  attempts?: number;
  onCommand?(command: string, outcome: 'ok' | 'error', ms: number): void;
}

interface Pending {
  resolve(v: Record<string, BValue>): void;
  reject(e: Error): void;
}

export class RtpengineClient {
  readonly #socket: Socket;
  readonly #pending = new Map<string, Pending>();
  readonly #opts: Required<Omit<RtpengineClientOptions, 'onCommand'>> & Pick<RtpengineClientOptions, 'onCommand'>;
  /** call-id → index of the instance that holds the call. */
  readonly #affinity = new Map<string, number>();
  #next = 0;

  constructor(opts: RtpengineClientOptions) {
    if (opts.instances.length === 0) throw new TypeError('at least one rtpengine address is required');
    this.#opts = { timeoutMs: 1000, attempts: 2, ...opts };
    this.#socket = createSocket('udp4');
    this.#socket.on('message', (msg) => this.#onReply(msg));
    this.#socket.on('error', () => {
      /* send errors surface as timeouts of the command that caused them */
    });
    this.#socket.unref();
  }

  async command(dict: Record<string, BValue | undefined>): Promise<Record<string, BValue>> {
    const callId = typeof dict['call-id'] === 'string' ? (dict['call-id'] as string) : undefined;
    const command = String(dict.command);
    const started = Date.now();
    const n = this.#opts.instances.length;
    const first = callId !== undefined && this.#affinity.has(callId) ? this.#affinity.get(callId)! : this.#next++ % n;
    // A call already anchored on one rtpengine can't move: only a new call may try the others.
    const order = callId !== undefined && this.#affinity.has(callId) ? [first] : Array.from({ length: n }, (_, k) => (first + k) % n);
    let lastError: Error = new RtpengineError('no rtpengine answered', 'no-instance');
    for (const idx of order) {
      const cookie = randomBytes(8).toString('hex');
      for (let attempt = 0; attempt < this.#opts.attempts; attempt++) {
        try {
          const reply = await this.#send(this.#opts.instances[idx]!, cookie, dict);
          if (reply.result === 'error') {
            this.#opts.onCommand?.(command, 'error', Date.now() - started);
            throw new RtpengineError(`rtpengine ${command} failed: ${String(reply['error-reason'] ?? 'unknown')}`, 'error-reply');
          }
          if (callId !== undefined) {
            if (command === 'delete') this.#affinity.delete(callId);
            else this.#affinity.set(callId, idx);
          }
          this.#opts.onCommand?.(command, 'ok', Date.now() - started);
          return reply;
        } catch (err) {
          lastError = err as Error;
          if (err instanceof RtpengineError && err.kind === 'error-reply') throw err;
        }
      }
    }
    this.#opts.onCommand?.(command, 'error', Date.now() - started);
    throw lastError;
  }

  ping(): Promise<Record<string, BValue>> {
    return this.command({ command: 'ping' });
  }

  #send(to: RtpengineAddress, cookie: string, dict: Record<string, BValue | undefined>): Promise<Record<string, BValue>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(cookie);
        reject(new RtpengineError(`rtpengine ${to.host}:${to.port} did not answer ${String(dict.command)} within ${this.#opts.timeoutMs} ms`, 'timeout'));
      }, this.#opts.timeoutMs);
      this.#pending.set(cookie, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      const payload = Buffer.concat([Buffer.from(cookie + ' '), bencode(dict as BValue)]);
      this.#socket.send(payload, to.port, to.host);
    });
  }

  #onReply(msg: Buffer): void {
    const space = msg.indexOf(0x20);
    if (space <= 0) return;
    const cookie = msg.toString('latin1', 0, space);
    const pending = this.#pending.get(cookie);
    if (!pending) return;
    this.#pending.delete(cookie);
    try {
      const v = bdecode(msg.subarray(space + 1));
      if (typeof v !== 'object' || Array.isArray(v) || Buffer.isBuffer(v)) throw new Error('reply is not a dictionary');
      pending.resolve(v as Record<string, BValue>);
    } catch (err) {
      pending.reject(new RtpengineError(`bad rtpengine reply: ${(err as Error).message}`, 'bad-reply'));
    }
  }

  close(): void {
    for (const p of this.#pending.values()) p.reject(new RtpengineError('client closed', 'timeout'));
    this.#pending.clear();
    this.#socket.close();
  }
}
