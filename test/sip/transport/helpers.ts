/** Loopback test helpers: a handler that queues what arrives, with bounded waits. */
import type { SipParseError } from '../../../sip/message/errors.js';
import type { SipMessage } from '../../../sip/message/model.js';
import type { ConnectionInfo, ParseErrorInfo, ReceivedFrom, TransportHandler } from '../../../sip/transport/transport.js';

export type Event =
  | { type: 'message'; message: SipMessage; source: ReceivedFrom }
  | { type: 'parse-error'; error: SipParseError; source: ReceivedFrom; raw: Buffer; info: ParseErrorInfo | undefined }
  | { type: 'keepalive'; source: ReceivedFrom }
  | { type: 'open'; info: ConnectionInfo }
  | { type: 'close'; info: ConnectionInfo; error: Error | undefined }
  | { type: 'error'; error: Error };

export class Collector implements TransportHandler {
  readonly events: Event[] = [];
  #waiters: Array<() => void> = [];

  onMessage(message: SipMessage, source: ReceivedFrom): void {
    this.#push({ type: 'message', message, source });
  }
  onParseError(error: SipParseError, source: ReceivedFrom, raw: Buffer, info?: ParseErrorInfo): void {
    this.#push({ type: 'parse-error', error, source, raw, info });
  }
  onKeepalive(source: ReceivedFrom): void {
    this.#push({ type: 'keepalive', source });
  }
  onConnectionOpen(info: ConnectionInfo): void {
    this.#push({ type: 'open', info });
  }
  onConnectionClose(info: ConnectionInfo, error?: Error): void {
    this.#push({ type: 'close', info, error });
  }
  onError(error: Error): void {
    this.#push({ type: 'error', error });
  }

  of<T extends Event['type']>(type: T): Extract<Event, { type: T }>[] {
    return this.events.filter((e): e is Extract<Event, { type: T }> => e.type === type);
  }

  /** Resolves once `count` events of `type` arrived; rejects after `ms`. */
  async waitFor<T extends Event['type']>(type: T, count = 1, ms = 3000): Promise<Extract<Event, { type: T }>[]> {
    const deadline = Date.now() + ms;
    while (this.of(type).length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${count} '${type}' events (have ${this.of(type).length})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.of(type);
  }

  #push(e: Event): void {
    this.events.push(e);
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }
}

export function sipRequest(method = 'OPTIONS', branch = 'z9hG4bKloop1', body = '', extra: string[] = []): string {
  return [
    `${method} sip:bob@127.0.0.1 SIP/2.0`,
    `Via: SIP/2.0/TCP 127.0.0.1:5999;branch=${branch}`,
    'Max-Forwards: 70',
    'To: <sip:bob@127.0.0.1>',
    'From: <sip:alice@127.0.0.1>;tag=abc',
    `Call-ID: ${branch}@test`,
    `CSeq: 1 ${method}`,
    ...extra,
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
