/**
 * Datagram parser: one Buffer (or string) in, one message or one error out. It never throws.
 *
 * Transports:
 * - UDP: one datagram = one message. A datagram holding only CR/LF is reported as 'EMPTY' (an
 *   RFC 5626 keepalive, not an error worth logging).
 * - TCP/TLS: frame with StreamParser (stream-parser.ts), which calls parseMessage per message.
 * - WebSocket (RFC 7118 §5.1): "each SIP message MUST be carried within a single WebSocket
 *   message", so call parseMessage on each text or binary frame as is. Content-Length is optional
 *   there; when present it is checked like on UDP. An ArrayBuffer (uWebSockets.js) is copied,
 *   because it is only valid during the callback that received it; a Buffer or Uint8Array is not,
 *   and the message body shares its memory.
 *
 * Eagerly parsed: the start line, header names (and their keys), header values as raw strings,
 * Content-Length and CSeq (its method must equal the request method). Everything else is parsed
 * on first access (message.ts); validateMessage() forces the headers a proxy relies on, so errors
 * surface at the transport instead of deep inside a transaction.
 */
import type { HeaderField, SipMessage } from './model.js';
import { SipParseError } from './errors.js';
import { Field, Request, Response, _markLatin1, _primeCache } from './message.js';
import { knownSpelling, headerKey, MANDATORY_REQUEST_KEYS, MANDATORY_RESPONSE_KEYS, canonicalHeaderName } from './headers.js';
import { parseCSeq, parseDigits } from './header-values.js';
import { TOKEN } from '../grammar/chars.js';
import { isAscii } from 'node:buffer';

export interface ParseLimits {
  /** Largest message (start line, headers and body) accepted. Default 65535. */
  maxMessageBytes: number;
  /** Most header lines accepted (a folded header counts once). Default 128. */
  maxHeaders: number;
  /** Longest physical line accepted, without its CRLF. Default 8192. */
  maxLineLength: number;
}

export const DEFAULT_PARSE_LIMITS: Readonly<ParseLimits> = Object.freeze({
  maxMessageBytes: 65535,
  maxHeaders: 128,
  maxLineLength: 8192,
});

export interface ParseOptions {
  /** Also run validateMessage() and fail with its error. Default false. */
  validate?: boolean;
}

/** What could be read from a message that failed, so a server can still answer 400 (or 505). */
export interface PartialMessage {
  isRequest: boolean;
  method?: string;
  status?: number;
  /** Header fields read before the error (all of them when `complete`). */
  headers?: readonly HeaderField[];
  /** True when every header line was read; the error lies in their values or in the body. */
  complete?: boolean;
  /**
   * For a request whose start line was readable: a Request holding the header fields read, enough
   * for createResponse() to build the 400. Check `canReply` first.
   */
  request?: Request;
  /**
   * True when a response can be built and routed back: a request (not ACK) whose first Via
   * parses and which has From, To, Call-ID and CSeq lines (RFC 3261 §8.2.6.2 copies them).
   */
  canReply?: boolean;
}

/**
 * The message is always a Request or Response (message.ts) at run time; the contract type is
 * kept so callers only depend on model.ts. Narrow with `instanceof Request` for the extra accessors.
 */
export type ParseResult =
  | { ok: true; message: SipMessage }
  | { ok: false; error: SipParseError; partial?: PartialMessage };

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HTAB = 0x09;
const BUF_LF_CRLF = Buffer.from('\n\r\n');
const BUF_LF_LF = Buffer.from('\n\n');
/** Shared by every message without a body; Buffers of length 0 cannot be written to. */
const EMPTY_BODY = Buffer.alloc(0);

/** Where the header section ends in a buffer. */
export interface HeaderEnd {
  /** Index of the LF that ends the last header line (text of the header section ends before it, minus a CR). */
  lastLf: number;
  /** Index of the first body byte. */
  bodyStart: number;
}

/**
 * Finds the empty line that ends the header section, accepting CRLF and (leniently) bare LF line
 * ends. Two native searches, no per-byte JavaScript loop. Returns undefined when there is none
 * in buf[from, to).
 */
export function findHeaderEnd(buf: Buffer, from: number, to = buf.length): HeaderEnd | undefined {
  const view = to === buf.length ? buf : buf.subarray(0, to);
  const a = view.indexOf(BUF_LF_CRLF, from);
  // A bare-LF end only counts when it comes first, so it is looked for before `a` alone: a stream
  // buffer holding many CRLF messages would otherwise be scanned to its end once per message.
  const b = (a < 0 ? view : buf.subarray(0, a + 1)).indexOf(BUF_LF_LF, from);
  if (b >= 0 && (a < 0 || b < a)) return { lastLf: b, bodyStart: b + 2 };
  if (a >= 0) return { lastLf: a, bodyStart: a + 3 };
  return undefined;
}

