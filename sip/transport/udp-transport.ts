/**
 * UDP transport on node:dgram (RFC 3261 §18). One socket, bound once; each datagram is one message.
 * Keepalive datagrams (only CR/LF) are reported as keepalives, garbage through onParseError, and a
 * failed send rejects its promise: nothing here throws into the event loop.
 */
import dgram from 'node:dgram';
import dns from 'node:dns';
import net from 'node:net';
import { completeLimits, parseMessage, type ParseLimits } from '../message/parser.js';
import { TransportError } from './errors.js';
import { normalizeAddress, outgoingBytes, type Outgoing, type ReceivedFrom, type Transport, type TransportHandler, type TransportTarget } from './transport.js';


export interface UdpTransportOptions {
  /** Address to bind; '0.0.0.0' by default, '::' (or any IPv6 literal) makes an IPv6 socket. */
  host?: string;
  /** 0 (default) picks an ephemeral port. */
  port?: number;
  /**
   * Largest datagram we send; bigger messages are refused with SIP_TRANSPORT_MESSAGE_TOO_LARGE so the
   * TU can switch to TCP (RFC 3261 §18.1.1). Default 65507, the IPv4 payload limit.
   */
  maxDatagramSize?: number;
  /** Limits handed to the parser for every datagram. */
  parseLimits?: Partial<ParseLimits>;
  /**
   * Also parse Request-URI, Via, From, To, Call-ID, CSeq, Max-Forwards, Contact, Route and
   * Record-Route up front (parser.ts validateMessage), so a bad one is reported through
   * onParseError (with a partial message to answer 400) instead of surfacing later. Default false.
   */
  validate?: boolean;
  /** Kernel buffer sizes (SO_RCVBUF / SO_SNDBUF) for bursty proxies. */
  recvBufferSize?: number;
  sendBufferSize?: number;
  handler?: TransportHandler;
}

const KEEPALIVE = /^[\r\n]+$/;
const DEFAULT_MAX_DATAGRAM = 65507;

/**
 * Every datagram goes through the socket's lookup before it is sent. Node's default (dns.lookup)
 * answers an IP literal on the next tick; nearly every target here is one (a Via's received
 * address, a configured core), so it is answered at once and the send happens in the same call.
 * Names still go to the resolver.
 */
function literalFirstLookup(address: string, family: number, callback: (err: Error | null, address: string, family: number) => void): void {
  const kind = net.isIP(address);
  if (kind !== 0) callback(null, address, kind);
  else dns.lookup(address, family, callback);
}

export class UdpTransport implements Transport {
  readonly protocol = 'udp' as const;
  readonly reliable = false;
  readonly maxDatagramSize: number;
  readonly #socket: dgram.Socket;
  /** Completed once: the parser takes complete limits as they are, per datagram. */
  readonly #parseLimits: ParseLimits;
  readonly #validate: boolean;
  #handler: TransportHandler | undefined;
  #closed = false;
  #address: { address: string; port: number; family: 'IPv4' | 'IPv6' };

  /** Binds a socket; resolves once it is listening. */
  static async bind(options: UdpTransportOptions = {}): Promise<UdpTransport> {
    const host = options.host ?? '0.0.0.0';
    const socket = dgram.createSocket({ type: net.isIPv6(host) ? 'udp6' : 'udp4', lookup: literalFirstLookup as unknown as dgram.SocketOptions['lookup'] });
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        socket.close();
        reject(err);
      };
      socket.once('error', onError);
      socket.bind(options.port ?? 0, host, () => {
        socket.off('error', onError);
        resolve();
      });
    });
    if (options.recvBufferSize !== undefined) socket.setRecvBufferSize(options.recvBufferSize);
    if (options.sendBufferSize !== undefined) socket.setSendBufferSize(options.sendBufferSize);
    return new UdpTransport(socket, options);
  }

  private constructor(socket: dgram.Socket, options: UdpTransportOptions) {
    this.#socket = socket;
    this.#handler = options.handler;
    this.#parseLimits = completeLimits(options.parseLimits);
    this.#validate = options.validate ?? false;
    this.maxDatagramSize = options.maxDatagramSize ?? DEFAULT_MAX_DATAGRAM;
    const a = socket.address();
    this.#address = { address: a.address, port: a.port, family: a.family === 'IPv6' ? 'IPv6' : 'IPv4' };
    socket.on('message', (data, rinfo) => this.#receive(data, rinfo));
    // Asynchronous socket errors (rare on an unconnected UDP socket) are reported, never thrown.
    socket.on('error', (err) => this.#socketError(err));
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

  setHandler(handler: TransportHandler): void {
    this.#handler = handler;
  }

  send(message: Outgoing, target: TransportTarget): Promise<void> {
    if (this.#closed) return Promise.reject(new TransportError('SIP_TRANSPORT_CLOSED', 'UDP transport is closed'));
    const data = outgoingBytes(message);
    if (data.length > this.maxDatagramSize) {
      return Promise.reject(
        new TransportError(
          'SIP_TRANSPORT_MESSAGE_TOO_LARGE',
          `message of ${data.length} bytes exceeds the datagram limit of ${this.maxDatagramSize}`,
        ),
      );
    }
    // A dual-stack IPv6 socket reaches IPv4 peers only through their v4-mapped form.
    const host = this.#address.family === 'IPv6' && net.isIPv4(target.host) ? `::ffff:${target.host}` : target.host;
    return new Promise((resolve, reject) => {
      try {
        this.#socket.send(data, target.port, host, (err) => {
          if (err) reject(new TransportError('SIP_TRANSPORT_SEND_FAILED', `UDP send to ${target.host}:${target.port} failed: ${err.message}`, { cause: err }));
          else resolve();
        });
      } catch (err) {
        // dgram throws synchronously for bad arguments (port out of range) or a socket closed under us.
        reject(new TransportError('SIP_TRANSPORT_SEND_FAILED', `UDP send to ${target.host}:${target.port} failed: ${(err as Error).message}`, { cause: err }));
      }
    });
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    return new Promise((resolve) => this.#socket.close(() => resolve()));
  }

  #receive(data: Buffer, rinfo: dgram.RemoteInfo): void {
    const handler = this.#handler;
    if (!handler) return;
    const source: ReceivedFrom = {
      protocol: 'udp',
      remoteAddress: normalizeAddress(rinfo.address),
      remotePort: rinfo.port,
      localAddress: this.#address.address,
      localPort: this.#address.port,
    };
    try {
      // A datagram of bare CRLFs is a NAT keepalive some UAs send over UDP; it is not an error.
      if (data.length <= 4 && KEEPALIVE.test(data.toString('latin1'))) {
        handler.onKeepalive?.(source);
        return;
      }
      const result = parseMessage(data, this.#parseLimits, { validate: this.#validate });
      if (result.ok) handler.onMessage(result.message, source);
      else if (result.error.code === 'EMPTY') handler.onKeepalive?.(source);
      else handler.onParseError?.(result.error, source, data, result.partial ? { partial: result.partial } : {});
    } catch (err) {
      this.#report(err as Error);
    }
  }

  #socketError(err: Error): void {
    const onError = this.#handler?.onError;
    if (onError) onError(err);
    else process.emitWarning(err);
  }

  /** An exception from the handler is a bug above us: hand it to onError, or let it surface. */
  #report(err: Error): void {
    const onError = this.#handler?.onError;
    if (onError) onError(err);
    else throw err;
  }
}
