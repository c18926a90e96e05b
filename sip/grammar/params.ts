/**
 * Generic parameters: `*( SEMI generic-param )` with generic-param = token [ EQUAL gen-value ]
 * and gen-value = token / host / quoted-string (RFC 3261 §25.1). Shared by Via, name-addr header
 * parameters and the other `;name=value` headers. Names are lower-cased; values are kept exactly as
 * written, quotes included (`+sip.instance` → `"<urn:uuid:...>"`), so formatting them back is
 * lossless; use unquote() to read a quoted value.
 */
import { SipParseError } from '../message/errors.js';
import { GEN_VALUE_CHARS, TOKEN, isWs } from './chars.js';

export type Params = Map<string, string | null>;

function skipSws(s: string, i: number, end: number): number {
  while (i < end && isWs(s.charCodeAt(i))) i++;
  return i;
}

/**
 * Index just after the closing quote of the quoted-string starting at s[pos] (which must be '"'),
 * or -1 when it is not closed before end.
 */
export function scanQuotedString(s: string, pos: number, end = s.length): number {
  let i = pos + 1;
  for (;;) {
    const q = s.indexOf('"', i);
    if (q < 0 || q >= end) return -1;
    // The quote is escaped when an odd number of backslashes precede it (quoted-pair).
    let backslashes = 0;
    while (q - backslashes - 1 > pos && s.charCodeAt(q - backslashes - 1) === 0x5c) backslashes++;
    if ((backslashes & 1) === 0) return q + 1;
    i = q + 1;
  }
}

const COMMON_PARAM_NAMES = [
  'tag', 'branch', 'received', 'rport', 'transport', 'lr', 'expires', 'q', 'reg-id', '+sip.instance',
  '+sip.ice', 'ob', 'maddr', 'ttl', 'user', 'method', 'gr', 'pub-gruu', 'temp-gruu', 'refresher',
  'methods', 'audio', 'video', 'phone-context', 'alias', 'keep', 'ftag', 'did', 'nat', 'sigcomp-id',
];
const PARAMS_BY_LENGTH: string[][] = [];
for (const n of COMMON_PARAM_NAMES) (PARAMS_BY_LENGTH[n.length] ??= []).push(n);

/**
 * The parameter name s[start, end), lower-cased. Common names come back as constant strings, which
 * saves a slice and makes the Map insertion cheaper (their hash is already computed).
 */
export function paramName(s: string, start: number, end: number): string {
  const candidates = PARAMS_BY_LENGTH[end - start];
  if (candidates !== undefined) {
    const c0 = s.charCodeAt(start);
    for (let i = 0; i < candidates.length; i++) {
      const n = candidates[i]!;
      if (n.charCodeAt(0) === c0 && s.startsWith(n, start)) return n;
    }
  }
  return lowerAscii(s.slice(start, end));
}

/** Lower-cases only when needed, so the common all-lower-case name costs no second string. */
export function lowerAscii(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) return s.toLowerCase();
  }
  return s;
}

/**
 * Parses parameters starting at s[pos] (optional whitespace, then ';'). Stops, without error, at
 * the first character that cannot start another parameter (',' between list elements, end of
 * text); the caller decides whether what follows is acceptable. Returns that index.
 * The first occurrence of a repeated name wins.
 */
export function parseParamsAt(s: string, pos: number, out: Params, end = s.length, what = 'parameter'): number {
  let i = skipSws(s, pos, end);
  while (i < end && s.charCodeAt(i) === 0x3b /* ; */) {
    i = skipSws(s, i + 1, end);
    const nameStart = i;
    while (i < end) {
      const c = s.charCodeAt(i);
      if (c > 127 || TOKEN[c] === 0) break;
      i++;
    }
    if (i === nameStart) {
      // A trailing ';' with nothing after it is a common sloppiness; tolerate it.
      if (skipSws(s, i, end) === end) return end;
      throw new SipParseError('BAD_PARAM', `Bad ${what}`);
    }
    const name = paramName(s, nameStart, i);
    let value: string | null = null;
    let j = skipSws(s, i, end);
    if (j < end && s.charCodeAt(j) === 0x3d /* = */) {
      j = skipSws(s, j + 1, end);
      if (j < end && s.charCodeAt(j) === 0x22) {
        const k = scanQuotedString(s, j, end);
        if (k < 0) throw new SipParseError('BAD_PARAM', `Bad ${what}`);
        value = s.slice(j, k);
        i = k;
      } else {
        const valueStart = j;
        while (j < end) {
          const c = s.charCodeAt(j);
          if (c > 127 || GEN_VALUE_CHARS[c] === 0) break;
          j++;
        }
        value = s.slice(valueStart, j);
        i = j;
      }
    }
    if (out.size === 0 || !out.has(name)) out.set(name, value);
    i = skipSws(s, i, end);
  }
  return i;
}

/** Parses a whole `;a=b;c` string (the leading ';' may be omitted). Throws SipParseError('BAD_PARAM'). */
export function parseParams(text: string): Params {
  const out: Params = new Map();
  let s = text.trim();
  if (s.length === 0) return out;
  if (s.charCodeAt(0) !== 0x3b) s = ';' + s;
  const end = parseParamsAt(s, 0, out);
  if (end !== s.length) throw new SipParseError('BAD_PARAM', 'Bad parameter');
  return out;
}

/** `;name=value;flag` — values written as stored (quoted values keep their quotes). */
export function formatParams(params: ReadonlyMap<string, string | null>): string {
  let out = '';
  for (const [name, value] of params) {
    out += value === null ? ';' + name : ';' + name + '=' + value;
  }
  return out;
}

/** Wraps a value in double quotes, escaping '"' and '\' (RFC 3261 quoted-pair). */
export function quote(value: string): string {
  let out = '"';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    if (ch === '"' || ch === '\\') out += '\\';
    out += ch;
  }
  return out + '"';
}

/** Removes surrounding double quotes and resolves quoted-pairs; a value without quotes is returned as is. */
export function unquote(value: string): string {
  if (value.length < 2 || value.charCodeAt(0) !== 0x22 || value.charCodeAt(value.length - 1) !== 0x22) return value;
  const inner = value.slice(1, -1);
  if (inner.indexOf('\\') < 0) return inner;
  let out = '';
  for (let i = 0; i < inner.length; i++) {
    const ch = inner[i]!;
    if (ch === '\\' && i + 1 < inner.length) {
      out += inner[i + 1];
      i++;
    } else {
      out += ch;
    }
  }
  return out;
}

/** A value that may be written bare (a token or a host); anything else needs quote(). */
export function isBareParamValue(value: string): boolean {
  if (value.length === 0) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c > 127 || GEN_VALUE_CHARS[c] === 0) return false;
  }
  return true;
}
