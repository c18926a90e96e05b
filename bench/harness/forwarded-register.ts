/**
 * A REGISTER as an edge's relay forwards it to a core over TCP: the edge's Via over the browser's
 * (received stamped), Max-Forwards one less, a cluster Path carrying a flow token, +sip.instance,
 * reg-id and Supported: path, gruu, outbound, as SIP.js sends them. The harnesses send it, the
 * hot-path bench frames it.
 */
export const FORWARDED_REGISTER_DOMAIN = 'bench.example';

export function forwardedRegister(ua: number, cseq: number, pathToken: string, edge: { host: string; port: number } = { host: '127.0.0.1', port: 5999 }): string {
  const id = `ua${ua}`;
  const domain = FORWARDED_REGISTER_DOMAIN;
  return [
    `REGISTER sip:${domain} SIP/2.0`,
    `Via: SIP/2.0/TCP ${edge.host}:${edge.port};branch=z9hG4bKedge${ua}x${cseq}`,
    `Via: SIP/2.0/WSS ${id}.invalid;branch=z9hG4bK${id}x${cseq};received=127.0.0.1`,
    'Max-Forwards: 69',
    `To: <sip:${id}@${domain}>`,
    `From: "${id}" <sip:${id}@${domain}>;tag=t${id}`,
    `Call-ID: c${id}-harness`,
    `CSeq: ${cseq} REGISTER`,
    `Contact: <sip:${id}@${id}.invalid;transport=ws>;+sip.ice;reg-id=1;+sip.instance="<urn:uuid:00000000-0000-4000-8000-${String(ua).padStart(12, '0')}>";expires=600`,
    'Expires: 600',
    'Allow: ACK,CANCEL,INVITE,MESSAGE,BYE,OPTIONS,INFO,NOTIFY,REFER',
    'Supported: path, gruu, outbound',
    'User-Agent: SIP.js/0.21.2',
    `Path: <sip:${pathToken}@${edge.host}:${edge.port};transport=tcp;lr;ob>`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}
