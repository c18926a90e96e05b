/**
 * The one contract every SIP transport implements (UDP and TCP here; WebSocket at the edge).
 * The transaction layer and the proxy core see only this: `send(message, target)` down, and one
 * handler up that receives each message together with where it came from. A transport never
 * throws a send failure into the event loop: the returned promise rejects with a TransportError.
 */
import type { SipMessage } from '../message/model.js';
import type { SipParseError } from '../message/errors.js';
import type { PartialMessage } from '../message/parser.js';

export type TransportProtocol = 'udp' | 'tcp' | 'tls' | 'sctp' | 'ws' | 'wss';

/** Where to send. `connectionId` pins a connection-oriented send to one open connection. */
export interface TransportTarget {
  protocol: TransportProtocol;
  /** IP literal (IPv6 without brackets) or host name. */
  host: string;
  port: number;
  /** An open connection to use when it is still open (a response goes back where its request came in). */
  connectionId?: string;
  /**
   * Never open a new connection for this send: fail with SIP_TRANSPORT_NO_CONNECTION when neither
   * `connectionId` nor an open connection to host:port exists (RFC 5626 flows, WebSocket clients).
   */
  noConnect?: boolean;
  /**
   * Send from this local socket when the set has several of the protocol: RFC 3581 §4 "The response
   * MUST be sent from the same address and port that the corresponding request was received on."
   */
  localAddress?: string;
  localPort?: number;
}

/** Where a message came from, handed up with every received message. */
export interface ReceivedFrom {
  protocol: TransportProtocol;
  /** IPv6 without brackets. */
  remoteAddress: string;
  remotePort: number;
  localAddress: string;
  localPort: number;
  /** Set by connection-oriented transports: send to it with TransportTarget.connectionId. */
  connectionId?: string;
}

export interface ConnectionInfo {
  connectionId: string;
  protocol: TransportProtocol;
  remoteAddress: string;
  remotePort: number;
  localAddress: string;
  localPort: number;
  /** 'inbound' when the peer opened it. */
  direction: 'inbound' | 'outbound';
}

export interface ParseErrorInfo {
  /** What the parser could read, enough to answer 400 when `partial.canReply`. */
  partial?: PartialMessage;
  /** True when the stream lost its framing and the connection is being closed. */
  fatal?: boolean;
}

/** The single upward interface of a transport. Only onMessage is required. */
export interface TransportHandler {
  onMessage(message: SipMessage, source: ReceivedFrom): void;
  /**
   * Stream transports: each framed message before it is parsed. Returning true means the handler
   * took it (a relay routing it by its text); false, or no such handler, and it is parsed and
   * goes to onMessage as usual.
   */
  onFrame?(bytes: Buffer, source: ReceivedFrom): boolean;
  /**
   * Bytes that are not a SIP message. Datagram transports report and carry on; stream transports
   * report and close that one connection when framing is lost (`fatal`). The node decides: 400
   * (`partial.canReply` / `partial.request`, see parser.ts) or drop, and count. `raw` is the datagram,
   * or for a stream the chunk being read when the error showed.
   */
  onParseError?(error: SipParseError, source: ReceivedFrom, raw: Buffer, info?: ParseErrorInfo): void;
  /** A CRLF keepalive (RFC 5626 §4.4.1) arrived; stream transports have already answered it. */
  onKeepalive?(source: ReceivedFrom): void;
  onConnectionOpen?(info: ConnectionInfo): void;
  onConnectionClose?(info: ConnectionInfo, error?: Error): void;
  /** Socket-level errors and exceptions thrown by the other callbacks. Without it, those are rethrown. */
  onError?(error: Error): void;
}

/**
 * What a transport is given to send: a message, its bytes, or its text (sent as UTF-8). Text lets
 * a stream transport write the messages of one event-loop turn as one string, with no Buffer per
 * message: each Buffer came out of an 8 KiB pool, and a new pool every few messages was an
 * ArrayBuffer the collector tracks.
 */
export type Outgoing = SipMessage | Buffer | string;

/** The bytes of what is to be sent, for transports that need them (datagrams). */
export function outgoingBytes(message: Outgoing): Buffer {
  if (typeof message === 'string') return Buffer.from(message, 'utf8');
  return Buffer.isBuffer(message) ? message : message.toBuffer();
}

export interface Transport {
  readonly protocol: TransportProtocol;
  /** RFC 3261 §17: reliable transports get no retransmission timers and zero-length wait states. */
  readonly reliable: boolean;
  /** Bound address and port (the port is real even when 0 was asked for). */
  readonly localAddress: string;
  readonly localPort: number;
  readonly family: 'IPv4' | 'IPv6';
  setHandler(handler: TransportHandler): void;
  send(message: Outgoing, target: TransportTarget): Promise<void> | void;
  /** True when this transport owns that open connection (lets a TransportSet route by connectionId). */
  hasConnection?(connectionId: string): boolean;
  close(): Promise<void> | void;
}

const RELIABLE: Record<TransportProtocol, boolean> = {
  udp: false,
  tcp: true,
  tls: true,
  sctp: true,
  ws: true,
  wss: true,
};

export function isReliableProtocol(protocol: TransportProtocol): boolean {
  return RELIABLE[protocol];
}

/** Via transport token (RFC 3261 §20.42, RFC 7118) to our protocol name; undefined when unknown. */
export function protocolFromVia(transport: string): TransportProtocol | undefined {
  const p = transport.toLowerCase();
  return p in RELIABLE ? (p as TransportProtocol) : undefined;
}

/** RFC 3261 §19.1.2 / RFC 7118: 5061 for TLS-based, 5060 otherwise (WS sent-by has no real default). */
export function defaultPort(protocol: TransportProtocol): number {
  return protocol === 'tls' || protocol === 'wss' ? 5061 : 5060;
}

/** '::ffff:192.0.2.1' (an IPv4 peer on a dual-stack socket) → '192.0.2.1', so one peer has one spelling. */
export function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
