/** Via (RFC 3261 §20.42, RFC 3581). CONTRACT — implemented by the parser work. */
import { SipParseError } from '../message/errors.js';
import { TOKEN, isDigit, isWs } from './chars.js';
import { formatParams, parseParamsAt } from './params.js';
import { readHost } from './uri.js';

export interface Via {
  /** 'SIP/2.0' */
  protocol: string;
  /** Upper-case transport: 'UDP' | 'TCP' | 'TLS' | 'WS' | 'WSS' | 'SCTP' | ... */
  transport: string;
  /** sent-by host, lower-cased; IPv6 with brackets. */
  host: string;
  port?: number;
  /** branch, received, rport (null when a flag), maddr, ttl ...; names lower-cased. */
  params: Map<string, string | null>;
}

/** RFC 3261 §8.1.1.7: a branch starting with this cookie was built by an RFC 3261 element. */
export const MAGIC_COOKIE = 'z9hG4bK';

function bad(): SipParseError {
  return new SipParseError('BAD_VIA', 'Bad Via Header', 'Via');
}

function skipSws(s: string, i: number, end: number): number {
  while (i < end && isWs(s.charCodeAt(i))) i++;
  return i;
}

function scanToken(s: string, i: number, end: number): number {
  while (i < end) {
    const c = s.charCodeAt(i);
    if (c > 127 || TOKEN[c] === 0) break;
    i++;
  }
  return i;
}

const TRANSPORTS = ['UDP', 'TCP', 'TLS', 'WSS', 'WS', 'SCTP', 'TLS-SCTP'];

/** The transport token s[start, end) upper-cased; the usual ones as constants. */
function transportOf(s: string, start: number, end: number): string {
  for (const t of TRANSPORTS) {
    if (t.length === end - start && s.startsWith(t, start)) return t;
  }
  return s.slice(start, end).toUpperCase();
}

/** Parses one via-parm at s[pos]; returns it and the index where it ended. */
function parseViaAt(s: string, pos: number, end: number): [Via, number] {
  let i = skipSws(s, pos, end);
  let protocol: string;
  if (s.startsWith('SIP/2.0/', i) && i + 8 <= end) {
    // Fast path: what every stack sends.
    protocol = 'SIP/2.0';
    i += 8;
  } else {
    // sent-protocol = protocol-name SLASH protocol-version SLASH transport, SLASH = SWS "/" SWS
    const nameStart = i;
    i = scanToken(s, i, end);
    if (i === nameStart) throw bad();
    const name = s.slice(nameStart, i).toUpperCase();
    i = skipSws(s, i, end);
    if (s.charCodeAt(i) !== 0x2f) throw bad();
    i = skipSws(s, i + 1, end);
    const versionStart = i;
    i = scanToken(s, i, end);
    if (i === versionStart) throw bad();
    const version = s.slice(versionStart, i);
    protocol = name === 'SIP' && version === '2.0' ? 'SIP/2.0' : name + '/' + version;
    i = skipSws(s, i, end);
    if (s.charCodeAt(i) !== 0x2f) throw bad();
    i = skipSws(s, i + 1, end);
  }
  const transportStart = i;
  i = scanToken(s, i, end);
  if (i === transportStart || i >= end) throw bad();
  const transport = transportOf(s, transportStart, i);
  const afterTransport = i;
  i = skipSws(s, i, end);
  if (i === afterTransport) throw bad(); // LWS before sent-by is required
  let host: string;
  let hostEnd: number;
  try {
    [host, hostEnd] = readHost(s, i, end);
  } catch {
    throw bad();
  }
  i = skipSws(s, hostEnd, end);
  let port = -1;
  if (i < end && s.charCodeAt(i) === 0x3a) {
    i = skipSws(s, i + 1, end);
    const portStart = i;
    port = 0;
    while (i < end && isDigit(s.charCodeAt(i))) port = port * 10 + (s.charCodeAt(i++) - 0x30);
    if (i === portStart || i - portStart > 5 || port > 65535) throw bad();
  }
  const params = new Map<string, string | null>();
  try {
    i = parseParamsAt(s, i, params, end, 'Via parameter');
  } catch {
    throw bad();
  }
  // One literal per shape: an absent port is an absent key.
  const via: Via = port < 0 ? { protocol, transport, host, params } : { protocol, transport, host, port, params };
  return [via, i];
}

/** Parses a Via header value, which may hold several comma-separated via-parms. Throws SipParseError('BAD_VIA'). */
export function parseVia(text: string, out: Via[] = []): Via[] {
  return parseViaRange(text, 0, text.length, out);
}

/** parseVia of text[start, end), in place. */
export function parseViaRange(text: string, start: number, end: number, out: Via[] = []): Via[] {
  let i = skipSws(text, start, end);
  if (i === end) throw bad();
  while (i < end) {
    if (text.charCodeAt(i) === 0x2c) {
      i = skipSws(text, i + 1, end);
      continue;
    }
    const [via, next] = parseViaAt(text, i, end);
    out.push(via);
    i = skipSws(text, next, end);
    if (i < end) {
      if (text.charCodeAt(i) !== 0x2c) throw bad();
      i = skipSws(text, i + 1, end);
    }
  }
  return out;
}

export function formatVia(v: Via): string {
  const port = v.port !== undefined ? ':' + v.port : '';
  return v.protocol + '/' + v.transport + ' ' + v.host + port + formatParams(v.params);
}

export function cloneVia(v: Via): Via {
  const copy: Via = { protocol: v.protocol, transport: v.transport, host: v.host, params: new Map(v.params) };
  if (v.port !== undefined) copy.port = v.port;
  return copy;
}

/** The branch parameter, if any. */
export function viaBranch(v: Via): string | undefined {
  const b = v.params.get('branch');
  return b === null ? undefined : b;
}
