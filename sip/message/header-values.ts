/**
 * Parsers for the small single-valued headers (CSeq, Max-Forwards, Content-Length, Expires ...).
 * They take the trimmed field value and throw SipParseError with the header named.
 */
import type { CSeq } from './model.js';
import { SipParseError } from './errors.js';
import { TOKEN, isWs } from '../grammar/chars.js';

/** Largest CSeq sequence number: RFC 3261 §8.1.1.5 "MUST be expressible as a 32-bit unsigned integer" and "less than 2**31" when chosen. */
const MAX_CSEQ = 0xffffffff;

/** 1*DIGIT as a non-negative integer no larger than max, or -1. */
export function parseDigits(s: string, start: number, end: number, max: number): number {
  if (end <= start || end - start > 10) return -1;
  let n = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    n = n * 10 + (c - 0x30);
  }
  return n > max ? -1 : n;
}

/** CSeq = 1*DIGIT LWS Method (RFC 3261 §20.16). */
export function parseCSeq(value: string): CSeq {
  let i = 0;
  const end = value.length;
  while (i < end && isWs(value.charCodeAt(i))) i++;
  const numStart = i;
  while (i < end && value.charCodeAt(i) >= 0x30 && value.charCodeAt(i) <= 0x39) i++;
  const seq = parseDigits(value, numStart, i, MAX_CSEQ);
  const numEnd = i;
  while (i < end && isWs(value.charCodeAt(i))) i++;
  const methodStart = i;
  while (i < end) {
    const c = value.charCodeAt(i);
    if (c > 127 || TOKEN[c] === 0) break;
    i++;
  }
  const methodEnd = i;
  while (i < end && isWs(value.charCodeAt(i))) i++;
  if (seq < 0 || numEnd === methodStart || methodEnd === methodStart || i !== end) {
    throw new SipParseError('BAD_CSEQ', 'Bad CSeq Header', 'CSeq');
  }
  return { seq, method: value.slice(methodStart, methodEnd) };
}

/** A header whose whole value is 1*DIGIT (Max-Forwards, Expires, Content-Length, Min-Expires, RSeq ...). */
export function parseUintHeader(value: string, header: string, max = 0x7fffffff): number {
  let start = 0;
  let end = value.length;
  while (start < end && isWs(value.charCodeAt(start))) start++;
  while (end > start && isWs(value.charCodeAt(end - 1))) end--;
  const n = parseDigits(value, start, end, max);
  if (n < 0) {
    const code = header === 'Content-Length' ? 'BAD_CONTENT_LENGTH' : header === 'Max-Forwards' ? 'BAD_MAX_FORWARDS' : 'BAD_HEADER';
    throw new SipParseError(code, `Bad ${header} Header`, header);
  }
  return n;
}
