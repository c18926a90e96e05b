/**
 * One WebSocket connection from a browser: an RFC 5626 flow. Its id is never reused (a boot prefix
 * plus a counter), so a flow token minted for a connection that closed can never reach a later
 * connection, even one from the same address after a restart.
 */
import type { TokenBucket } from './token-bucket.js';
import type { CloseReason } from './metrics.js';

/** What a flow needs from the socket under it (uWS in production, a stub in unit tests). */
export interface FlowSocket {
  /** uWS send status: 1 sent, 0 buffered (backpressure building), 2 dropped (over maxBackpressure). */
  send(data: Uint8Array | string, binary: boolean): number;
  bufferedAmount(): number;
  /** Forceful close, no close frame: the peer is gone or misbehaving. */
  close(): void;
  /** Graceful close with a close frame. */
  end(code: number, reason: string): void;
}

export type SendOutcome = 'sent' | 'closed' | 'backpressure';

/**
 * A REGISTER of this flow that the edge's relay (register-relay.ts) is waiting on. The flow holds
 * the newest, each the one before: a flow rarely has more than one, and a chain kept on the flow,
 * unlike a table of all flows' REGISTERs, never has to be rehashed (see RegisterRelay).
 */
export interface RegisterOnFlow {
  readonly browserBranch: string;
  previousOnFlow: RegisterOnFlow | undefined;
}

export class Flow {
  readonly id: string;
  readonly transport: 'ws' | 'wss';
  /** Remote IP as text (IPv6 without brackets). */
  readonly ip: string;
  /** Remote port; 0 when the server library does not expose it (uWS.js 20.30 does not). */
  readonly port: number;
  readonly openedAt: number;
  /** Last time the browser sent something of its own (a SIP message, a CRLF keepalive, a ping). */
  lastSeen: number;
  /** True once the first SIP message or keepalive arrived (the handshake timeout stops applying). */
  greeted = false;
  /** RFC 5626 Flow-Timer from the last 200 OK to REGISTER, plus grace, in ms; undefined = none. */
  idleLimit: number | undefined;
  /** Signed flow token for the URIs the edge inserts; minted lazily. */
  token: string | undefined;
  readonly bucket: TokenBucket | undefined;
  /** Messages dropped by the rate limit since the last sweep. */
  drops = 0;
  /** The newest REGISTER of this flow the relay waits on (register-relay.ts), undefined when none. */
  registers: RegisterOnFlow | undefined = undefined;
  #socket: FlowSocket | undefined;
  #closeReason: CloseReason | undefined;
  readonly #maxBuffered: number;
  readonly #onClose: (flow: Flow, reason: CloseReason) => void;

  constructor(init: {
    id: string;
    transport: 'ws' | 'wss';
    ip: string;
    port: number;
    now: number;
    socket: FlowSocket;
    maxBuffered: number;
    bucket?: TokenBucket;
    onClose: (flow: Flow, reason: CloseReason) => void;
  }) {
    this.id = init.id;
    this.transport = init.transport;
    this.ip = init.ip;
    this.port = init.port;
    this.openedAt = init.now;
    this.lastSeen = init.now;
    this.#socket = init.socket;
    this.#maxBuffered = init.maxBuffered;
    this.bucket = init.bucket;
    this.#onClose = init.onClose;
  }

  get open(): boolean {
    return this.#socket !== undefined;
  }

  get closeReason(): CloseReason | undefined {
    return this.#closeReason;
  }

  /**
   * Sends one SIP message as one frame (RFC 7118 §5.1). A browser that does not read makes the
   * buffer grow: past the limit the flow is closed rather than buffering without bound.
   */
  send(data: Uint8Array | string, binary: boolean): SendOutcome {
    const socket = this.#socket;
    if (!socket) return 'closed';
    const status = socket.send(data, binary);
    if (!this.#socket) return 'closed';
    if (status === 2 || socket.bufferedAmount() > this.#maxBuffered) {
      this.close('backpressure');
      return 'backpressure';
    }
    return 'sent';
  }

  /** Closes from our side. The socket's close event then calls closed(), which is idempotent. */
  close(reason: CloseReason): void {
    const socket = this.#socket;
    if (!socket) return;
    this.#closeReason = reason;
    if (reason === 'shutdown') socket.end(1001, 'edge shutting down');
    else if (reason === 'oversize') socket.end(1009, 'message too big');
    else if (reason === 'handshake-timeout' || reason === 'flow-timer-idle') socket.end(1000, reason);
    else socket.close();
    // uWS calls the close handler synchronously from end()/close(); make sure we are detached anyway.
    this.closed(reason);
  }

  /** The socket is gone (its close event, or after close()). */
  closed(reason: CloseReason): void {
    if (!this.#socket) return;
    this.#socket = undefined;
    this.#closeReason ??= reason;
    this.#onClose(this, this.#closeReason);
  }
}
