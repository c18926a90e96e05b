/**
 * A scriptable UDP SIP endpoint for tests: sends raw messages, waits (bounded) for the next
 * message matching a predicate, and records everything it received.
 */
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { parseMessage } from '../../sip/message/parser.js';
import type { SipMessage, SipRequest, SipResponse } from '../../sip/message/model.js';
import { createResponse } from '../../sip/message/factory.js';

export class UdpUa {
  readonly received: SipMessage[] = [];
  readonly #socket: Socket;
  /** Messages already handed to a waiter: each message satisfies one wait. */
  readonly #consumed = new WeakSet<SipMessage>();
  #waiters: { pred: (m: SipMessage) => boolean; resolve: (m: SipMessage) => void }[] = [];
  port = 0;
  readonly host = '127.0.0.1';
  /** Answer incoming requests automatically (e.g. 200 to BYE). */
  autoAnswer?: (req: SipRequest) => { status: number; headers?: [string, string][]; body?: string } | undefined;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('message', (buf, rinfo) => {
      const r = parseMessage(buf);
      if (!r.ok) return;
      const m = r.message;
      (m as SipMessage & { from_: string }).from_ = `${rinfo.address}:${rinfo.port}`;
      this.received.push(m);
      if (m.kind === 'request' && this.autoAnswer && m.method !== 'ACK') {
        const a = this.autoAnswer(m);
        if (a) this.reply(m, a.status, a.headers ?? [], a.body, `${rinfo.address}:${rinfo.port}`);
      }
      const i = this.#waiters.findIndex((w) => w.pred(m));
      if (i >= 0) this.#waiters.splice(i, 1)[0]!.resolve(m);
    });
  }

  static async open(): Promise<UdpUa> {
    const s = createSocket('udp4');
    await new Promise<void>((res) => s.bind(0, '127.0.0.1', () => res()));
    const ua = new UdpUa(s);
    ua.port = s.address().port;
    return ua;
  }

  send(text: string, to: { host: string; port: number }): void {
    this.#socket.send(Buffer.from(text), to.port, to.host);
  }

  sendRaw(buf: Buffer, to: { host: string; port: number }): void {
    this.#socket.send(buf, to.port, to.host);
  }

  reply(req: SipRequest, status: number, headers: [string, string][] = [], body?: string, to?: string): SipResponse {
    // RFC 3261 §12.1.1: a UAS copies Record-Route into responses that establish a dialog.
    const rr: [string, string][] = status > 100 && status < 300 ? req.getAll('Record-Route').map((v) => ['Record-Route', v]) : [];
    const res = createResponse(req, status, undefined, { toTag: req.to.params.get('tag') ?? 'uas' + this.port, headers: [...rr, ...headers], ...(body ? { body: Buffer.from(body) } : {}) });
    const via = req.topVia!;
    const host = via.params.get('received') ?? via.host;
    const rport = via.params.get('rport');
    const port = rport ? Number(rport) : via.port ?? 5060;
    const [h, p] = to ? to.split(':') : [host, String(port)];
    this.#socket.send(res.toBuffer(), Number(p), h!);
    return res;
  }

  /** Resolves with the first message (already received or future) matching `pred`; rejects after `ms`. */
  wait<T extends SipMessage = SipMessage>(pred: (m: SipMessage) => boolean, ms = 5000, what = 'message'): Promise<T> {
    const earlier = this.received.find((m) => !this.#consumed.has(m) && pred(m));
    if (earlier) {
      this.#consumed.add(earlier);
      return Promise.resolve(earlier as T);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
      }, ms);
      const waiter = {
        pred,
        resolve: (m: SipMessage) => {
          clearTimeout(timer);
          this.#consumed.add(m);
          resolve(m as T);
        },
      };
      this.#waiters.push(waiter);
    });
  }

  response(callId: string, method: string, minStatus = 200, ms = 5000): Promise<SipResponse> {
    return this.wait<SipResponse>((m) => m.kind === 'response' && m.callId === callId && m.cseq.method === method && m.status >= minStatus, ms, `${method} response ≥${minStatus} for ${callId}`);
  }

  request(method: string, ms = 5000, callId?: string): Promise<SipRequest> {
    return this.wait<SipRequest>((m) => m.kind === 'request' && m.method === method && (!callId || m.callId === callId), ms, `${method} request`);
  }

  close(): void {
    this.#socket.close();
  }
}

export function branch(): string {
  return 'z9hG4bK' + randomBytes(8).toString('hex');
}

export function callId(): string {
  return randomBytes(10).toString('hex') + '@test';
}
