/** Builds raw SIP text for tests: lines joined with CRLF, a blank line, then the body. */
import { parseMessage } from '../../sip/message/parser.js';
import type { SipRequest, SipResponse } from '../../sip/message/model.js';

export function sipText(lines: string[], body = ''): string {
  return lines.join('\r\n') + '\r\n' + (lines.some((l) => /^content-length:/i.test(l)) ? '' : `Content-Length: ${Buffer.byteLength(body)}\r\n`) + '\r\n' + body;
}

export function parseRequest(lines: string[], body = ''): SipRequest {
  const r = parseMessage(sipText(lines, body));
  if (!r.ok) throw new Error(`test message does not parse: ${r.error.message}`);
  if (r.message.kind !== 'request') throw new Error('expected a request');
  return r.message;
}

export function parseResponse(lines: string[], body = ''): SipResponse {
  const r = parseMessage(sipText(lines, body));
  if (!r.ok) throw new Error(`test message does not parse: ${r.error.message}`);
  if (r.message.kind !== 'response') throw new Error('expected a response');
  return r.message;
}

export function register(opts: { user?: string; callId?: string; cseq?: number; contacts?: string[]; expires?: number; extra?: string[] } = {}): SipRequest {
  const user = opts.user ?? 'alice';
  const lines = [
    `REGISTER sip:example.com SIP/2.0`,
    `Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-${Math.random().toString(36).slice(2)};rport`,
    `Max-Forwards: 70`,
    `To: <sip:${user}@example.com>`,
    `From: <sip:${user}@example.com>;tag=t1`,
    `Call-ID: ${opts.callId ?? 'call-1'}`,
    `CSeq: ${opts.cseq ?? 1} REGISTER`,
    ...(opts.contacts ?? [`<sip:${user}@192.0.2.10:5060>`]).map((c) => `Contact: ${c}`),
    ...(opts.expires !== undefined ? [`Expires: ${opts.expires}`] : []),
    ...(opts.extra ?? []),
  ];
  return parseRequest(lines);
}
