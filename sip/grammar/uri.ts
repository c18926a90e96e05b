/**
 * SIP/SIPS/tel URIs (RFC 3261 §19.1, RFC 3966). CONTRACT — implemented by the parser work:
 * parseUri(text) throws SipParseError on malformed input; formatUri(parseUri(t)) is canonical and
 * stable; unknown schemes (e.g. 'urn', 'http') are kept opaque in `opaque`.
 */
import { SipParseError } from '../message/errors.js';
import {
  HOST_CHARS, PASSWORD_CHARS, URI_HEADER_CHARS, URI_PARAM_CHARS, USER_CHARS, hexValue, isDigit,
} from './chars.js';
import { lowerAscii, paramName } from './params.js';

export interface SipUri {
  /** Lower-case scheme: 'sip' | 'sips' | 'tel' | other. */
  scheme: string;
  /** Unescaped user part (sip/sips) or the tel number; undefined when absent. */
  user?: string;
  password?: string;
  /** Host as written, lower-cased; IPv6 references keep their brackets: '[2001:db8::1]'. */
  host: string;
  port?: number;
  /** URI parameters in order; names lower-cased; value null for a flag parameter like ';lr'. */
  params: Map<string, string | null>;
  /** ?headers, unescaped. */
  headers: Map<string, string>;
  /** For schemes other than sip/sips/tel: everything after 'scheme:'. */
  opaque?: string;
}

function bad(): SipParseError {
  return new SipParseError('BAD_URI', 'Bad URI');
}

const BAD = -1;
const CLEAN = 0;
const ESCAPED = 1;

/**
 * Checks s[start, end) against a character table, with '%' only as the start of '%' HEXDIG HEXDIG.
 * Returns BAD, CLEAN (no escapes) or ESCAPED, so callers unescape only when there is something to do.
 */
function scanEscaped(t: Uint8Array, s: string, start: number, end: number): number {
  let result = CLEAN;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || t[c] === 0) return BAD;
    if (c === 0x25) {
      if (i + 2 >= end) return BAD;
      if (hexValue(s.charCodeAt(i + 1)) < 0 || hexValue(s.charCodeAt(i + 2)) < 0) return BAD;
      i += 2;
      result = ESCAPED;
    }
  }
  return result;
}

function checkEscaped(t: Uint8Array, s: string, start: number, end: number): boolean {
  return scanEscaped(t, s, start, end) !== BAD;
}

/** Resolves %HH escapes; the bytes are read as UTF-8 when they form UTF-8, else one char per byte. */
export function unescapeUriPart(s: string): string {
  if (s.indexOf('%') < 0) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s.replace(/%([0-9a-fA-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
  }
}

const HEX = '0123456789ABCDEF';

/** Escapes every character outside the table (and '%' itself) as UTF-8 %HH. */
function escapeWith(t: Uint8Array, s: string): string {
  let clean = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || t[c] === 0 || c === 0x25) {
      clean = false;
      break;
    }
  }
  if (clean) return s;
  let out = '';
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    if (ch.length === 1 && c < 128 && t[c] === 1 && c !== 0x25) {
      out += ch;
    } else {
      for (const b of Buffer.from(ch, 'utf8')) out += '%' + HEX[b >> 4] + HEX[b & 15];
    }
  }
  return out;
}

export function escapeUser(user: string): string {
  return escapeWith(USER_CHARS, user);
}

function isSchemeChar(c: number, first: boolean): boolean {
  const alpha = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
  if (first) return alpha;
  return alpha || isDigit(c) || c === 0x2b || c === 0x2d || c === 0x2e;
}

/** Parses the port digits s[start, end); 0..65535, at most 5 digits. */
function parsePort(s: string, start: number, end: number): number {
  if (end <= start || end - start > 5) throw bad();
  let port = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (!isDigit(c)) throw bad();
    port = port * 10 + (c - 0x30);
  }
  if (port > 65535) throw bad();
  return port;
}

/**
 * Scans a host starting at s[i]: an IPv6 reference in brackets, or hostname/IPv4 characters.
 * Returns the index after it; throws when there is no valid host there.
 */
