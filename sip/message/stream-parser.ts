/**
 * Framing for stream transports (TCP, TLS). Bytes go in with push(); complete messages come out
 * through onMessage. RFC 3261 §18.3: "In the case of stream-oriented transports such as TCP, the
 * Content-Length header field indicates the size of the body. The Content-Length header field MUST
 * be used with stream oriented transports." A message without it cannot be framed, so that, an
 * unreadable Content-Length, or a message over maxMessageBytes is fatal: onError(err, true) and the
 * parser stops; the transport should close the connection. A well-framed message that fails to
 * parse is not fatal: onError(err, false, partial) and parsing goes on with the next message.
 *
 * Keepalives (RFC 5626 §4.4.1): a CRLFCRLF "ping" before a start line is reported as
 * onKeepalive('ping') (a server answers with a single CRLF "pong"); a lone CRLF is reported as
 * onKeepalive('pong'). Other stray CR/LF bytes between messages are ignored (RFC 3261 §7.5).
 *
 * For WebSocket there is nothing to frame: parseMessage() each frame (see parser.ts).
 */
import type { SipMessage } from './model.js';
import { SipParseError } from './errors.js';
import { completeLimits, findHeaderEnd, parseMessage, type ParseLimits, type PartialMessage } from './parser.js';
import { parseDigits } from './header-values.js';

export interface StreamParserOptions {
  limits?: Partial<ParseLimits>;
  /**
   * Sees each framed message before it is parsed; returning true takes it (nothing is parsed or
   * delivered). For a relay that routes some messages by a line or two of their text.
   */
  onFrame?: (bytes: Buffer) => boolean;
  onMessage?: (msg: SipMessage) => void;
  onError?: (err: SipParseError, fatal: boolean, partial?: PartialMessage) => void;
  onKeepalive?: (kind: 'ping' | 'pong') => void;
}

const EMPTY = Buffer.alloc(0);
/** The LF, CR, LF that ends a header section of CRLF lines. */
const LF_CRLF = Buffer.from('\n\r\n');
const CR = 0x0d;
const LF = 0x0a;

const CONTENT_LENGTH = 'content-length';

/** Whether s[pos, pos + 14) is "Content-Length" in any letter case. */
function isContentLengthName(s: string, pos: number): boolean {
  for (let k = 0; k < 14; k++) {
    const want = CONTENT_LENGTH.charCodeAt(k);
    const c = s.charCodeAt(pos + k);
    // `| 0x20` folds only letters to lower case; the hyphen must match as it is (a CR would fold to it).
    if (c !== want && (want === 0x2d || (c | 0x20) !== want)) return false;
  }
  return true;
}

/**
 * Content-Length from the text of a header section (through the LF that ends its last line): a
 * number, 'missing' or 'bad'. Works on the decoded text, not on the bytes: a string's indexOf is
 * a builtin the compiler calls directly, a Buffer's a call into C++ per line, and every message
 * on a stream paid ~15 of those. With the one search for the end in #frameHeader, framing a
 * forwarded REGISTER went from 1.1–1.2 to 0.6 µs (`npm run bench -- hot-paths`).
 */
function findContentLength(s: string): number | 'missing' | 'bad' {
  const end = s.length - 1;
  let result: number | 'missing' = 'missing';
  let pos = 0;
  while (pos < end) {
    let nl = s.indexOf('\n', pos);
    if (nl < 0 || nl > end) nl = end;
    const c = s.charCodeAt(pos) | 0x20;
    let nameEnd = -1;
    if (c === 0x6c /* l */) {
      nameEnd = pos + 1;
    } else if (c === 0x63 /* c */ && nl - pos > 14 && isContentLengthName(s, pos)) {
      nameEnd = pos + 14;
    }
    if (nameEnd > 0) {
      let i = nameEnd;
      while (i < nl && (s.charCodeAt(i) === 0x20 || s.charCodeAt(i) === 0x09)) i++;
      if (i < nl && s.charCodeAt(i) === 0x3a /* : */) {
        // A folded value continues on lines that start with SP/HTAB (RFC 3261 §7.3.1).
        let valueEnd = nl;
        while (valueEnd < end && (s.charCodeAt(valueEnd + 1) === 0x20 || s.charCodeAt(valueEnd + 1) === 0x09)) {
          const next = s.indexOf('\n', valueEnd + 1);
          valueEnd = next < 0 || next > end ? end : next;
        }
        const raw = s.slice(i + 1, valueEnd);
        const value = (valueEnd === nl ? raw : raw.replace(/\s+/g, ' ')).trim();
        nl = valueEnd;
        const n = parseDigits(value, 0, value.length, 0x7fffffff);
        if (n < 0 || (result !== 'missing' && result !== n)) return 'bad';
        result = n;
      }
    }
    pos = nl + 1;
  }
  return result;
}

