/**
 * Building messages: responses to a request (RFC 3261 §8.2.6), new requests, tags and Call-IDs.
 */
import { randomByte } from './random-pool.js';
import type { HeaderField, SipRequest } from './model.js';
import type { SipUri } from '../grammar/uri.js';
import { Field, Request, Response, type HeaderInit } from './message.js';
import { headerKey } from './headers.js';

const REASONS: Record<number, string> = {
  100: 'Trying', 180: 'Ringing', 181: 'Call Is Being Forwarded', 182: 'Queued', 183: 'Session Progress',
  199: 'Early Dialog Terminated',
  200: 'OK', 202: 'Accepted', 204: 'No Notification',
  300: 'Multiple Choices', 301: 'Moved Permanently', 302: 'Moved Temporarily', 305: 'Use Proxy',
  380: 'Alternative Service',
  400: 'Bad Request', 401: 'Unauthorized', 402: 'Payment Required', 403: 'Forbidden', 404: 'Not Found',
  405: 'Method Not Allowed', 406: 'Not Acceptable', 407: 'Proxy Authentication Required',
  408: 'Request Timeout', 410: 'Gone', 412: 'Conditional Request Failed', 413: 'Request Entity Too Large',
  414: 'Request-URI Too Long', 415: 'Unsupported Media Type', 416: 'Unsupported URI Scheme',
  417: 'Unknown Resource-Priority', 420: 'Bad Extension', 421: 'Extension Required',
  422: 'Session Interval Too Small', 423: 'Interval Too Brief', 428: 'Use Identity Header',
  429: 'Provide Referrer Identity', 430: 'Flow Failed', 433: 'Anonymity Disallowed',
  436: 'Bad Identity-Info', 437: 'Unsupported Certificate', 438: 'Invalid Identity Header',
  439: 'First Hop Lacks Outbound Support', 440: 'Max-Breadth Exceeded', 469: 'Bad Info Package',
  470: 'Consent Needed', 480: 'Temporarily Unavailable', 481: 'Call/Transaction Does Not Exist',
  482: 'Loop Detected', 483: 'Too Many Hops', 484: 'Address Incomplete', 485: 'Ambiguous',
  486: 'Busy Here', 487: 'Request Terminated', 488: 'Not Acceptable Here', 489: 'Bad Event',
  491: 'Request Pending', 493: 'Undecipherable', 494: 'Security Agreement Required',
  500: 'Server Internal Error', 501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable',
  504: 'Server Time-out', 505: 'Version Not Supported', 513: 'Message Too Large',
  555: 'Push Notification Service Not Supported', 580: 'Precondition Failure',
  600: 'Busy Everywhere', 603: 'Decline', 604: 'Does Not Exist Anywhere', 606: 'Not Acceptable',
  607: 'Unwanted', 608: 'Rejected',
};