/** Index of the first byte that is not CR or LF at or after i. */
export function skipLeadingCrlf(buf: Buffer, i: number): number {
  while (i < buf.length) {
    const c = buf[i];
    if (c !== CR && c !== LF) break;
    i++;
  }
  return i;
}

function fail(code: SipParseError['code'], reason: string, header?: string): SipParseError {
  return new SipParseError(code, reason, header);
}

/** Parse state kept outside the try block so a failure can still report what was read. */
interface State {
  isRequest: boolean;
  startLineRead: boolean;
  method?: string;
  uriText?: string;
  status?: number;
  reason?: string;
  fields: Field[];
  headersComplete: boolean;
  latin1: boolean;
  /** A SIP-Version other than 2.0: reported after the headers are read, so a 505 can be built. */
  versionError?: SipParseError;
}

function isTokenRange(s: string, start: number, end: number): boolean {
  if (end <= start) return false;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || TOKEN[c] === 0) return false;
  }
  return true;
}

/** "SIP/2.0", case-insensitively (RFC 3261 §7.1: "The SIP-Version string is case-insensitive"). */
function checkVersion(s: string, start: number, end: number, st: State): void {
  if (end - start === 7 && s.startsWith('SIP/2.0', start)) return;
  const v = s.slice(start, end);
  if (v.toUpperCase() === 'SIP/2.0') return;
  if (/^SIP\/\d{1,4}\.\d{1,4}$/i.test(v)) st.versionError = fail('BAD_VERSION', 'Version Not Supported');
  else throw fail('BAD_START_LINE', 'Bad Start Line');
}

function parseStartLine(s: string, end: number, st: State): void {
  // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
  if (end >= 4 && (s.charCodeAt(0) | 0x20) === 0x73 && (s.charCodeAt(1) | 0x20) === 0x69 &&
      (s.charCodeAt(2) | 0x20) === 0x70 && s.charCodeAt(3) === 0x2f) {
    st.isRequest = false;
    const sp1 = s.indexOf(' ', 0);
    if (sp1 < 0 || sp1 >= end) throw fail('BAD_START_LINE', 'Bad Status Line');
    checkVersion(s, 0, sp1, st);
    const code = sp1 + 4 <= end ? parseDigits(s, sp1 + 1, sp1 + 4, 699) : -1;
    if (code < 100 || (sp1 + 4 < end && s.charCodeAt(sp1 + 4) !== SP)) throw fail('BAD_START_LINE', 'Bad Status Line');
    st.status = code;
    st.reason = sp1 + 5 <= end ? s.slice(sp1 + 5, end) : '';
    st.startLineRead = true;
    return;
  }
  // Request-Line = Method SP Request-URI SP SIP-Version
  st.isRequest = true;
  const sp1 = s.indexOf(' ', 0);
  if (sp1 <= 0 || sp1 >= end || !isTokenRange(s, 0, sp1)) throw fail('BAD_START_LINE', 'Bad Request Line');
  const sp2 = s.indexOf(' ', sp1 + 1);
  if (sp2 < 0 || sp2 >= end || sp2 === sp1 + 1) throw fail('BAD_START_LINE', 'Bad Request Line');
  if (s.indexOf(' ', sp2 + 1) >= 0 && s.indexOf(' ', sp2 + 1) < end) throw fail('BAD_START_LINE', 'Bad Request Line');
  for (let i = sp1 + 1; i < sp2; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x21 || c === 0x7f) throw fail('BAD_START_LINE', 'Bad Request Line');
  }
  st.method = s.slice(0, sp1);
  checkVersion(s, sp2 + 1, end, st);
  st.uriText = s.slice(sp1 + 1, sp2);
  st.startLineRead = true;
}

/**
 * Reads header lines from text[pos...] into st.fields until the empty line that ends the header
 * section, and returns the index just after that empty line (where the body starts), or -1 when
 * the text ends first. Lines end in LF, optionally preceded by CR; a line starting with SP/HTAB
 * continues the previous header (RFC 3261 §7.3.1 folding) and is joined to it with one SP.
 */
