/**
 * name-addr / addr-spec with header parameters (From, To, Contact, Route, Record-Route, Path).
 * CONTRACT — implemented by the parser work.
 *
 * RFC 3261 §20.10: "Even if the 'display-name' is empty, the 'name-addr' form MUST be used if the
 * 'addr-spec' contains a comma, semicolon, or question mark." So in the addr-spec form the URI ends
 * at the first ';', and what follows are header parameters, not URI parameters.
 */
import type { SipUri } from './uri.js';
import { SipParseError } from '../message/errors.js';
import { TOKEN, isWs } from './chars.js';
import { formatParams, parseParamsAt, quote, scanQuotedString, unquote } from './params.js';
import { cloneUri, formatUri, parseUriAt } from './uri.js';

export interface NameAddr {
  /** Unquoted display name, undefined when absent. */
  displayName?: string;
  uri: SipUri;
  /** Header parameters (after '>' or, for an addr-spec, after the URI): tag, expires, q, +sip.instance, reg-id ... names lower-cased. */
  params: Map<string, string | null>;
}

function bad(): SipParseError {
  return new SipParseError('BAD_NAME_ADDR', 'Bad Address');
}

function skipSws(s: string, i: number, end: number): number {
  while (i < end && isWs(s.charCodeAt(i))) i++;
  return i;
}

/** Parses `<uri>` at s[i] (which is '<'); returns the URI and the index after '>'. */
function angleUri(s: string, i: number, end: number): [SipUri, number] {
  const close = s.indexOf('>', i + 1);
  if (close < 0 || close >= end) throw bad();
  const start = skipSws(s, i + 1, close);
  let stop = close;
  while (stop > start && isWs(s.charCodeAt(stop - 1))) stop--;
  return [parseUriAt(s, start, stop), close + 1];
}

/**
 * Parses one name-addr or addr-spec (with header parameters) starting at s[pos]. Returns it and
 * the index where it ended (at ',' in a list, or end).
 */
export function parseNameAddrAt(s: string, pos: number, end = s.length): [NameAddr, number] {
  let i = skipSws(s, pos, end);
  if (i >= end) throw bad();
  let displayName: string | undefined;
  let uri: SipUri;
  const c0 = s.charCodeAt(i);
  if (c0 === 0x22 /* " */) {
    const k = scanQuotedString(s, i, end);
    if (k < 0) throw bad();
    displayName = unquote(s.slice(i, k));
    i = skipSws(s, k, end);
    if (i >= end || s.charCodeAt(i) !== 0x3c) throw bad();
    [uri, i] = angleUri(s, i, end);
  } else if (c0 === 0x3c /* < */) {
    [uri, i] = angleUri(s, i, end);
  } else {
    // Either `token *(LWS token) <uri>` or a bare addr-spec; find out which by scanning tokens.
    let j = i;
    while (j < end) {
      const c = s.charCodeAt(j);
      if (c === 0x3c || !(c > 127 || TOKEN[c] === 1 || isWs(c))) break;
      j++;
    }
    if (j < end && s.charCodeAt(j) === 0x3c) {
      displayName = s.slice(i, j).trim();
      [uri, i] = angleUri(s, j, end);
    } else {
      let k = i;
      while (k < end) {
        const c = s.charCodeAt(k);
        if (c === 0x3b || c === 0x2c || isWs(c)) break;
        k++;
      }
      uri = parseUriAt(s, i, k);
      i = k;
    }
  }
  const params = new Map<string, string | null>();
  i = parseParamsAt(s, i, params, end, 'header parameter');
  const na: NameAddr = displayName === undefined ? { uri, params } : { displayName, uri, params };
  return [na, i];
}

/** Parses one name-addr / addr-spec with its header parameters. Throws SipParseError. */
export function parseNameAddr(text: string): NameAddr {
  return parseNameAddrRange(text, 0, text.length);
}

/** parseNameAddr of text[start, end), in place. */
export function parseNameAddrRange(text: string, start: number, end: number): NameAddr {
  const [na, stop] = parseNameAddrAt(text, start, end);
  if (skipSws(text, stop, end) !== end) throw bad();
  return na;
}

/** Parses a comma-separated list of name-addr / addr-spec (Contact, Route, Record-Route, Path ...). */
export function parseNameAddrList(text: string, out: NameAddr[] = []): NameAddr[] {
  return parseNameAddrListRange(text, 0, text.length, out);
}

/** parseNameAddrList of text[start, end), in place. */
export function parseNameAddrListRange(text: string, start: number, end: number, out: NameAddr[] = []): NameAddr[] {
  let i = skipSws(text, start, end);
  while (i < end) {
    if (text.charCodeAt(i) === 0x2c) {
      i = skipSws(text, i + 1, end); // empty element
      continue;
    }
    const [na, next] = parseNameAddrAt(text, i, end);
    out.push(na);
    i = skipSws(text, next, end);
    if (i < end) {
      if (text.charCodeAt(i) !== 0x2c) throw bad();
      i = skipSws(text, i + 1, end);
    }
  }
  return out;
}

/** Always the name-addr form (`"Name" <uri>;params`), which is correct whatever the URI holds. */
export function formatNameAddr(na: NameAddr): string {
  const name = na.displayName !== undefined ? quote(na.displayName) + ' ' : '';
  return name + '<' + formatUri(na.uri) + '>' + formatParams(na.params);
}

export function cloneNameAddr(na: NameAddr): NameAddr {
  const copy: NameAddr = { uri: cloneUri(na.uri), params: new Map(na.params) };
  if (na.displayName !== undefined) copy.displayName = na.displayName;
  return copy;
}
