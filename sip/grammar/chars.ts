/**
 * Character classes of the RFC 3261 §25.1 grammar as lookup tables indexed by char code. The
 * scanners test one table entry per character instead of running a regular expression, which is
 * what keeps header parsing in the low microseconds.
 */

function table(chars: string, alnum: boolean): Uint8Array {
  const t = new Uint8Array(128);
  if (alnum) {
    for (let c = 0x30; c <= 0x39; c++) t[c] = 1;
    for (let c = 0x41; c <= 0x5a; c++) t[c] = 1;
    for (let c = 0x61; c <= 0x7a; c++) t[c] = 1;
  }
  for (let i = 0; i < chars.length; i++) t[chars.charCodeAt(i)] = 1;
  return t;
}

/** token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~") */
export const TOKEN = table("-.!%*_+`'~", true);
/** unreserved = alphanum / mark */
export const UNRESERVED = table("-_.!~*'()", true);
/** user = 1*( unreserved / escaped / user-unreserved ); '%' admitted here, checked by the caller. */
export const USER_CHARS = table("-_.!~*'()&=+$,;?/%", true);
/** password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," ) */
export const PASSWORD_CHARS = table("-_.!~*'()&=+$,%", true);
/** hostname characters (plus '_', which the grammar forbids but real deployments use). */
export const HOST_CHARS = table('-._', true);
/** paramchar = param-unreserved / unreserved / escaped (param-unreserved = "[" / "]" / "/" / ":" / "&" / "+" / "$") */
export const URI_PARAM_CHARS = table("-_.!~*'()[]/:&+$%", true);
/** hname / hvalue = hnv-unreserved / unreserved / escaped (hnv-unreserved = "[" / "]" / "/" / "?" / ":" / "+" / "$") */
export const URI_HEADER_CHARS = table("-_.!~*'()[]/?:+$%", true);
/** gen-value = token / host / quoted-string: token chars plus what a host adds (IPv6 brackets, colons). */
export const GEN_VALUE_CHARS = table("-.!%*_+`'~[]:", true);

export function isWs(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

export function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

export function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** True when every character of s[start, end) is in the table (non-ASCII never is). */
export function allIn(t: Uint8Array, s: string, start = 0, end = s.length): boolean {
  if (end <= start) return false;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || t[c] === 0) return false;
  }
  return true;
}

export function isToken(s: string): boolean {
  return allIn(TOKEN, s);
}

/** Index of the first non-whitespace (SP/HTAB/CR/LF) character at or after i. */
export function skipWs(s: string, i: number, end = s.length): number {
  while (i < end) {
    const c = s.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d && c !== 0x0a) break;
    i++;
  }
  return i;
}

/** Index just after the last non-whitespace character before end. */
export function trimEnd(s: string, start: number, end: number): number {
  while (end > start) {
    const c = s.charCodeAt(end - 1);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d && c !== 0x0a) break;
    end--;
  }
  return end;
}