export function scanHost(s: string, i: number, end: number): number {
  if (i < end && s.charCodeAt(i) === 0x5b /* [ */) {
    const close = s.indexOf(']', i);
    if (close < 0 || close >= end) throw bad();
    let colons = 0;
    for (let k = i + 1; k < close; k++) {
      const c = s.charCodeAt(k);
      if (c === 0x3a) colons++;
      else if (c !== 0x2e && hexValue(c) < 0) throw bad();
    }
    if (colons < 2 || close - i > 46) throw bad();
    return close + 1;
  }
  const start = i;
  while (i < end) {
    const c = s.charCodeAt(i);
    if (c > 127 || HOST_CHARS[c] === 0) break;
    i++;
  }
  if (i === start) throw bad();
  // A label never starts with '-' and a host is not just dots.
  const first = s.charCodeAt(start);
  if (first === 0x2d || first === 0x2e) throw bad();
  return i;
}

/** The host at s[i] lower-cased, and the index after it, in one pass over its characters. */
export function readHost(s: string, i: number, end: number): [string, number] {
  if (i < end && s.charCodeAt(i) === 0x5b) {
    const close = scanHost(s, i, end);
    return [s.slice(i, close).toLowerCase(), close];
  }
  const start = i;
  let upper = false;
  while (i < end) {
    const c = s.charCodeAt(i);
    if (c > 127 || HOST_CHARS[c] === 0) break;
    if (c <= 0x5a && c >= 0x41) upper = true;
    i++;
  }
  if (i === start) throw bad();
  const first = s.charCodeAt(start);
  if (first === 0x2d || first === 0x2e) throw bad();
  const host = s.slice(start, i);
  return [upper ? host.toLowerCase() : host, i];
}

/** Parses `;name[=value]` URI parameters from s[i] until '?' or end. */
function parseUriParams(s: string, i: number, end: number, params: Map<string, string | null>): number {
  while (i < end && s.charCodeAt(i) === 0x3b) {
    i++;
    const nameStart = i;
    while (i < end) {
      const c = s.charCodeAt(i);
      if (c === 0x3d || c === 0x3b || c === 0x3f) break;
      i++;
    }
    const nameEnd = i;
    if (nameEnd === nameStart) {
      if (i === end) break; // a trailing ';' is tolerated
      throw bad();
    }
    if (!checkEscaped(URI_PARAM_CHARS, s, nameStart, nameEnd)) throw bad();
    let value: string | null = null;
    if (i < end && s.charCodeAt(i) === 0x3d) {
      i++;
      const valueStart = i;
      while (i < end) {
        const c = s.charCodeAt(i);
        if (c === 0x3b || c === 0x3f) break;
        i++;
      }
      if (!checkEscaped(URI_PARAM_CHARS, s, valueStart, i)) throw bad();
      value = s.slice(valueStart, i);
    }
    const name = paramName(s, nameStart, nameEnd);
    if (params.size === 0 || !params.has(name)) params.set(name, value);
  }
  return i;
}

function parseUriHeaders(s: string, i: number, end: number, headers: Map<string, string>): void {
  // s[i] is '?'
  i++;
  while (i < end) {
    let amp = s.indexOf('&', i);
    if (amp < 0 || amp > end) amp = end;
    if (amp > i) {
      const eq = s.indexOf('=', i);
      if (eq < 0 || eq >= amp || eq === i) throw bad();
      if (!checkEscaped(URI_HEADER_CHARS, s, i, eq)) throw bad();
      if (!checkEscaped(URI_HEADER_CHARS, s, eq + 1, amp)) throw bad();
      const name = unescapeUriPart(s.slice(i, eq));
      if (!headers.has(name)) headers.set(name, unescapeUriPart(s.slice(eq + 1, amp)));
    }
    i = amp + 1;
  }
}

