/**
 * The two requests the transaction layer's rules dictate to the letter: the ACK for a non-2xx final
 * response (§17.1.1.3, built by the client INVITE transaction) and CANCEL (§9.1, built by a UAC or a
 * proxy cancelling its branches). Both copy header text, so the originals' exact spelling survives.
 */
import { createRequest } from '../message/factory.js';
import type { SipRequest, SipResponse } from '../message/model.js';

function required(request: SipRequest, name: string): string {
  const v = request.get(name);
  if (v === undefined) throw new TypeError(`request has no ${name} header`);
  return v;
}

function hopHeaders(request: SipRequest, method: 'ACK' | 'CANCEL', to: string): [string, string][] {
  const topVia = request.values('Via')[0];
  if (topVia === undefined) throw new TypeError('request has no Via header');
  const headers: [string, string][] = [['Via', topVia]];
  for (const route of request.getAll('Route')) headers.push(['Route', route]);
  headers.push(['Max-Forwards', request.get('Max-Forwards') ?? '70']);
  headers.push(['From', required(request, 'From')]);
  headers.push(['To', to]);
  headers.push(['Call-ID', required(request, 'Call-ID')]);
  headers.push(['CSeq', `${request.cseq.seq} ${method}`]);
  return headers;
}

/**
 * §17.1.1.3: "The ACK request constructed by the client transaction MUST contain values for the
 * Call-ID, From, and Request-URI that are equal to the values of those header fields in the request
 * passed to the transport by the client transaction (call this the "original request"). The To
 * header field in the ACK MUST equal the To header field in the response being acknowledged [...]
 * The ACK MUST contain a single Via header field, and this MUST be equal to the top Via header field
 * of the original request. The CSeq header field in the ACK MUST contain the same value for the
 * sequence number as was present in the original request, but the method parameter MUST be equal
 * to "ACK". If the INVITE request whose response is being acknowledged had Route header fields,
 * those header fields MUST appear in the ACK."
 */
export function buildAckForNon2xx(invite: SipRequest, response: SipResponse): SipRequest {
  const to = response.get('To');
  if (to === undefined) throw new TypeError('response has no To header');
  return createRequest({ method: 'ACK', uri: invite.uriText, headers: hopHeaders(invite, 'ACK', to) });
}

/**
 * §9.1: "The Request-URI, Call-ID, To, the numeric part of CSeq, and From header fields in the
 * CANCEL request MUST be identical to those in the request being cancelled, including tags. A
 * CANCEL constructed by a client MUST have only a single Via header field value matching the top
 * Via value in the request being cancelled. [...] the method part of the CSeq header field MUST
 * have a value of CANCEL. [...] If the request being cancelled contains a Route header field, the
 * CANCEL request MUST include that Route header field's values."
 * Send it with sendRequest to the same target as the INVITE ("the destination address, port, and
 * transport of the CANCEL MUST be identical to those used to send the original request"), and only
 * after a provisional response arrived.
 */
export function buildCancel(request: SipRequest): SipRequest {
  if (request.method === 'ACK') throw new TypeError('an ACK cannot be cancelled');
  return createRequest({ method: 'CANCEL', uri: request.uriText, headers: hopHeaders(request, 'CANCEL', required(request, 'To')) });
}
