/**
 * Where a response goes (RFC 3261 §18.2.2 with RFC 3581 rport). Pure: the top Via of the request
 * (after the receiving transport stamped received/rport on it) plus where the request came from.
 */
import type { Via } from '../grammar/via.js';
import { defaultPort, isReliableProtocol, type ReceivedFrom, type TransportTarget } from './transport.js';

/** '[2001:db8::1]' → '2001:db8::1'; sockets want IPv6 literals without brackets. */
export function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function param(via: Via, name: string): string | undefined {
  const v = via.params.get(name);
  return v === null || v === undefined || v === '' ? undefined : v;
}

export function responseTarget(via: Via, source: ReceivedFrom): TransportTarget {
  const target = pickTarget(via, source);
  if (!isReliableProtocol(source.protocol)) {
    // RFC 3581 §4: "The response MUST be sent from the same address and port that the
    // corresponding request was received on."
    target.localAddress = source.localAddress;
    target.localPort = source.localPort;
  }
  return target;
}

function pickTarget(via: Via, source: ReceivedFrom): TransportTarget {
  const protocol = source.protocol;
  const sentByPort = via.port ?? defaultPort(protocol);
  const received = param(via, 'received');

  if (isReliableProtocol(protocol)) {
    // "If the "sent-protocol" is a reliable transport protocol such as TCP or SCTP, or TLS over
    // those, the response MUST be sent using the existing connection to the source of the original
    // request that created the transaction, if that connection is still open. [...] If that
    // connection is no longer open, the server SHOULD open a connection to the IP address in the
    // received parameter, if present, using the port in the sent-by value"
    const target: TransportTarget = { protocol, host: unbracket(received ?? via.host), port: sentByPort };
    if (source.connectionId !== undefined) target.connectionId = source.connectionId;
    return target;
  }

  const maddr = param(via, 'maddr');
  if (maddr !== undefined) {
    // "Otherwise, if the Via header field value contains a "maddr" parameter, the response MUST be
    // forwarded to the address listed there, using the port indicated in "sent-by", or port 5060"
    return { protocol, host: unbracket(maddr), port: sentByPort };
  }

  const rport = param(via, 'rport');
  if (rport !== undefined && /^\d{1,5}$/.test(rport)) {
    // RFC 3581 §4: "there is both a "received" parameter and an "rport" parameter, the response
    // MUST be sent to the IP address listed in the "received" parameter, and the port in the
    // "rport" parameter."
    return { protocol, host: unbracket(received ?? via.host), port: Number(rport) };
  }

  if (received !== undefined) {
    // "Otherwise (for unreliable unicast transports), if the top Via has a "received" parameter,
    // the response MUST be sent to the address in the "received" parameter, using the port
    // indicated in the "sent-by" value, or using port 5060 if none is specified explicitly."
    return { protocol, host: unbracket(received), port: sentByPort };
  }

  // "Otherwise, if it is not receiver-tagged, the response MUST be sent to the address indicated by
  // the "sent-by" value, using the procedures in Section 5 of [4]." (A name here is resolved by
  // the transport's address lookup; RFC 3263 SRV resolution is not done at this layer.)
  return { protocol, host: unbracket(via.host), port: sentByPort };
}
