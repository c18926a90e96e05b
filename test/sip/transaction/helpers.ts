/** Shared fixtures for transaction tests: raw messages through the real parser, a recording transport. */
import { parseMessage } from '../../../sip/message/parser.js';
import { createResponse } from '../../../sip/message/factory.js';
import type { SipMessage, SipRequest, SipResponse } from '../../../sip/message/model.js';
import { outgoingBytes, type Outgoing, type TransportTarget } from '../../../sip/transport/transport.js';
import { ManualClock } from '../../../sip/transaction/manual-clock.js';
import { resolveTimerSettings } from '../../../sip/transaction/timers.js';
import type { TransactionContext } from '../../../sip/transaction/transaction.js';
import type { TransactionObserver } from '../../../sip/transaction/transaction-observer.js';

export function parse(text: string): SipMessage {
  const wire = text.replace(/\r?\n/g, '\r\n');
  const r = parseMessage(wire);
  if (!r.ok) throw new Error(`fixture does not parse: ${r.error.code} ${r.error.message}`);
  return r.message;
}

export function parseRequest(text: string): SipRequest {
  const m = parse(text);
  if (m.kind !== 'request') throw new Error('fixture is not a request');
  return m;
}

export function parseResponse(text: string): SipResponse {
  const m = parse(text);
  if (m.kind !== 'response') throw new Error('fixture is not a response');
  return m;
}

export interface RequestFixture {
  method?: string;
  uri?: string;
  branch?: string;
  /** sent-by host:port of the top Via */
  sentBy?: string;
  transport?: string;
  callId?: string;
  cseq?: number;
  fromTag?: string;
  toTag?: string;
  extraHeaders?: string[];
}

/** A request as raw text (RFC 3261 §24.2 style), parsed by the real parser. */
export function request(f: RequestFixture = {}): SipRequest {
  const method = f.method ?? 'INVITE';
  const via = `SIP/2.0/${f.transport ?? 'UDP'} ${f.sentBy ?? 'pc33.atlanta.com:5060'}${f.branch === '' ? '' : `;branch=${f.branch ?? 'z9hG4bK776asdhds'}`}`;
  const lines = [
    `${method} ${f.uri ?? 'sip:bob@biloxi.com'} SIP/2.0`,
    `Via: ${via}`,
    'Max-Forwards: 70',
    `To: Bob <sip:bob@biloxi.com>${f.toTag ? `;tag=${f.toTag}` : ''}`,
    `From: Alice <sip:alice@atlanta.com>;tag=${f.fromTag ?? '1928301774'}`,
    `Call-ID: ${f.callId ?? 'a84b4c76e66710@pc33.atlanta.com'}`,
    `CSeq: ${f.cseq ?? 314159} ${method}`,
    'Contact: <sip:alice@pc33.atlanta.com>',
    ...(f.extraHeaders ?? []),
    'Content-Length: 0',
    '',
    '',
  ];
  return parseRequest(lines.join('\r\n'));
}

/** A response to `req` as the far end would send it (re-parsed, so it is a received message). */
export function response(req: SipRequest, status: number, toTag?: string): SipResponse {
  const opts = toTag !== undefined && status > 100 ? { toTag } : {};
  return parseResponse(createResponse(req, status, undefined, opts).toString());
}

export interface Sent {
  data: Buffer;
  target: TransportTarget;
  message: SipMessage;
  at: number;
}

/** A transport stand-in that records what was sent, and can be told to fail. */
export class RecordingSender {
  readonly sent: Sent[] = [];
  fail: Error | undefined;
  constructor(readonly clock: { now(): number }) {}

  send(data: Outgoing, target: TransportTarget): Promise<void> {
    const buf = outgoingBytes(data);
    if (this.fail) return Promise.reject(this.fail);
    this.sent.push({ data: buf, target, message: parse(buf.toString('latin1')), at: this.clock.now() });
    return Promise.resolve();
  }

  requests(method?: string): SipRequest[] {
    return this.sent.map((s) => s.message).filter((m): m is SipRequest => m.kind === 'request' && (method === undefined || m.method === method));
  }

  responses(status?: number): SipResponse[] {
    return this.sent.map((s) => s.message).filter((m): m is SipResponse => m.kind === 'response' && (status === undefined || m.status === status));
  }

  times(filter: (m: SipMessage) => boolean): number[] {
    return this.sent.filter((s) => filter(s.message)).map((s) => s.at);
  }
}

export function setup(observer?: TransactionObserver): { clock: ManualClock; sender: RecordingSender; ctx: TransactionContext } {
  const clock = new ManualClock();
  const sender = new RecordingSender(clock);
  const ctx: TransactionContext = { clock, timers: resolveTimerSettings(), send: (d, t) => sender.send(d, t), ...(observer ? { observer } : {}) };
  return { clock, sender, ctx };
}

export const UDP_TARGET: TransportTarget = { protocol: 'udp', host: '192.0.2.10', port: 5060 };
export const TCP_TARGET: TransportTarget = { protocol: 'tcp', host: '192.0.2.10', port: 5060 };

/** Lets promise callbacks (transport failures) run. */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
