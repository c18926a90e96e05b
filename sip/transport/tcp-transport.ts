/**
 * TCP transport (RFC 3261 §18): a listening socket plus outbound connections, both framed by
 * StreamParser. Connections are shared both ways: a response goes back on the connection its
 * request came in on, and a request to host:port reuses any open connection to that host:port,
 * including one the peer opened (§18.1.1, §18.2.2). Idle connections close; the number of
 * connections and the bytes queued per connection are bounded; CRLFCRLF pings get a CRLF pong
 * (RFC 5626 §4.4.1). Bytes that cannot be framed close only the connection they came on.
 */
import net from 'node:net';
import type { SipMessage } from '../message/model.js';
import { canReply, validateMessage, type ParseLimits, type PartialMessage } from '../message/parser.js';
import type { Request } from '../message/message.js';
import { StreamParser } from '../message/stream-parser.js';
import { TransportError } from './errors.js';
import { unbracket } from './response-target.js';
import { TcpConnection } from './tcp-connection.js';
import { normalizeAddress, type ConnectionInfo, type Outgoing, type ReceivedFrom, type Transport, type TransportHandler, type TransportTarget } from './transport.js';

export interface TcpTransportOptions {
  /** Address to listen on; '0.0.0.0' by default. */
  host?: string;
  /** 0 (default) picks an ephemeral port. */
  port?: number;
  /** false: outbound connections only, no listening socket. Default true. */
  listen?: boolean;
  /** Close a connection after this long without traffic either way (a CRLF ping counts). Default 300000 ms; 0 = never. */
  idleTimeoutMs?: number;
  /** Give up connecting after this long. Default 10000 ms. */
  connectTimeoutMs?: number;
  /** Inbound plus outbound connections; more are refused. Default 1024. */
  maxConnections?: number;
  /** Bytes that may wait in one connection's write queue before sends fail with BUFFER_FULL. Default 1 MiB. */
  maxWriteBuffer?: number;
  /** Parser limits; maxMessageBytes also bounds what one connection buffers while a message arrives. */
  parseLimits?: Partial<ParseLimits>;
  /** Validate each message's main headers up front (see UdpTransportOptions.validate). Default false. */
  validate?: boolean;
  /**
   * Which peers may connect, by remote address; others are closed on accept. A listener only its
   * neighbours use (an edge's, for its cores) must not let strangers take its connection slots.
   */
  acceptFrom?: (remoteAddress: string) => boolean;
  handler?: TransportHandler;
}

let nextConnectionId = 1;

function remoteKey(host: string, port: number): string {
  return `${normalizeAddress(unbracket(host)).toLowerCase()}:${port}`;
}

export class TcpTransport implements Transport {
  readonly protocol = 'tcp' as const;
  readonly reliable = true;
  readonly #server: net.Server | undefined;
  readonly #byId = new Map<string, TcpConnection>();
  readonly #byRemote = new Map<string, TcpConnection>();
  readonly #idleTimeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #maxConnections: number;
  readonly #maxWriteBuffer: number;
  readonly #parseLimits: Partial<ParseLimits> | undefined;
  readonly #validate: boolean;
  readonly #acceptFrom: ((remoteAddress: string) => boolean) | undefined;
  #handler: TransportHandler | undefined;
  #closed = false;
  /** The one local address outbound connections start from; undefined when bound to a wildcard. */
  readonly #bindHost: string | undefined;
  #address: { address: string; port: number; family: 'IPv4' | 'IPv6' };

