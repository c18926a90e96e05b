/**
 * The SIP text the load generator sends, written as browsers (SIP.js, JsSIP) write it over a
 * WebSocket, or as a desk phone writes it over UDP. Plain string templates: the client must stay
 * cheap, and every message it receives is still parsed with the project's parser.
 */
import type { SipRequest } from '../../sip/message/model.js';

export interface UaIdentity {
  /** User part of the AOR, unique within a run. */
  user: string;
  domain: string;
  transport: 'ws' | 'udp';
  /** WebSocket: a made-up `<random>.invalid` host (RFC 7118 §5.2); UDP: the local IP. */
  host: string;
  /** UDP: the local port the UA receives on. */
  port?: number;
  /** RFC 5626 instance id (a UUID), WebSocket UAs only. */
  instance?: string;
}

/** The dialog state a caller keeps after the 2xx: enough to send ACK and BYE. */
export interface CallerDialog {
  callId: string;
  /** Remote target: the URI of the 2xx Contact. */
  remoteTarget: string;
  /** Route set: the 2xx Record-Route elements, reversed (RFC 3261 §12.1.2). */
  routes: string[];
  /** From and To header values, with both tags. */
  from: string;
  to: string;
}

const SDP_OFFER = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n';
const SDP_ANSWER = 'v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40002 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n';

export function via(ua: UaIdentity, branch: string): string {
  return ua.transport === 'ws' ? `Via: SIP/2.0/WS ${ua.host};branch=${branch}` : `Via: SIP/2.0/UDP ${ua.host}:${ua.port};branch=${branch};rport`;
}

/** The URI other elements reach this UA at (the Contact URI). */
export function contactUri(ua: UaIdentity): string {
  return ua.transport === 'ws' ? `sip:${ua.user}@${ua.host};transport=ws` : `sip:${ua.user}@${ua.host}:${ua.port}`;
}

export function aor(ua: UaIdentity): string {
  return `sip:${ua.user}@${ua.domain}`;
}

/**
 * REGISTER as a browser sends it: RFC 5626 outbound (instance, reg-id), GRUU and Path support
 * announced. A UDP UA registers a plain Contact.
 */
export function registerRequest(ua: UaIdentity, o: { callId: string; cseq: number; branch: string; fromTag: string; expires: number }): string {
  const contact =
    ua.transport === 'ws'
      ? `<${contactUri(ua)}>;+sip.instance="<urn:uuid:${ua.instance}>";reg-id=1;expires=${o.expires}`
      : `<${contactUri(ua)}>;expires=${o.expires}`;
  return (
    `REGISTER sip:${ua.domain} SIP/2.0\r\n` +
    `${via(ua, o.branch)}\r\n` +
    'Max-Forwards: 70\r\n' +
    `To: <${aor(ua)}>\r\n` +
    `From: <${aor(ua)}>;tag=${o.fromTag}\r\n` +
    `Call-ID: ${o.callId}\r\n` +
    `CSeq: ${o.cseq} REGISTER\r\n` +
    `Contact: ${contact}\r\n` +
    (ua.transport === 'ws' ? 'Supported: path, gruu, outbound\r\n' : '') +
    'User-Agent: sipflow-loadgen\r\n' +
    'Content-Length: 0\r\n\r\n'
  );
}

export function inviteRequest(caller: UaIdentity, callee: UaIdentity, o: { callId: string; branch: string; fromTag: string }): string {
  const contact = caller.transport === 'ws' ? `<${contactUri(caller)};ob>` : `<${contactUri(caller)}>`;
  return (
    `INVITE ${aor(callee)} SIP/2.0\r\n` +
    `${via(caller, o.branch)}\r\n` +
    'Max-Forwards: 70\r\n' +
    `To: <${aor(callee)}>\r\n` +
    `From: <${aor(caller)}>;tag=${o.fromTag}\r\n` +
    `Call-ID: ${o.callId}\r\n` +
    'CSeq: 1 INVITE\r\n' +
    `Contact: ${contact}\r\n` +
    'Allow: INVITE,ACK,CANCEL,BYE,OPTIONS\r\n' +
    'Content-Type: application/sdp\r\n' +
    `Content-Length: ${SDP_OFFER.length}\r\n\r\n` +
    SDP_OFFER
  );
}

/** ACK for a 2xx (RFC 3261 §13.2.2.4): a new transaction, routed like any in-dialog request. */
export function inDialogRequest(method: 'ACK' | 'BYE', caller: UaIdentity, d: CallerDialog, o: { cseq: number; branch: string }): string {
  let routes = '';
  for (const r of d.routes) routes += `Route: ${r}\r\n`;
  return (
    `${method} ${d.remoteTarget} SIP/2.0\r\n` +
    `${via(caller, o.branch)}\r\n` +
    'Max-Forwards: 70\r\n' +
    routes +
    `To: ${d.to}\r\n` +
    `From: ${d.from}\r\n` +
    `Call-ID: ${d.callId}\r\n` +
    `CSeq: ${o.cseq} ${method}\r\n` +
    'Content-Length: 0\r\n\r\n'
  );
}

/**
 * A UAS response (RFC 3261 §8.2.6.2): Via lines, From, Call-ID and CSeq copied, To tagged, and
 * for a dialog-creating response the Record-Route lines copied (§12.1.1) and a Contact.
 */
export function responseTo(request: SipRequest, status: number, reason: string, o: { toTag?: string; contact?: string; sdp?: boolean } = {}): string {
  let head = `SIP/2.0 ${status} ${reason}\r\n`;
  for (const v of request.getAll('Via')) head += `Via: ${v}\r\n`;
  if (o.contact) for (const rr of request.getAll('Record-Route')) head += `Record-Route: ${rr}\r\n`;
  const to = request.get('To') ?? '';
  head += `To: ${o.toTag && !/;\s*tag=/i.test(to) ? `${to};tag=${o.toTag}` : to}\r\n`;
  head += `From: ${request.get('From') ?? ''}\r\n`;
  head += `Call-ID: ${request.get('Call-ID') ?? ''}\r\n`;
  head += `CSeq: ${request.get('CSeq') ?? ''}\r\n`;
  if (o.contact) head += `Contact: <${o.contact}>\r\n`;
  if (o.sdp) return `${head}Content-Type: application/sdp\r\nContent-Length: ${SDP_ANSWER.length}\r\n\r\n${SDP_ANSWER}`;
  return `${head}Content-Length: 0\r\n\r\n`;
}

/** The URI inside a Contact value: `<uri>;params` or a bare addr-spec. */
export function contactValueUri(value: string): string | undefined {
  const lt = value.indexOf('<');
  if (lt >= 0) {
    const gt = value.indexOf('>', lt);
    return gt > lt ? value.slice(lt + 1, gt).trim() : undefined;
  }
  const semi = value.indexOf(';');
  return (semi >= 0 ? value.slice(0, semi) : value).trim() || undefined;
}
