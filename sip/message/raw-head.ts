/**
 * Reading a few header lines straight out of a message's text, without building a message: what a
 * relay needs to route a response by its top Via (RFC 3261 §16.7 step 3 removes it, nothing more)
 * and to read one header it cares about. Anything these functions do not understand (a folded
 * line, several values on one line) makes them return undefined: the caller then parses the
 * message the ordinary way.
 */
import { headerKey, knownSpelling } from './headers.js';

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HTAB = 0x09;

/** One header line in a text: [lineStart, lineEnd) is the whole line with its CRLF. */
export interface RawHeaderLine {
  lineStart: number;
  /** Just after the line's LF. */
  lineEnd: number;
  /** The value, trimmed. */
  valueStart: number;
  valueEnd: number;
}

/** Where the header section of a message text ends: the index of the empty line's first byte, or -1. */
export function headEnd(text: string): number {
  const i = text.indexOf('\r\n\r\n');
  return i < 0 ? -1 : i + 2;
}

/**
 * The first header line whose name has the key `key` (see headerKey: compact forms count), in
 * text[from, to) where `from` is the start of a header line. undefined when there is none, or
 * when that line is folded (continued on the next).
 */
export function findHeaderLine(text: string, key: string, from: number, to: number): RawHeaderLine | undefined {
  let pos = from;
  while (pos < to) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0 || nl >= to) nl = to;
    const colon = text.indexOf(':', pos);
    if (colon > pos && colon < nl) {
      let nameEnd = colon;
      while (nameEnd > pos && (text.charCodeAt(nameEnd - 1) === SP || text.charCodeAt(nameEnd - 1) === HTAB)) nameEnd--;
      if ((knownSpelling(text, pos, nameEnd)?.key ?? headerKey(text.slice(pos, nameEnd))) === key) {
        const next = text.charCodeAt(nl + 1);
        if (next === SP || next === HTAB) return undefined;
        let a = colon + 1;
        while (a < nl && (text.charCodeAt(a) === SP || text.charCodeAt(a) === HTAB)) a++;
        let b = nl;
        while (b > a && (text.charCodeAt(b - 1) === CR || text.charCodeAt(b - 1) === SP || text.charCodeAt(b - 1) === HTAB)) b--;
        return { lineStart: pos, lineEnd: nl < to ? nl + 1 : to, valueStart: a, valueEnd: b };
      }
    }
    if (nl >= to || text.charCodeAt(nl) !== LF) break;
    pos = nl + 1;
  }
  return undefined;
}

/**
 * The value of parameter `name` (lower case) in text[start, end), a header value such as a Via:
 * '' for a parameter without value, undefined when absent. Parameter names compare case-insensitively;
 * a quoted value is returned with its quotes.
 */
export function rawParam(text: string, start: number, end: number, name: string): string | undefined {
  let i = text.indexOf(';', start);
  while (i >= 0 && i < end) {
    let a = i + 1;
    while (a < end && (text.charCodeAt(a) === SP || text.charCodeAt(a) === HTAB)) a++;
    const nameEnd = a + name.length;
    if (nameEnd <= end && text.slice(a, nameEnd).toLowerCase() === name) {
      let j = nameEnd;
      while (j < end && (text.charCodeAt(j) === SP || text.charCodeAt(j) === HTAB)) j++;
      if (j >= end || text.charCodeAt(j) === 0x3b /* ; */) return '';
      if (text.charCodeAt(j) === 0x3d /* = */) {
        j++;
        while (j < end && (text.charCodeAt(j) === SP || text.charCodeAt(j) === HTAB)) j++;
        let k = j;
        while (k < end && text.charCodeAt(k) !== 0x3b && text.charCodeAt(k) !== SP && text.charCodeAt(k) !== HTAB) k++;
        return text.slice(j, k);
      }
    }
    i = text.indexOf(';', i + 1);
  }
  return undefined;
}

/** True when text[start, end) holds a ',' outside quotes and angle brackets: several values on one line. */
export function hasTopLevelComma(text: string, start: number, end: number): boolean {
  let quoted = false;
  let angle = false;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (quoted) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22) quoted = false;
    } else if (c === 0x22) quoted = true;
    else if (c === 0x3c) angle = true;
    else if (c === 0x3e) angle = false;
    else if (c === 0x2c && !angle) return true;
  }
  return false;
}

/** The status code of a response's text ("SIP/2.0 200 OK"), or -1 when the text is not a response. */
export function rawStatus(text: string): number {
  if (!text.startsWith('SIP/2.0 ')) return -1;
  let n = 0;
  for (let i = 8; i < 11; i++) {
    const d = text.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n >= 100 && n <= 699 && text.charCodeAt(11) === SP ? n : -1;
}