function parseHeaderLines(s: string, pos: number, limits: ParseLimits, st: State): number {
  const len = s.length;
  const fields = st.fields;
  const maxLine = limits.maxLineLength;
  let last: Field | undefined;
  // The next CR at or after pos (-1: none left), found once per CR rather than once per line: a
  // message of bare-LF lines would otherwise be scanned to its end for every line.
  let cr = -2;
  while (pos < len) {
    let nl = s.indexOf('\n', pos);
    if (nl < 0) nl = len;
    let lineEnd = nl;
    if (lineEnd > pos && s.charCodeAt(lineEnd - 1) === CR) lineEnd--;
    if (lineEnd === pos) return nl < len ? nl + 1 : -1; // the empty line
    if (lineEnd - pos > maxLine) throw fail('LINE_TOO_LONG', 'Header Line Too Long');
    // A CR is only allowed before the LF (RFC 3261 §7.3: lines end in CRLF). One anywhere else
    // would end the line for some readers and not for others; fields are copied into other
    // messages as they are, so none may carry one.
    if (cr !== -1 && cr < pos) cr = s.indexOf('\r', pos);
    if (cr >= 0 && cr < lineEnd) throw fail('BAD_HEADER', 'Bare CR In Header');
    const c0 = s.charCodeAt(pos);
    if (c0 === SP || c0 === HTAB) {
      if (last === undefined) throw fail('BAD_HEADER', 'Bad Header Folding');
      let a = pos;
      while (a < lineEnd && (s.charCodeAt(a) === SP || s.charCodeAt(a) === HTAB)) a++;
      let b = lineEnd;
      while (b > a && (s.charCodeAt(b - 1) === SP || s.charCodeAt(b - 1) === HTAB)) b--;
      if (b > a) {
        // Assigning the value also drops the field's place in the text: it is no longer one range.
        last.value = last.value.length === 0 ? s.slice(a, b) : last.value + ' ' + s.slice(a, b);
        if (last.value.length > maxLine) throw fail('LINE_TOO_LONG', 'Header Line Too Long');
      }
      pos = nl + 1;
      continue;
    }
    // field-name HCOLON: the name ends at the first ':' (minus whitespace); a known spelling
    // needs no character check, anything else must be a token.
    const colon = s.indexOf(':', pos);
    if (colon < 0 || colon >= lineEnd) throw fail('BAD_HEADER', 'Bad Header Line');
    let nameEnd = colon;
    while (nameEnd > pos && (s.charCodeAt(nameEnd - 1) === SP || s.charCodeAt(nameEnd - 1) === HTAB)) nameEnd--;
    const known = knownSpelling(s, pos, nameEnd);
    if (known === undefined && !isTokenRange(s, pos, nameEnd)) throw fail('BAD_HEADER', 'Bad Header Name');
    let a = colon + 1;
    while (a < lineEnd && (s.charCodeAt(a) === SP || s.charCodeAt(a) === HTAB)) a++;
    let b = lineEnd;
    while (b > a && (s.charCodeAt(b - 1) === SP || s.charCodeAt(b - 1) === HTAB)) b--;
    if (fields.length >= limits.maxHeaders) throw fail('TOO_MANY_HEADERS', 'Too Many Headers');
    if (known !== undefined) {
      last = new Field(known.name, undefined, known.key, s, a, b);
    } else {
      const name = s.slice(pos, nameEnd);
      last = new Field(name, undefined, headerKey(name), s, a, b);
    }
    fields.push(last);
    pos = nl + 1;
  }
  return -1;
}

