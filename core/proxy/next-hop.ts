/**
 * RFC 3261 §16.6 steps 6–7 and RFC 3263 without DNS: where a forwarded request goes. The next hop
 * is the top Route if there is one (loose routing, §16.6 step 6), else the Request-URI; its
 * transport comes from `;transport=`, its port defaults per scheme. Host names other than IP
 * literals are not resolved here (the cluster talks to IPs and `localhost`).
 */
import type { SipUri } from '../../sip/grammar/uri.js';
import type { TransportProtocol } from '../../sip/transport/transport.js';

export interface NextHop {
  protocol: TransportProtocol;
  /** IPv6 without brackets. */
  host: string;
  port: number;
}

export function uriToNextHop(uri: SipUri): NextHop | undefined {
  if (uri.scheme !== 'sip' && uri.scheme !== 'sips') return undefined;
  const t = uri.params.get('transport');
  const protocol: TransportProtocol = t ? (t.toLowerCase() as TransportProtocol) : uri.scheme === 'sips' ? 'tls' : 'udp';
  if (!['udp', 'tcp', 'tls', 'ws', 'wss', 'sctp'].includes(protocol)) return undefined;
  const maddr = uri.params.get('maddr');
  const hostText = maddr ?? uri.host;
  const host = hostText.startsWith('[') ? hostText.slice(1, -1) : hostText;
  const port = uri.port ?? (uri.scheme === 'sips' || protocol === 'tls' || protocol === 'wss' ? 5061 : 5060);
  return { protocol, host, port };
}
