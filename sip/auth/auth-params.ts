/**
 * The auth-param grammar shared by challenges (WWW-Authenticate, Proxy-Authenticate) and
 * credentials (Authorization, Proxy-Authorization), RFC 3261 §25.1:
 *
 *   challenge   = ("Digest" LWS digest-cln *(COMMA digest-cln)) / other-challenge
 *   credentials = ("Digest" LWS digest-response) / other-response
 *   auth-param  = auth-param-name EQUAL ( token / quoted-string )
 *
 * This is not the URI-parameter grammar (';' separated, %-escaped): here parameters are ','
 * separated and values are quoted strings with backslash escapes. Input comes straight from the
 * network, so parsing never throws: it returns a typed error with the offset where it gave up.
 *
 * One header field value carries one challenge or one credentials: RFC 3261 §7.3.1 forbids
 * folding several WWW-Authenticate / Authorization values into one line, and a second
 * scheme after a comma is read as a malformed parameter, not as a second challenge.
 */

/** Why a value could not be read; `offset` is the index in the input where parsing stopped. */
export type AuthParamsErrorCode =
  | 'empty'
  | 'too-long'
  | 'expected-scheme'
  | 'expected-param-name'
  | 'expected-equals'
  | 'expected-value'
  | 'expected-comma'
  | 'unterminated-quoted-string'
  | 'invalid-character'
  | 'duplicate-param'
  | 'too-many-params';

export interface AuthParamsError {
  code: AuthParamsErrorCode;
  offset: number;
}

export interface AuthParams {
  /** The scheme as written ('Digest', 'digest', 'Bearer'...); compare with `isDigest`. */
  scheme: string;
  /** Parameter names lower-cased (RFC 3261 §7.3.1: names are case-insensitive); values unescaped. */
  params: Map<string, string>;
  /** Names (lower-cased) whose value was a quoted-string, for callers that care (e.g. `stale`). */
  quoted: Set<string>;
}

export type AuthParamsResult = { ok: true; value: AuthParams } | { ok: false; error: AuthParamsError };

/** Hard limits so a hostile header costs bounded work; real Digest values are well under both. */
export const MAX_AUTH_HEADER_LENGTH = 8192;
export const MAX_AUTH_PARAMS = 32;