function checkHeaders(st: State): number | undefined {
  const fields = st.fields;
  const required = st.isRequest ? MANDATORY_REQUEST_KEYS : MANDATORY_RESPONSE_KEYS;
  // Bit per mandatory header seen; singletons counted to catch duplicates.
  let seen = 0;
  let contentLength: Field | undefined;
  let cseq: Field | undefined;
  let mf = 0;
  let contentType = 0;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    const key = f.key;
    switch (key) {
      case 'via': seen |= 1; break;
      case 'to': if (seen & 2) throw fail('DUPLICATE_HEADER', 'Duplicate To Header', 'To'); seen |= 2; break;
      case 'from': if (seen & 4) throw fail('DUPLICATE_HEADER', 'Duplicate From Header', 'From'); seen |= 4; break;
      case 'call-id': if (seen & 8) throw fail('DUPLICATE_HEADER', 'Duplicate Call-ID Header', 'Call-ID'); seen |= 8; break;
      case 'cseq': if (seen & 16) throw fail('DUPLICATE_HEADER', 'Duplicate CSeq Header', 'CSeq'); seen |= 16; cseq = f; break;
      case 'max-forwards': if (mf++ > 0) throw fail('DUPLICATE_HEADER', 'Duplicate Max-Forwards Header', 'Max-Forwards'); break;
      case 'content-type': if (contentType++ > 0) throw fail('DUPLICATE_HEADER', 'Duplicate Content-Type Header', 'Content-Type'); break;
      case 'content-length':
        if (contentLength !== undefined && contentLength.value !== f.value) {
          throw fail('BAD_CONTENT_LENGTH', 'Conflicting Content-Length', 'Content-Length');
        }
        contentLength = f;
        break;
      default:
        break;
    }
  }
  if (seen !== 31) {
    for (const key of required) {
      if (!fields.some((f) => f.key === key)) {
        const name = canonicalHeaderName(key);
        throw fail('MISSING_HEADER', `Missing ${name} Header`, name);
      }
    }
  }
  if (cseq!.value.length === 0) throw fail('BAD_CSEQ', 'Bad CSeq Header', 'CSeq');
  if (contentLength === undefined) return undefined;
  const v = contentLength.value;
  const n = parseDigits(v, 0, v.length, 0x7fffffff);
  if (n < 0) throw fail('BAD_CONTENT_LENGTH', 'Bad Content-Length Header', 'Content-Length');
  return n;
}

function partialFrom(st: State): PartialMessage | undefined {
  if (!st.startLineRead) return undefined;
  const partial: PartialMessage = { isRequest: st.isRequest, headers: st.fields, complete: st.headersComplete };
  if (st.isRequest) {
    partial.method = st.method!;
    const req = Request._adopt(st.method!, st.uriText!, st.fields, Buffer.alloc(0));
    if (st.latin1) _markLatin1(req);
    partial.request = req;
    partial.canReply = canReply(req);
  } else {
    partial.status = st.status!;
  }
  return partial;
}

/** Whether a (possibly broken) request still allows building and routing a response to it. */
export function canReply(req: Request): boolean {
  if (req.method === 'ACK') return false;
  if (!req.has('from') || !req.has('to') || !req.has('call-id') || !req.has('cseq')) return false;
  try {
    return req.topVia !== undefined;
  } catch {
    return false;
  }
}

function parseUnsafe(buf: Buffer, limits: ParseLimits, st: State): Request | Response {
  if (buf.length > limits.maxMessageBytes) throw fail('TOO_LARGE', 'Message Too Large');
  // RFC 3261 §7.5: "implementations processing SIP messages over stream-oriented transports MUST
  // ignore any CRLF appearing before the start-line"; we do so for datagrams too.
  const start = skipLeadingCrlf(buf, 0);
  if (start === buf.length) throw fail('EMPTY', 'Empty Message');
  let text: string | undefined;
  let bodyStart = -1;
  if (isAscii(buf)) {
    // Fast path, nearly every message: all ASCII, so one char per byte. Decode everything once and
    // find the end of the header section while reading the lines.
    text = buf.toString('latin1', start);
    if (text.indexOf('\0') >= 0) text = undefined; // let the careful path say where the NUL is
  }
  if (text === undefined) {
    const end = findHeaderEnd(buf, start);
    if (end === undefined) throw fail('TRUNCATED', 'Incomplete Header Section');
    const nul = buf.indexOf(0, start);
    if (nul >= 0 && nul < end.lastLf) throw fail('NUL_BYTE', 'NUL Byte In Header');
    // Text of the header section: up to and including the LF that ends the last header line.
    text = buf.toString('utf8', start, end.lastLf + 1);
    if (text.indexOf('\ufffd') >= 0) {
      // Not UTF-8. RFC 3261 requires UTF-8, but a relay should not mangle what it cannot read:
      // read one char per byte and write the same bytes back.
      text = buf.toString('latin1', start, end.lastLf + 1);
      st.latin1 = true;
    }
    bodyStart = end.bodyStart;
  }
  const nl = text.indexOf('\n');
  if (nl < 0) throw fail('TRUNCATED', 'Incomplete Header Section');
  let lineEnd = nl;
  if (lineEnd > 0 && text.charCodeAt(lineEnd - 1) === CR) lineEnd--;
  if (lineEnd > limits.maxLineLength) throw fail('LINE_TOO_LONG', 'Start Line Too Long');
  parseStartLine(text, lineEnd, st);
  const textBodyStart = parseHeaderLines(text, nl + 1, limits, st);
  if (bodyStart < 0) {
    if (textBodyStart < 0) throw fail('TRUNCATED', 'Incomplete Header Section');
    bodyStart = start + textBodyStart;
  }
  st.headersComplete = true;
  if (st.versionError !== undefined) throw st.versionError;

  const contentLength = checkHeaders(st);
  const remaining = buf.length - bodyStart;
  let body: Buffer;
  if (contentLength === undefined) {
    body = remaining === 0 ? EMPTY_BODY : buf.subarray(bodyStart);
  } else if (contentLength > remaining) {
    throw fail('TRUNCATED', 'Body Shorter Than Content-Length', 'Content-Length');
  } else {
    // RFC 3261 §18.3: extra bytes after Content-Length in a datagram are discarded.
    body = contentLength === 0 ? EMPTY_BODY : buf.subarray(bodyStart, bodyStart + contentLength);
  }

  let msg: Request | Response;
  if (st.isRequest) {
    msg = Request._adopt(st.method!, st.uriText!, st.fields, body);
  } else {
    msg = Response._adopt(st.status!, st.reason!, st.fields, body);
  }
  if (st.latin1) _markLatin1(msg);
  const cseq = parseCSeq(msg.get('cseq')!);
  // RFC 3261 §8.1.1.5: "The method MUST match that of the request."
  if (st.isRequest && cseq.method !== st.method) throw fail('BAD_CSEQ', 'CSeq Method Mismatch', 'CSeq');
  _primeCache(msg, 'cseq', cseq);
  return msg;
}

