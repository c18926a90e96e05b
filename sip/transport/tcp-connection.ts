/**
 * One TCP connection of a TcpTransport: a socket, its stream framing, and a bounded write path.
 * The transport owns the tables; this class owns the socket's lifecycle.
 */
import type net from 'node:net';
import { StreamParser } from '../message/stream-parser.js';
import { TransportError } from './errors.js';
import { normalizeAddress, type ConnectionInfo } from './transport.js';

export type ConnectionState = 'connecting' | 'open' | 'closed';

export class TcpConnection {
  readonly id: string;
  readonly direction: 'inbound' | 'outbound';
  readonly socket: net.Socket;
  readonly parser: StreamParser;
  /** Keys under which the transport indexed this connection (host:port spellings). */
  readonly keys = new Set<string>();
  state: ConnectionState;
  remoteAddress = '';
  remotePort = 0;
  localAddress = '';
  localPort = 0;
  /** The socket error that ended the connection, if any. */
  error: Error | undefined;
  readonly ready: Promise<void>;
  #resolveReady!: () => void;
  #rejectReady!: (err: Error) => void;
  /** Bytes accepted by write() while still connecting. */
  #pendingBytes = 0;
  readonly #maxBuffered: number;
  /** Messages written during this turn of the event loop, sent together at its end (#flush). */
  #batch: (Buffer | string)[] = [];
  /** Whether every message of the batch is text (then it leaves as one string). */
  #batchText = true;
  #batchBytes = 0;
  /** What every write() of the current batch returned: one promise per batch, not per message. */
  #batchSent: Promise<void> | undefined;
  #batchSettle: { resolve: () => void; reject: (err: Error) => void } | undefined;
  readonly #flush = (): void => this.#flushBatch();

  constructor(id: string, socket: net.Socket, direction: 'inbound' | 'outbound', parser: StreamParser, maxBuffered: number) {
    this.id = id;
    this.socket = socket;
    this.direction = direction;
    this.parser = parser;
    this.#maxBuffered = maxBuffered;
    this.state = direction === 'inbound' ? 'open' : 'connecting';
    this.ready = new Promise<void>((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    // Nobody may be waiting on `ready` (no send queued); a failed connect must not be unhandled.
    this.ready.catch(() => {});
    if (this.state === 'open') {
      this.#captureAddresses();
      this.#resolveReady();
    }
  }

  get info(): ConnectionInfo {
    return {
      connectionId: this.id,
      protocol: 'tcp',
      remoteAddress: this.remoteAddress,
      remotePort: this.remotePort,
      localAddress: this.localAddress,
      localPort: this.localPort,
      direction: this.direction,
    };
  }

  /** The outbound connect finished. */
  opened(): void {
    if (this.state !== 'connecting') return;
    this.state = 'open';
    this.#captureAddresses();
    this.#resolveReady();
  }

  /** The socket closed (or the connect failed). */
  closed(error?: Error): void {
    if (this.state === 'closed') return;
    const wasConnecting = this.state === 'connecting';
    this.state = 'closed';
    if (error && !this.error) this.error = error;
    if (wasConnecting) {
      const e = this.error;
      this.#rejectReady(
        e instanceof TransportError ? e : new TransportError('SIP_TRANSPORT_CONNECT_FAILED', `TCP connect failed: ${e?.message ?? 'closed'}`, { cause: e }),
      );
    }
  }

  /**
   * Writes one message, as bytes or as text (UTF-8); resolves once the kernel took it. Bounded: a
   * peer that stops reading gets BUFFER_FULL. A text's length counts as its size: at least one
   * byte per character, which is what the bound is for.
   */
  write(data: Buffer | string): Promise<void> {
    if (this.state === 'closed') {
      return Promise.reject(new TransportError('SIP_TRANSPORT_CONNECTION_CLOSED', `TCP connection ${this.id} is closed`));
    }
    if (this.socket.writableLength + this.#pendingBytes + this.#batchBytes + data.length > this.#maxBuffered) {
      return Promise.reject(new TransportError('SIP_TRANSPORT_BUFFER_FULL', `TCP connection ${this.id} has more than ${this.#maxBuffered} bytes queued`));
    }
    if (this.state === 'connecting') {
      this.#pendingBytes += data.length;
      return this.ready.then(
        () => {
          this.#pendingBytes -= data.length;
          return this.#write(data);
        },
        (err: unknown) => {
          this.#pendingBytes -= data.length;
          throw err;
        },
      );
    }
    return this.#write(data);
  }

  #write(data: Buffer | string): Promise<void> {
    if (this.state === 'closed' || this.socket.destroyed) {
      return Promise.reject(new TransportError('SIP_TRANSPORT_CONNECTION_CLOSED', `TCP connection ${this.id} is closed`));
    }
    // Every message written during this turn of the event loop leaves in one write: between nodes
    // under load that is one syscall (and one wakeup of the peer) for many messages, which is what a
    // stream transport buys over a datagram per message. setImmediate, not nextTick: it runs after
    // every socket that was readable in this poll phase has been handled. The batch shares one
    // promise and one write callback: a promise and a callback per message were most of what a
    // message cost to write.
    if (this.#batchSent === undefined) {
      this.#batchSent = new Promise<void>((resolve, reject) => (this.#batchSettle = { resolve, reject }));
      setImmediate(this.#flush);
    }
    this.#batch.push(data);
    this.#batchBytes += data.length;
    if (typeof data !== 'string') this.#batchText = false;
    return this.#batchSent;
  }

  #flushBatch(): void {
    const batch = this.#batch;
    const text = this.#batchText;
    const settle = this.#batchSettle!;
    this.#batch = [];
    this.#batchText = true;
    this.#batchBytes = 0;
    this.#batchSent = undefined;
    this.#batchSettle = undefined;
    if (this.state === 'closed' || this.socket.destroyed) {
      settle.reject(new TransportError('SIP_TRANSPORT_CONNECTION_CLOSED', `TCP connection ${this.id} closed before its messages were written`));
      return;
    }
    const done = (err?: Error | null): void => {
      if (err) settle.reject(new TransportError('SIP_TRANSPORT_CONNECTION_CLOSED', `TCP write on ${this.id} failed: ${err.message}`, { cause: err }));
      else settle.resolve();
    };
    if (batch.length === 1) {
      this.socket.write(batch[0]!, done);
      return;
    }
    if (text) {
      // One string, one write: Node encodes it straight into the write's own storage (on the
      // stack up to 16 KiB), with no Buffer in between.
      this.socket.write(batch.join(''), done);
      return;
    }
    // One writev of the buffers as they are: copying them into one (a new, unpooled backing store
    // per batch once it passes 4 KiB) cost more than it saved.
    this.socket.cork();
    const last = batch.length - 1;
    for (let i = 0; i < last; i++) this.socket.write(batch[i]!);
    this.socket.write(batch[last]!, done);
    this.socket.uncork();
  }

  #captureAddresses(): void {
    this.remoteAddress = normalizeAddress(this.socket.remoteAddress ?? '');
    this.remotePort = this.socket.remotePort ?? 0;
    this.localAddress = normalizeAddress(this.socket.localAddress ?? '');
    this.localPort = this.socket.localPort ?? 0;
  }
}