// token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")  (RFC 3261 §25.1)
const TOKEN_CHAR = new Uint8Array(128);
for (const c of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`\'~') {
  TOKEN_CHAR[c.charCodeAt(0)] = 1;
}

function isTokenChar(code: number): boolean {
  return code < 128 && TOKEN_CHAR[code] === 1;
}

/** LWS after unfolding: the message parser may or may not have unfolded, so CR and LF count too. */
function isSpace(code: number): boolean {
  return code === 0x20 || code === 0x09 || code === 0x0d || code === 0x0a;
}

function fail(code: AuthParamsErrorCode, offset: number): AuthParamsResult {
  return { ok: false, error: { code, offset } };
}

/**
 * Parse one challenge or credentials value: `scheme [param *("," param)]`.
 *
 * Lenient where interop needs it and nothing is at stake: unquoted values may hold any
 * character but whitespace, ',' and '"' (some UAs send `uri=sip:a@b` or `algorithm="MD5"`),
 * empty list elements (`a=1,,b=2`) are skipped as RFC 7230 #rule allows. Strict where it matters:
 * names must be tokens, duplicates are refused (which `nonce` would we believe?).
 */
export function parseAuthParams(input: string): AuthParamsResult {
  if (typeof input !== 'string' || input.length === 0) return fail('empty', 0);
  if (input.length > MAX_AUTH_HEADER_LENGTH) return fail('too-long', MAX_AUTH_HEADER_LENGTH);
  const n = input.length;
  let i = 0;
  while (i < n && isSpace(input.charCodeAt(i))) i++;
  if (i === n) return fail('empty', i);

  const schemeStart = i;
  while (i < n && isTokenChar(input.charCodeAt(i))) i++;
  if (i === schemeStart) return fail('expected-scheme', i);
  const scheme = input.slice(schemeStart, i);
  if (i < n && !isSpace(input.charCodeAt(i))) return fail('expected-scheme', i);

  const params = new Map<string, string>();
  const quoted = new Set<string>();
  let expectParam = true;
  while (true) {
    while (i < n && isSpace(input.charCodeAt(i))) i++;
    if (i === n) break;
    const c = input.charCodeAt(i);
    if (c === 0x2c /* , */) {
      i++;
      expectParam = true;
      continue;
    }
    if (!expectParam) return fail('expected-comma', i);

    const nameStart = i;
    while (i < n && isTokenChar(input.charCodeAt(i))) i++;
    if (i === nameStart) return fail('expected-param-name', i);
    const name = input.slice(nameStart, i).toLowerCase();
    while (i < n && isSpace(input.charCodeAt(i))) i++;
    if (i === n || input.charCodeAt(i) !== 0x3d /* = */) return fail('expected-equals', i);
    i++;
    while (i < n && isSpace(input.charCodeAt(i))) i++;
    if (i === n) return fail('expected-value', i);

    let value: string;
    if (input.charCodeAt(i) === 0x22 /* " */) {
      const q = readQuotedString(input, i);
      if ('code' in q) return fail(q.code, q.offset);
      value = q.value;
      i = q.end;
      quoted.add(name);
    } else {
      const valueStart = i;
      while (i < n) {
        const v = input.charCodeAt(i);
        if (isSpace(v) || v === 0x2c || v === 0x22) break;
        if (v < 0x20 || v === 0x7f) return fail('invalid-character', i);
        i++;
      }
      if (i === valueStart) return fail('expected-value', i);
      value = input.slice(valueStart, i);
    }
    if (params.has(name)) return fail('duplicate-param', nameStart);
    if (params.size >= MAX_AUTH_PARAMS) return fail('too-many-params', nameStart);
    params.set(name, value);
    expectParam = false;
  }
  return { ok: true, value: { scheme, params, quoted } };
}

/**
 * quoted-string = SWS DQUOTE *(qdtext / quoted-pair) DQUOTE; quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F).
 * Returns the unescaped value and the index after the closing quote, or why it stopped.
 */
function readQuotedString(input: string, open: number): { value: string; end: number } | AuthParamsError {
  const n = input.length;
  let out = '';
  let runStart = open + 1;
  let i = open + 1;
  while (i < n) {
    const c = input.charCodeAt(i);
    if (c === 0x22) {
      out += input.slice(runStart, i);
      return { value: out, end: i + 1 };
    }
    if (c === 0x5c /* \ */) {
      if (i + 1 >= n) return { code: 'unterminated-quoted-string', offset: open };
      const e = input.charCodeAt(i + 1);
      if (e === 0x0a || e === 0x0d || e > 0x7f) return { code: 'invalid-character', offset: i + 1 };
      out += input.slice(runStart, i) + input[i + 1];
      i += 2;
      runStart = i;
      continue;
    }
    // qdtext admits LWS (folding) but no other control characters.
    if ((c < 0x20 && c !== 0x09 && c !== 0x0d && c !== 0x0a) || c === 0x7f) return { code: 'invalid-character', offset: i };
    i++;
  }
  return { code: 'unterminated-quoted-string', offset: open };
}

/** The leading scheme token of a value, even one whose parameters do not parse. */
export function authScheme(input: string): string | undefined {
  if (typeof input !== 'string') return undefined;
  const m = /^[ \t\r\n]*([A-Za-z0-9\-.!%*_+`'~]+)(?:[ \t\r\n]|$)/.exec(input.slice(0, 256));
  return m?.[1];
}

/** Case-insensitive scheme test (RFC 3261 §25.1: "Digest" is a case-insensitive token). */
export function isDigest(p: AuthParams): boolean {
  return p.scheme.toLowerCase() === 'digest';
}

/** A value to be written as a quoted-string: escape '\' and '"'; refuse what cannot be written. */
export function quoteString(value: string): string {
  // CR, LF and NUL cannot be carried even as quoted-pairs; writing them would let a
  // configured realm or a username inject header lines.
  if (/[\r\n\0]/.test(value)) throw new TypeError('auth-param value contains CR, LF or NUL');
  // Other control characters are not qdtext but may travel as quoted-pairs.
  return '"' + value.replace(/[\\"\x01-\x08\x0b\x0c\x0e-\x1f\x7f]/g, (m) => '\\' + m) + '"';
}

/** A token-valued parameter (algorithm, qop in credentials, nc, stale). */
export function isToken(value: string): boolean {
  if (value.length === 0) return false;
  for (let i = 0; i < value.length; i++) if (!isTokenChar(value.charCodeAt(i))) return false;
  return true;
}

/** One parameter as it goes on the wire: quoted-string or token. */
export type FormattedParam = [name: string, value: string, style: 'quoted' | 'token'];

/** `Digest a="x", b=y`. Names must be tokens; token values are checked, quoted ones escaped. */
export function formatAuthParams(scheme: string, params: readonly FormattedParam[]): string {
  if (!isToken(scheme)) throw new TypeError(`auth scheme is not a token: ${JSON.stringify(scheme)}`);
  const parts: string[] = [];
  for (const [name, value, style] of params) {
    if (!isToken(name)) throw new TypeError(`auth-param name is not a token: ${JSON.stringify(name)}`);
    if (style === 'token') {
      if (!isToken(value)) throw new TypeError(`auth-param ${name} is not a token: ${JSON.stringify(value)}`);
      parts.push(`${name}=${value}`);
    } else {
      parts.push(`${name}=${quoteString(value)}`);
    }
  }
  return parts.length === 0 ? scheme : `${scheme} ${parts.join(', ')}`;
}