function parseSipUri(s: string, scheme: string, i: number, end: number): SipUri {
  let user: string | undefined;
  let password: string | undefined;
  let port = -1;
  let at = s.indexOf('@', i);
  if (at >= end) at = -1;
  if (at >= 0) {
    const colon = s.indexOf(':', i);
    const userEnd = colon >= 0 && colon < at ? colon : at;
    const kind = userEnd === i ? BAD : scanEscaped(USER_CHARS, s, i, userEnd);
    if (kind === BAD) throw bad();
    user = kind === CLEAN ? s.slice(i, userEnd) : unescapeUriPart(s.slice(i, userEnd));
    if (userEnd < at) {
      if (!checkEscaped(PASSWORD_CHARS, s, userEnd + 1, at)) throw bad();
      password = unescapeUriPart(s.slice(userEnd + 1, at));
    }
    i = at + 1;
  }
  const [host, hostEnd] = readHost(s, i, end);
  i = hostEnd;
  if (i < end && s.charCodeAt(i) === 0x3a) {
    let portEnd = i + 1;
    while (portEnd < end && isDigit(s.charCodeAt(portEnd))) portEnd++;
    port = parsePort(s, i + 1, portEnd);
    i = portEnd;
  }
  const params = new Map<string, string | null>();
  const headers = new Map<string, string>();
  i = parseUriParams(s, i, end, params);
  if (i < end) {
    if (s.charCodeAt(i) !== 0x3f) throw bad();
    parseUriHeaders(s, i, end, headers);
  }
  // One literal per combination, so absent parts are absent keys (not keys holding undefined).
  let uri: SipUri;
  if (user === undefined) {
    uri = port < 0 ? { scheme, host, params, headers } : { scheme, host, port, params, headers };
  } else {
    uri = port < 0 ? { scheme, user, host, params, headers } : { scheme, user, host, port, params, headers };
    if (password !== undefined) uri.password = password;
  }
  return uri;
}

function parseTelUri(s: string, i: number, end: number): SipUri {
  let numEnd = s.indexOf(';', i);
  if (numEnd < 0 || numEnd > end) numEnd = end;
  if (numEnd === i) throw bad();
  for (let k = i; k < numEnd; k++) {
    const c = s.charCodeAt(k);
    const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) ||
      c === 0x2b || c === 0x2d || c === 0x2e || c === 0x28 || c === 0x29 || c === 0x2a || c === 0x23 || c === 0x25;
    if (!ok) throw bad();
  }
  const uri: SipUri = { scheme: 'tel', user: s.slice(i, numEnd), host: '', params: new Map(), headers: new Map() };
  const j = parseUriParams(s, numEnd, end, uri.params);
  if (j !== end) throw bad();
  return uri;
}

/** Parses a URI. Throws SipParseError('BAD_URI'). */
export function parseUri(text: string): SipUri {
  return parseUriAt(text, 0, text.length);
}

/**
 * Parses the URI text[start, end). Parsing in place inside a longer string avoids slicing it out
 * first (and a sliced string is slower to scan than its flat parent).
 */
export function parseUriAt(text: string, start: number, end: number): SipUri {
  let colon = text.indexOf(':', start);
  if (colon >= end) colon = -1;
  if (colon <= start || colon === end - 1) throw bad();
  for (let i = start; i < colon; i++) {
    if (!isSchemeChar(text.charCodeAt(i), i === start)) throw bad();
  }
  // The common schemes as constants: no slice, no lower-casing.
  if (colon === start + 3 && text.startsWith('sip', start)) return parseSipUri(text, 'sip', colon + 1, end);
  if (colon === start + 4 && text.startsWith('sips', start)) return parseSipUri(text, 'sips', colon + 1, end);
  const scheme = lowerAscii(text.slice(start, colon));
  if (scheme === 'sip' || scheme === 'sips') return parseSipUri(text, scheme, colon + 1, end);
  if (scheme === 'tel') return parseTelUri(text, colon + 1, end);
  for (let i = colon + 1; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f || c === 0x22 || c === 0x3c || c === 0x3e) throw bad();
  }
  return { scheme, host: '', params: new Map(), headers: new Map(), opaque: text.slice(colon + 1, end) };
}

/** Like parseUri but returns undefined instead of throwing. */
export function tryParseUri(text: string): SipUri | undefined {
  try {
    return parseUri(text);
  } catch {
    return undefined;
  }
}

function formatUriParams(params: ReadonlyMap<string, string | null>): string {
  let out = '';
  for (const [name, value] of params) out += value === null ? ';' + name : ';' + name + '=' + value;
  return out;
}

