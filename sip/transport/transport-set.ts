/**
 * The transports of one node behind a single send(message, target): picks the transport for a
 * target, fans every transport's input into one handler, and plays the receiving "server transport"
 * of RFC 3261 §18.2.1 (received/rport stamped on the top Via of each request before it goes up).
 */
import type { SipMessage } from '../message/model.js';
import { applyReceived } from '../message/proxy-helpers.js';
import { isSipParseError } from '../message/errors.js';
import net from 'node:net';
import { TransportError } from './errors.js';
import type { Outgoing, ReceivedFrom, Transport, TransportHandler, TransportProtocol, TransportTarget } from './transport.js';

export interface TransportSetOptions {
  /** RFC 3261 §18.2.1 / RFC 3581 stamping of received/rport on requests. Default true. */
  stampReceived?: boolean;
}

export class TransportSet {
  readonly #transports: Transport[] = [];
  readonly #handler: TransportHandler;
  readonly #stamp: boolean;

  constructor(handler: TransportHandler, options: TransportSetOptions = {}) {
    this.#handler = handler;
    this.#stamp = options.stampReceived ?? true;
  }

  get transports(): readonly Transport[] {
    return this.#transports;
  }

  add(transport: Transport): void {
    this.#transports.push(transport);
    const up = this.#handler;
    const handler: TransportHandler = { onMessage: (message, source) => this.#receive(message, source) };
    if (up.onParseError) handler.onParseError = up.onParseError.bind(up);
    if (up.onKeepalive) handler.onKeepalive = up.onKeepalive.bind(up);
    if (up.onConnectionOpen) handler.onConnectionOpen = up.onConnectionOpen.bind(up);
    if (up.onConnectionClose) handler.onConnectionClose = up.onConnectionClose.bind(up);
    if (up.onError) handler.onError = up.onError.bind(up);
    transport.setHandler(handler);
  }

  /**
   * The transport for a target: one that owns target.connectionId if given; else the one bound to
   * target.localPort (responses leave from where the request came in); else the first of the
   * target's protocol whose address family fits an IP-literal host.
   */
  select(target: TransportTarget): Transport | undefined {
    const candidates = this.#transports.filter((t) => t.protocol === target.protocol);
    if (candidates.length <= 1) return candidates[0];
    if (target.connectionId !== undefined) {
      const owner = candidates.find((t) => t.hasConnection?.(target.connectionId!) === true);
      if (owner) return owner;
    }
    if (target.localPort !== undefined) {
      const local = candidates.find((t) => t.localPort === target.localPort && (target.localAddress === undefined || t.localAddress === target.localAddress))
        ?? candidates.find((t) => t.localPort === target.localPort);
      if (local) return local;
    }
    const family = net.isIPv6(target.host) ? 'IPv6' : net.isIPv4(target.host) ? 'IPv4' : undefined;
    return (family && candidates.find((t) => t.family === family)) || candidates[0];
  }

  /** Sends through the selected transport; rejects (never throws) with a TransportError. */
  send(message: Outgoing, target: TransportTarget): Promise<void> {
    const transport = this.select(target);
    if (!transport) {
      return Promise.reject(new TransportError('SIP_TRANSPORT_NO_TRANSPORT', `no ${target.protocol} transport for ${target.host}:${target.port}`));
    }
    try {
      return Promise.resolve(transport.send(message, target));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  protocols(): Set<TransportProtocol> {
    return new Set(this.#transports.map((t) => t.protocol));
  }

  async close(): Promise<void> {
    await Promise.all(this.#transports.map((t) => t.close()));
  }

  #receive(message: SipMessage, source: ReceivedFrom): void {
    if (this.#stamp && message.kind === 'request') {
      try {
        // §18.2.1: "If the host portion of the "sent-by" field contains a domain name, or if it
        // contains an IP address that differs from the packet source address, the server MUST add
        // a "received" parameter to that Via header field value." RFC 3581 §4 fills in rport.
        applyReceived(message, source.remoteAddress, source.remotePort);
      } catch (err) {
        // A top Via that does not parse: leave it; the transaction layer reports the message as malformed.
        if (!isSipParseError(err)) throw err;
      }
    }
    this.#handler.onMessage(message, source);
  }
}
