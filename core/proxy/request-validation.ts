/**
 * RFC 3261 §16.3 "Request Validation", steps 2–5 (step 1, syntax, is the parser's; step 6,
 * Proxy-Authorization, is the authenticator's). Pure: returns the response to send, or undefined
 * when the request may be forwarded.
 */
import { createHash } from 'node:crypto';
import type { SipRequest, SipResponse } from '../../sip/message/model.js';
import { parseMessage } from '../../sip/message/parser.js';

export interface Rejection {
  status: number;
  reason: string;
  headers?: [string, string][];
}

const SCHEMES = new Set(['sip', 'sips', 'tel']);

export function validateRequest(request: SipRequest, self: { isOwnVia(host: string, port: number | undefined): boolean }): Rejection | undefined {
  // Step 2: "If the Request-URI has a URI whose scheme is not understood by the proxy, the proxy
  // SHOULD reject the request with a 416 (Unsupported URI Scheme) response."
  if (!SCHEMES.has(request.uri.scheme)) return { status: 416, reason: 'Unsupported URI Scheme' };

  // Step 3: "If the request does not contain a Max-Forwards header field, this check is passed.
  // If the request contains a Max-Forwards header field with a field value of zero (0), the
  // element MUST NOT forward the request ... [and] return a 483 (Too many hops) response."
  // OPTIONS with Max-Forwards 0 is answered by the caller itself (the proxy "MAY act as a UAS").
  if (request.maxForwards === 0 && request.method !== 'OPTIONS') return { status: 483, reason: 'Too Many Hops' };

  // Step 4: "An element MAY check for forwarding loops before forwarding a request. If the request
  // contains a Via header field with a sent-by value that equals a value placed into previous
  // requests by the proxy, the request has been forwarded by this element before. ... If [the
  // branch parameter computed now] is equal ... the request has looped. ... 482 (Loop Detected)".
  // The hash is computed only when one of our Vias is there to compare it with: most requests
  // have none, and hashing every one of them was a measurable share of a core's CPU.
  let loopHash: string | undefined;
  for (const via of request.vias) {
    if (!self.isOwnVia(via.host, via.port)) continue;
    const branch = via.params.get('branch');
    loopHash ??= computeLoopHash(request);
    if (branch && branch.startsWith(`z9hG4bK${loopHash}`)) return { status: 482, reason: 'Loop Detected' };
  }

  // Step 5: "If the request contains a Proxy-Require header field with one or more option-tags this
  // element does not understand, the element MUST return a 420 (Bad Extension) response. The
  // response MUST include an Unsupported header field listing those option-tags".
  const required = request.values('Proxy-Require').map((v) => v.trim()).filter(Boolean);
  if (required.length) return { status: 420, reason: 'Bad Extension', headers: [['Unsupported', required.join(', ')]] };
  return undefined;
}

/**
 * §16.6 step 8: a branch whose first part hashes what makes a request "the same" at this proxy
 * (Request-URI, top Route, Proxy-Require, Proxy-Authorization, To tag, From tag, Call-ID, CSeq
 * number). A request that comes back with the same hash has looped; one whose Request-URI changed
 * in between is a legal spiral.
 */
export function computeLoopHash(request: SipRequest): string {
  const h = createHash('sha1');
  h.update(request.uriText);
  h.update('\n' + (request.values('Route')[0] ?? ''));
  h.update('\n' + (request.get('Proxy-Require') ?? ''));
  h.update('\n' + (request.get('Proxy-Authorization') ?? ''));
  h.update('\n' + (request.to.params.get('tag') ?? ''));
  h.update('\n' + (request.from.params.get('tag') ?? ''));
  h.update('\n' + request.callId);
  h.update('\n' + request.cseq.seq);
  return h.digest('base64url').slice(0, 12).replace(/[-_]/g, 'x');
}

/**
 * Whether an error response built for a broken request may go out: RFC 3261 §8.2.6.2 copies Via,
 * From, To, Call-ID and CSeq from the request, and when one of those was what was broken the
 * answer is as broken as the request (a fuzzer found 400s whose CSeq or Call-ID no parser reads).
 * Nobody could match such an answer to anything; it is dropped instead (the request was counted).
 */
export function isSendable(response: SipResponse): boolean {
  return parseMessage(response.toBuffer(), undefined, { validate: true }).ok;
}