/** The RFC reason phrase of a status code; for an unknown code, the phrase of its class. */
export function defaultReason(status: number): string {
  const known = REASONS[status];
  if (known !== undefined) return known;
  const cls = Math.floor(status / 100);
  return ['Unknown', 'Provisional', 'Success', 'Redirection', 'Client Error', 'Server Error', 'Global Failure'][cls] ?? 'Unknown';
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

const ALPHABET_CODES = Uint8Array.from(ALPHABET, (c) => c.charCodeAt(0));
/** Where a token's characters are put together before they become one string. */
const TOKEN_SCRATCH = Buffer.allocUnsafe(64);

/**
 * n characters of [a-z0-9], each from one random byte (36 does not divide 256: the bias is
 * negligible here). Written as bytes and read out as one flat string: adding a character at a time
 * made a chain of 16–24 strings per branch or tag, which every Map lookup and write then flattened.
 */
export function randomToken(n: number): string {
  if (n > TOKEN_SCRATCH.length) {
    let out = '';
    for (let left = n; left > 0; left -= TOKEN_SCRATCH.length) out += randomToken(Math.min(left, TOKEN_SCRATCH.length));
    return out;
  }
  for (let i = 0; i < n; i++) TOKEN_SCRATCH[i] = ALPHABET_CODES[randomByte() % 36]!;
  return TOKEN_SCRATCH.toString('latin1', 0, n);
}

/** A From/To tag: RFC 3261 §19.3 "at least 32 bits of randomness"; this has about 62. */
export function generateTag(): string {
  return randomToken(12);
}

/** A Call-ID (RFC 3261 §8.1.1.4), optionally `random@host`. */
export function generateCallId(host?: string): string {
  const id = randomToken(24);
  return host === undefined || host.length === 0 ? id : id + '@' + host;
}

export interface CreateResponseOptions {
  /** To tag to add when the request's To has none (ignored for 100). `true` generates one. */
  toTag?: string | true;
  headers?: readonly (readonly [string, string])[];
  body?: Buffer;
}

function hasTag(request: SipRequest, toValue: string): boolean {
  try {
    // Usually parsed and cached already: the transaction layer read To to match the request.
    return request.to.params.has('tag');
  } catch {
    // A To we cannot parse (answering a broken request with 400): look for the text.
    return /;\s*tag\s*=/i.test(toValue);
  }
}

/**
 * The request's own field where it is spelled the way a response writes it: the response shares
 * it (fields never change) instead of copying and checking the text again.
 */
function copied(field: HeaderField, canonical: string): HeaderField | [string, string] {
  return field instanceof Field && field.name === canonical ? field : [canonical, field.value];
}

/**
 * A response to `request` per RFC 3261 §8.2.6.2: "The From field of the response MUST equal the
 * From header field of the request. The Call-ID header field of the response MUST equal the Call-ID
 * header field of the request. The CSeq header field of the response MUST equal the CSeq field of
 * the request. The Via header field values in the response MUST equal the Via header field values
 * in the request and MUST maintain the same ordering." The values are copied as raw text, so this
 * also works for a partly broken request (ParseResult.partial.request) answered with 400.
 * A To tag is added only when opts.toTag is given (RFC: "the UAS MUST add a tag ... with the
 * exception of the 100 (Trying) response"); responses to one request must reuse one tag.
 */
export function createResponse(request: SipRequest, status: number, reason?: string, opts: CreateResponseOptions = {}): Response {
  const headers: Array<HeaderField | [string, string]> = [];
  let from: HeaderField | undefined;
  let to: HeaderField | undefined;
  let callId: HeaderField | undefined;
  let cseq: HeaderField | undefined;
  let timestamp: HeaderField | undefined;
  for (const f of request.headers) {
    switch (f instanceof Field ? f.key : headerKey(f.name)) {
      case 'via': headers.push(copied(f, 'Via')); break;
      case 'from': from ??= f; break;
      case 'to': to ??= f; break;
      case 'call-id': callId ??= f; break;
      case 'cseq': cseq ??= f; break;
      case 'timestamp': timestamp ??= f; break;
      default: break;
    }
  }
  if (from !== undefined) headers.push(copied(from, 'From'));
  if (to !== undefined) {
    if (status > 100 && opts.toTag !== undefined && !hasTag(request, to.value)) {
      headers.push(['To', to.value + ';tag=' + (opts.toTag === true ? generateTag() : opts.toTag)]);
    } else {
      headers.push(copied(to, 'To'));
    }
  }
  if (callId !== undefined) headers.push(copied(callId, 'Call-ID'));
  if (cseq !== undefined) headers.push(copied(cseq, 'CSeq'));
  // RFC 3261 §8.2.6.1: "If there is a Timestamp header field in the request, the 100 (Trying) MUST copy it".
  if (status === 100 && timestamp !== undefined) headers.push(copied(timestamp, 'Timestamp'));
  if (opts.headers !== undefined) for (const [name, value] of opts.headers) headers.push([name, value]);
  return new Response(status, reason ?? defaultReason(status), headers, opts.body);
}

export interface CreateRequestOptions {
  method: string;
  uri: string | SipUri;
  headers?: HeaderInit;
  body?: Buffer;
}

/** A request from parts; nothing is added (Via, Max-Forwards ... are the caller's). */
export function createRequest(opts: CreateRequestOptions): Request {
  return new Request(opts.method, opts.uri, opts.headers, opts.body);
}
