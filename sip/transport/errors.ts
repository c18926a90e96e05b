/**
 * Transport errors: one class with a stable `code` (callers switch on the code, never the text).
 * RFC 3261 §8.1.3.1 / §17.1.4: a transport failure is treated by the TU like a 503.
 */
export type TransportErrorCode =
  /** No transport in the set handles the target's protocol (or address family). */
  | 'SIP_TRANSPORT_NO_TRANSPORT'
  /** The transport was closed. */
  | 'SIP_TRANSPORT_CLOSED'
  /** The serialized message is larger than the datagram limit (RFC 3261 §18.1.1: use TCP instead). */
  | 'SIP_TRANSPORT_MESSAGE_TOO_LARGE'
  /** The socket refused the write (EHOSTUNREACH, ENETUNREACH, EPIPE ...); `cause` has the system error. */
  | 'SIP_TRANSPORT_SEND_FAILED'
  /** Opening a connection failed (refused, unreachable, DNS). */
  | 'SIP_TRANSPORT_CONNECT_FAILED'
  | 'SIP_TRANSPORT_CONNECT_TIMEOUT'
  /** The connection closed before the write finished. */
  | 'SIP_TRANSPORT_CONNECTION_CLOSED'
  /** noConnect was set and no open connection matches the target. */
  | 'SIP_TRANSPORT_NO_CONNECTION'
  | 'SIP_TRANSPORT_TOO_MANY_CONNECTIONS'
  /** The connection's outbound buffer is over its bound (a peer that does not read). */
  | 'SIP_TRANSPORT_BUFFER_FULL';

export class TransportError extends Error {
  readonly code: TransportErrorCode;

  constructor(code: TransportErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TransportError';
    this.code = code;
  }
}

export function isTransportError(e: unknown): e is TransportError {
  return e instanceof TransportError;
}