export class StreamParser {
  onFrame: ((bytes: Buffer) => boolean) | undefined;
  onMessage: (msg: SipMessage) => void;
  onError: (err: SipParseError, fatal: boolean, partial?: PartialMessage) => void;
  onKeepalive: (kind: 'ping' | 'pong') => void;
  readonly limits: ParseLimits;
  #buf: Buffer = EMPTY;
  /** Where the search for the end of the header section resumes. */
  #scanFrom = 0;
  /** Total length of the message being received, once its header section is known; -1 before. */
  #need = -1;
  #failed = false;

  constructor(options: StreamParserOptions = {}) {
    this.limits = completeLimits(options.limits);
    this.onFrame = options.onFrame;
    this.onMessage = options.onMessage ?? (() => {});
    this.onError = options.onError ?? (() => {});
    this.onKeepalive = options.onKeepalive ?? (() => {});
  }

  /** Bytes held waiting for the rest of a message. */
  get buffered(): number {
    return this.#buf.length;
  }

  /** True after a fatal error; further input is ignored until reset(). */
  get failed(): boolean {
    return this.#failed;
  }

  reset(): void {
    this.#buf = EMPTY;
    this.#scanFrom = 0;
    this.#need = -1;
    this.#failed = false;
  }

  push(chunk: Buffer): void {
    if (this.#failed || chunk.length === 0) return;
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    // Each pass consumes at least one byte or returns, so the loop is bounded by the input size.
    while (this.#buf.length > 0 && !this.#failed) {
      if (this.#need < 0 && !this.#frameHeader()) return;
      if (this.#buf.length < this.#need) return;
      const bytes = this.#buf.subarray(0, this.#need);
      this.#buf = this.#buf.length === this.#need ? EMPTY : this.#buf.subarray(this.#need);
      this.#need = -1;
      this.#scanFrom = 0;
      if (this.onFrame?.(bytes) === true) continue;
      const result = parseMessage(bytes, this.limits);
      if (result.ok) this.onMessage(result.message);
      else this.onError(result.error, false, result.partial);
    }
  }

  #fatal(error: SipParseError): false {
    this.#failed = true;
    this.#buf = EMPTY;
    this.onError(error, true);
    return false;
  }

  /** Skips keepalives, finds the header section and sets #need. False when more bytes are needed (or on fatal error). */
  #frameHeader(): boolean {
    let buf = this.#buf;
    let i = 0;
    while (i < buf.length) {
      const c = buf[i];
      if (c === LF) {
        i++; // stray LF
        continue;
      }
      if (c !== CR) break;
      if (i + 1 >= buf.length) break; // wait for the LF
      if (buf[i + 1] !== LF) {
        i++; // stray CR
        continue;
      }
      if (i + 2 < buf.length && buf[i + 2] === CR) {
        if (i + 3 >= buf.length) break; // "\r\n\r": wait for the last byte of a ping
        if (buf[i + 3] === LF) {
          i += 4;
          this.onKeepalive('ping');
          continue;
        }
      }
      i += 2;
      this.onKeepalive('pong');
    }
    if (i > 0) {
      buf = i === buf.length ? EMPTY : buf.subarray(i);
      this.#buf = buf;
      this.#scanFrom = 0;
    }
    if (buf.length === 0 || buf[0] === CR) return false;
    const from = Math.max(0, this.#scanFrom - 3);
    // The usual end first, with one search of the bytes; whether a bare-LF end comes before it is
    // then asked of the decoded text, which Content-Length is read from anyway.
    const crlfEnd = buf.indexOf(LF_CRLF, from);
    let head: string;
    let bodyStart: number;
    if (crlfEnd >= 0) {
      head = buf.toString('latin1', 0, crlfEnd + 1);
      const lfEnd = head.indexOf('\n\n', from);
      if (lfEnd < 0) {
        bodyStart = crlfEnd + 3;
      } else {
        head = head.slice(0, lfEnd + 1);
        bodyStart = lfEnd + 2;
      }
    } else {
      const end = findHeaderEnd(buf, from);
      if (end === undefined) {
        if (buf.length > this.limits.maxMessageBytes) return this.#fatal(new SipParseError('TOO_LARGE', 'Message Too Large'));
        this.#scanFrom = buf.length;
        return false;
      }
      head = buf.toString('latin1', 0, end.lastLf + 1);
      bodyStart = end.bodyStart;
    }
    const length = findContentLength(head);
    if (length === 'missing') {
      return this.#fatal(new SipParseError('MISSING_HEADER', 'Missing Content-Length Header', 'Content-Length'));
    }
    if (length === 'bad') {
      return this.#fatal(new SipParseError('BAD_CONTENT_LENGTH', 'Bad Content-Length Header', 'Content-Length'));
    }
    const need = bodyStart + length;
    if (need > this.limits.maxMessageBytes) return this.#fatal(new SipParseError('TOO_LARGE', 'Message Too Large'));
    this.#need = need;
    return true;
  }
}