/** Canonical text of a URI: user and headers re-escaped, everything else as stored. */
export function formatUri(uri: SipUri): string {
  const scheme = uri.scheme.toLowerCase();
  if (scheme === 'sip' || scheme === 'sips') {
    let out = scheme + ':';
    if (uri.user !== undefined) {
      out += escapeUser(uri.user);
      if (uri.password !== undefined) out += ':' + escapeWith(PASSWORD_CHARS, uri.password);
      out += '@';
    }
    out += uri.host;
    if (uri.port !== undefined) out += ':' + uri.port;
    out += formatUriParams(uri.params);
    if (uri.headers.size > 0) {
      let sep = '?';
      for (const [name, value] of uri.headers) {
        out += sep + escapeWith(URI_HEADER_CHARS, name) + '=' + escapeWith(URI_HEADER_CHARS, value);
        sep = '&';
      }
    }
    return out;
  }
  if (scheme === 'tel') return 'tel:' + (uri.user ?? '') + formatUriParams(uri.params);
  return scheme + ':' + (uri.opaque ?? '');
}

export function cloneUri(uri: SipUri): SipUri {
  const copy: SipUri = { scheme: uri.scheme, host: uri.host, params: new Map(uri.params), headers: new Map(uri.headers) };
  if (uri.user !== undefined) copy.user = uri.user;
  if (uri.password !== undefined) copy.password = uri.password;
  if (uri.port !== undefined) copy.port = uri.port;
  if (uri.opaque !== undefined) copy.opaque = uri.opaque;
  return copy;
}

/** Parameters that make a URI unequal to one without them (RFC 3261 §19.1.4). */
const SIGNIFICANT_PARAMS = ['user', 'ttl', 'method', 'maddr', 'transport'];

function paramEq(a: string | null, b: string | null): boolean {
  if (a === null || b === null) return a === b;
  return unescapeUriPart(a).toLowerCase() === unescapeUriPart(b).toLowerCase();
}

function telNumber(n: string | undefined): string {
  return (n ?? '').replace(/[-.()]/g, '').toLowerCase();
}

/**
 * URI equality per RFC 3261 §19.1.4: user and password case-sensitive, host case-insensitive, a
 * missing port differs from an explicit 5060, uri-parameters present in both must match,
 * user/ttl/method/maddr/transport present in only one make them differ, other one-sided
 * parameters are ignored, and ?headers must all be present in both and match.
 * tel URIs compare their numbers without visual separators and all their parameters (RFC 3966 §4).
 */
export function uriEquals(a: SipUri, b: SipUri): boolean {
  const scheme = a.scheme.toLowerCase();
  if (scheme !== b.scheme.toLowerCase()) return false;
  if (scheme === 'tel') {
    if (telNumber(a.user) !== telNumber(b.user) || a.params.size !== b.params.size) return false;
    for (const [name, value] of a.params) {
      if (!b.params.has(name) || !paramEq(value, b.params.get(name)!)) return false;
    }
    return true;
  }
  if (scheme !== 'sip' && scheme !== 'sips') return (a.opaque ?? '') === (b.opaque ?? '');
  if ((a.user ?? '') !== (b.user ?? '') || a.password !== b.password) return false;
  if (a.host.toLowerCase() !== b.host.toLowerCase() || a.port !== b.port) return false;
  for (const [name, value] of a.params) {
    const other = b.params.get(name);
    if (other !== undefined) {
      if (!paramEq(value, other)) return false;
    } else if (SIGNIFICANT_PARAMS.includes(name)) {
      return false;
    }
  }
  for (const name of SIGNIFICANT_PARAMS) {
    if (b.params.has(name) && !a.params.has(name)) return false;
  }
  if (a.headers.size !== b.headers.size) return false;
  for (const [name, value] of a.headers) {
    let found = false;
    for (const [otherName, otherValue] of b.headers) {
      if (otherName.toLowerCase() === name.toLowerCase()) {
        if (otherValue !== value) return false;
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  return true;
}

/**
 * The address-of-record form of a SIP URI: `scheme:user@host` (no port, parameters or headers),
 * as a registrar keys bindings (RFC 3261 §10.3 step 5).
 */
export function aorOf(uri: SipUri): string {
  const scheme = uri.scheme.toLowerCase();
  if (scheme === 'tel') return 'tel:' + telNumber(uri.user);
  if (scheme !== 'sip' && scheme !== 'sips') return formatUri(uri);
  return scheme + ':' + (uri.user !== undefined ? escapeUser(uri.user) + '@' : '') + uri.host.toLowerCase();
}