/**
 * Forces parsing of what every proxy and UA touches: Request-URI, every Via, From, To, Call-ID,
 * CSeq, Max-Forwards, Contact, Route and Record-Route. Returns the first error, or undefined.
 */
export function validateMessage(msg: SipMessage): SipParseError | undefined {
  try {
    if (msg.kind === 'request') void msg.uri;
    if (msg.vias.length === 0) throw fail('MISSING_HEADER', 'Missing Via Header', 'Via');
    void msg.from;
    void msg.to;
    void msg.callId;
    void msg.cseq;
    void msg.maxForwards;
    void msg.contacts;
    void msg.routes;
    void msg.recordRoutes;
    return undefined;
  } catch (e) {
    if (e instanceof SipParseError) return e;
    return fail('INTERNAL', 'Internal Parser Error');
  }
}

/**
 * `limits` itself when it names all three, else merged with the defaults. Whoever parses many
 * messages with the same limits completes them once with this (a merge per message was ~0.1 µs).
 */
export function completeLimits(limits: Partial<ParseLimits> | undefined): ParseLimits {
  if (limits === undefined) return DEFAULT_PARSE_LIMITS;
  if (limits.maxMessageBytes !== undefined && limits.maxHeaders !== undefined && limits.maxLineLength !== undefined) return limits as ParseLimits;
  return { ...DEFAULT_PARSE_LIMITS, ...limits };
}

/** Parses one complete message (a datagram, a WebSocket frame, a framed stream message). Never throws. */
export function parseMessage(data: Buffer | Uint8Array | ArrayBuffer | string, limits?: Partial<ParseLimits>, options?: ParseOptions): ParseResult {
  const st: State = { isRequest: false, startLineRead: false, fields: [], headersComplete: false, latin1: false };
  try {
    const lim = completeLimits(limits);
    let buf: Buffer;
    if (typeof data === 'string') {
      if (data.length > lim.maxMessageBytes) return { ok: false, error: fail('TOO_LARGE', 'Message Too Large') };
      buf = Buffer.from(data, 'utf8');
    } else if (Buffer.isBuffer(data)) {
      buf = data;
    } else if (data instanceof Uint8Array) {
      buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    } else if (data instanceof ArrayBuffer) {
      // Copied: uWebSockets.js hands out ArrayBuffers that are only valid during its callback,
      // and the message body would otherwise point into one.
      buf = Buffer.from(new Uint8Array(data));
    } else {
      return { ok: false, error: fail('INTERNAL', 'Not A Buffer') };
    }
    const message = parseUnsafe(buf, lim, st);
    if (options?.validate === true) {
      const error = validateMessage(message);
      if (error !== undefined) {
        const partial = partialFrom(st);
        return partial === undefined ? { ok: false, error } : { ok: false, error, partial };
      }
    }
    return { ok: true, message };
  } catch (e) {
    const error = e instanceof SipParseError ? e : fail('INTERNAL', 'Internal Parser Error');
    let partial: PartialMessage | undefined;
    try {
      partial = partialFrom(st);
    } catch {
      partial = undefined;
    }
    return partial === undefined ? { ok: false, error } : { ok: false, error, partial };
  }
}