  static async listen(options: TcpTransportOptions = {}): Promise<TcpTransport> {
    const host = options.host ?? '0.0.0.0';
    if (options.listen === false) return new TcpTransport(undefined, options, host);
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port: options.port ?? 0 }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new TcpTransport(server, options, host);
  }

  private constructor(server: net.Server | undefined, options: TcpTransportOptions, host: string) {
    this.#server = server;
    this.#handler = options.handler;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 300_000;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.#maxConnections = options.maxConnections ?? 1024;
    this.#maxWriteBuffer = options.maxWriteBuffer ?? 1024 * 1024;
    this.#parseLimits = options.parseLimits;
    this.#validate = options.validate ?? false;
    this.#acceptFrom = options.acceptFrom;
    this.#bindHost = host === '0.0.0.0' || host === '::' || !net.isIP(host) ? undefined : host;
    const a = server?.address();
    this.#address =
      a && typeof a === 'object'
        ? { address: a.address, port: a.port, family: a.family === 'IPv6' ? 'IPv6' : 'IPv4' }
        : { address: host, port: 0, family: net.isIPv6(host) ? 'IPv6' : 'IPv4' };
    server?.on('connection', (socket) => this.#accept(socket));
    server?.on('error', (err) => this.#socketError(err));
  }

  get localAddress(): string {
    return this.#address.address;
  }
  get localPort(): number {
    return this.#address.port;
  }
  get family(): 'IPv4' | 'IPv6' {
    return this.#address.family;
  }
  get connectionCount(): number {
    return this.#byId.size;
  }

  connections(): ConnectionInfo[] {
    return [...this.#byId.values()].map((c) => c.info);
  }

  hasConnection(connectionId: string): boolean {
    const c = this.#byId.get(connectionId);
    return c !== undefined && c.state !== 'closed';
  }

  /** Closes one connection (e.g. a flow the registrar dropped). */
  closeConnection(connectionId: string): void {
    this.#byId.get(connectionId)?.socket.destroy();
  }

  setHandler(handler: TransportHandler): void {
    this.#handler = handler;
  }

  send(message: Outgoing, target: TransportTarget): Promise<void> {
    if (this.#closed) return Promise.reject(new TransportError('SIP_TRANSPORT_CLOSED', 'TCP transport is closed'));
    let data: Buffer | string;
    try {
      // Text where the message has it: the connection writes a turn's worth of text as one string.
      data = typeof message === 'string' || Buffer.isBuffer(message) ? message : (message.toText() ?? message.toBuffer());
    } catch (err) {
      return Promise.reject(err);
    }
    let conn = target.connectionId !== undefined ? this.#byId.get(target.connectionId) : undefined;
    if (!conn || conn.state === 'closed') conn = this.#byRemote.get(remoteKey(target.host, target.port));
    if (!conn || conn.state === 'closed') {
      if (target.noConnect) {
        return Promise.reject(new TransportError('SIP_TRANSPORT_NO_CONNECTION', `no open TCP connection to ${target.host}:${target.port}`));
      }
      if (this.#byId.size >= this.#maxConnections) {
        return Promise.reject(new TransportError('SIP_TRANSPORT_TOO_MANY_CONNECTIONS', `TCP connection limit ${this.#maxConnections} reached`));
      }
      conn = this.#connect(target);
    }
    return conn.write(data);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const server = this.#server;
    const serverClosed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    for (const c of [...this.#byId.values()]) c.socket.destroy();
    await serverClosed;
  }

  #connect(target: TransportTarget): TcpConnection {
    const host = unbracket(target.host);
    // From the address we listen on, when it is one address: a peer that admits its neighbours by
    // source address (an edge admits its cores) must see the same address as our UDP and Via.
    const local = this.#bindHost !== undefined && net.isIP(host) === net.isIP(this.#bindHost) ? { localAddress: this.#bindHost } : {};
    const socket = net.connect({ host, port: target.port, ...local });
    const conn = this.#adopt(socket, 'outbound');
    this.#index(conn, remoteKey(target.host, target.port));
    socket.setTimeout(this.#connectTimeoutMs);
    socket.once('connect', () => {
      socket.setTimeout(this.#idleTimeoutMs);
      conn.opened();
      // Index by the address actually reached too, so a peer naming itself by IP finds it.
      this.#index(conn, remoteKey(conn.remoteAddress, conn.remotePort));
      this.#call(() => this.#handler?.onConnectionOpen?.(conn.info));
    });
    return conn;
  }

  #accept(socket: net.Socket): void {
    if (this.#closed || this.#byId.size >= this.#maxConnections || (this.#acceptFrom && !this.#acceptFrom(normalizeAddress(socket.remoteAddress ?? '')))) {
      socket.destroy();
      return;
    }
    const conn = this.#adopt(socket, 'inbound');
    socket.setTimeout(this.#idleTimeoutMs);
    this.#index(conn, remoteKey(conn.remoteAddress, conn.remotePort));
    this.#call(() => this.#handler?.onConnectionOpen?.(conn.info));
  }

  /** Wires socket events, framing and bookkeeping common to both directions. */
  #adopt(socket: net.Socket, direction: 'inbound' | 'outbound'): TcpConnection {
    socket.setNoDelay(true);
    const parser = new StreamParser(this.#parseLimits ? { limits: this.#parseLimits } : {});
    const conn = new TcpConnection(`tcp-${nextConnectionId++}`, socket, direction, parser, this.#maxWriteBuffer);
    this.#byId.set(conn.id, conn);
    let chunk: Buffer = Buffer.alloc(0);
    const source = (): ReceivedFrom => ({
      protocol: 'tcp',
      remoteAddress: conn.remoteAddress,
      remotePort: conn.remotePort,
      localAddress: conn.localAddress,
      localPort: conn.localPort,
      connectionId: conn.id,
    });
    parser.onFrame = (bytes) => {
      const handler = this.#handler;
      if (handler?.onFrame === undefined) return false;
      try {
        return handler.onFrame(bytes, source());
      } catch (err) {
        // As for onMessage: the rest of the chunk is still framed; the bug surfaces on its own.
        if (handler.onError) handler.onError(err as Error);
        else queueMicrotask(() => {
          throw err;
        });
        return true;
      }
    };
    parser.onMessage = (msg) => this.#deliver(msg, source(), chunk);
    parser.onError = (err, fatal, partial) => {
      const info: { fatal: boolean; partial?: PartialMessage } = { fatal };
      if (partial) info.partial = partial;
      try {
        this.#handler?.onParseError?.(err, source(), chunk, info);
      } finally {
        // Framing lost: only this connection goes.
        if (fatal) socket.destroy();
      }
    };
    parser.onKeepalive = (kind) => {
      if (kind !== 'ping') return;
      // RFC 5626 §4.4.1: "When a server receives a double CRLF, it responds with a single CRLF".
      if (socket.writable) socket.write('\r\n');
      this.#handler?.onKeepalive?.(source());
    };
    socket.on('data', (data: Buffer) => {
      chunk = data;
      this.#call(() => parser.push(data));
    });
    socket.on('timeout', () => {
      if (conn.state === 'connecting') {
        conn.error = new TransportError('SIP_TRANSPORT_CONNECT_TIMEOUT', `TCP connect timed out after ${this.#connectTimeoutMs} ms`);
      }
      socket.destroy();
    });
    socket.on('error', (err) => {
      if (!conn.error) conn.error = err;
    });
    socket.on('close', () => this.#closedConnection(conn));
    return conn;
  }

  #deliver(msg: SipMessage, source: ReceivedFrom, raw: Buffer): void {
    const handler = this.#handler;
    if (!handler) return;
    if (this.#validate) {
      const error = validateMessage(msg);
      if (error) {
        handler.onParseError?.(error, source, raw, { fatal: false, partial: partialOf(msg) });
        return;
      }
    }
    try {
      handler.onMessage(msg, source);
    } catch (err) {
      // Keep framing the rest of the chunk; the handler's bug surfaces on its own.
      const onError = handler.onError;
      if (onError) onError(err as Error);
      else queueMicrotask(() => {
        throw err;
      });
    }
  }

  #index(conn: TcpConnection, key: string): void {
    // The first open connection to a host:port keeps the key; a second one is reachable by id.
    const existing = this.#byRemote.get(key);
    if (existing && existing !== conn && existing.state !== 'closed') return;
    this.#byRemote.set(key, conn);
    conn.keys.add(key);
  }

  #closedConnection(conn: TcpConnection): void {
    const wasOpen = conn.state === 'open';
    conn.closed(conn.error);
    this.#byId.delete(conn.id);
    for (const key of conn.keys) if (this.#byRemote.get(key) === conn) this.#byRemote.delete(key);
    conn.keys.clear();
    if (wasOpen) this.#call(() => this.#handler?.onConnectionClose?.(conn.info, conn.error));
  }

  /** Runs a handler callback; an exception from it goes to onError, or surfaces when there is none. */
  #call(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      const onError = this.#handler?.onError;
      if (onError) onError(err as Error);
      else throw err;
    }
  }

  #socketError(err: Error): void {
    const onError = this.#handler?.onError;
    if (onError) onError(err);
    else process.emitWarning(err);
  }
}

function partialOf(msg: SipMessage): PartialMessage {
  if (msg.kind === 'response') return { isRequest: false, status: msg.status, headers: msg.headers, complete: true };
  const request = msg as unknown as Request;
  return { isRequest: true, method: msg.method, headers: msg.headers, complete: true, request, canReply: canReply(request) };
}
