/**
 * A SIP.js Transport over one WebSocket (RFC 7118, subprotocol `sip`) to one edge at a time, out
 * of a list. SIP.js's own web transport knows a single server; a cluster of edges needs the app to
 * pick the next one when a flow dies, so this transport owns the list and a cursor, and the
 * flow-recovery policy (flow-recovery.ts) decides when to move it.
 *
 * It also does the RFC 5626 §4.4.1 keepalive itself, because it must notice a missing pong: SIP.js's
 * transport sends double-CRLF pings but never gives up on a flow that stops answering.
 */
import { EmitterImpl, TransportState, type Emitter, type Transport } from 'sip.js';

export interface EdgeTransportOptions {
  /** ws:// or wss:// URLs of the edges, tried in order from `start`. */
  servers: string[];
  /** Index of the first edge to try. */
  start?: number;
  /** Opening handshake limit, ms. */
  connectTimeoutMs?: number;
  /** Every SIP message in or out, for the page's trace pane. */
  trace?: (direction: 'in' | 'out', message: string) => void;
}

/** A drop this transport caused itself because the flow stopped answering pings. */
export class FlowFailedError extends Error {
  override readonly name = 'FlowFailedError';
}

interface SipJsLogger {
  log(message: string): void;
  warn(message: string): void;
}

/**
 * RFC 5626 §4.4.1: "If a pong is not received within 10 seconds after sending the ping, the UA
 * considers the flow failed".
 */
const PONG_TIMEOUT_MS = 10_000;

export class EdgeTransport implements Transport {
  readonly protocol = 'WS';
  readonly stateChange: Emitter<TransportState>;
  onConnect: (() => void) | undefined;
  onDisconnect: ((error?: Error) => void) | undefined;
  onMessage: ((message: string) => void) | undefined;

  readonly #emitter = new EmitterImpl<TransportState>();
  readonly #servers: string[];
  readonly #connectTimeoutMs: number;
  readonly #trace: EdgeTransportOptions['trace'];
  readonly #log: SipJsLogger;
  #cursor: number;
  #state: TransportState = TransportState.Disconnected;
  #ws: WebSocket | undefined;
  #userClosing = false;
  #pingTimer: ReturnType<typeof setTimeout> | undefined;
  #pongTimer: ReturnType<typeof setTimeout> | undefined;
  #keepaliveMs = 0;
  #lastPongAt: number | undefined;
  #pongWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];

  /** SIP.js calls `new transportConstructor(logger, transportOptions)`. */
  constructor(logger: SipJsLogger, options: EdgeTransportOptions) {
    if (!options?.servers?.length) throw new TypeError('EdgeTransport needs at least one edge URL');
    this.#log = logger;
    this.#servers = [...options.servers];
    this.#cursor = ((options.start ?? 0) % this.#servers.length + this.#servers.length) % this.#servers.length;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 4000;
    this.#trace = options.trace;
    this.stateChange = this.#emitter;
  }

  get state(): TransportState {
    return this.#state;
  }

  /** The edge this transport uses now (connected, or the one the next connect() will try). */
  get server(): string {
    return this.#servers[this.#cursor]!;
  }

  get servers(): readonly string[] {
    return this.#servers;
  }

  get lastPongAt(): number | undefined {
    return this.#lastPongAt;
  }

  /** Moves the cursor to the next edge of the list; takes effect on the next connect(). */
  advance(): string {
    this.#cursor = (this.#cursor + 1) % this.#servers.length;
    return this.server;
  }

  isConnected(): boolean {
    return this.#state === TransportState.Connected;
  }

  connect(): Promise<void> {
    if (this.#state === TransportState.Connected) return Promise.resolve();
    if (this.#state !== TransportState.Disconnected) return Promise.reject(new Error(`cannot connect while ${this.#state}`));
    const url = this.server;
    this.#userClosing = false;
    this.#transition(TransportState.Connecting);
    return new Promise<void>((resolve, reject) => {
      let ws: WebSocket;
      try {
        ws = new WebSocket(url, 'sip');
      } catch (err) {
        this.#transition(TransportState.Disconnected);
        reject(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      this.#ws = ws;
      let opened = false;
      const timer = setTimeout(() => {
        if (!opened) ws.close();
      }, this.#connectTimeoutMs);
      ws.addEventListener('open', () => {
        clearTimeout(timer);
        if (ws !== this.#ws) return;
        // RFC 7118 §4.1: the server MUST accept the `sip` subprotocol or the connection is not SIP.
        if (ws.protocol !== 'sip') {
          this.#log.warn(`edge ${url} did not accept the "sip" WebSocket subprotocol`);
          ws.close();
          return;
        }
        opened = true;
        this.#transition(TransportState.Connected);
        this.#armPing();
        resolve();
        this.onConnect?.();
      });
      ws.addEventListener('message', (ev) => {
        if (ws !== this.#ws) return;
        this.#onFrame(ev.data);
      });
      ws.addEventListener('close', (ev) => {
        clearTimeout(timer);
        if (ws !== this.#ws) return;
        if (!opened) {
          this.#ws = undefined;
          this.#transition(TransportState.Disconnected);
          reject(new Error(`could not open a WebSocket to ${url} (close code ${ev.code})`));
          return;
        }
        this.#drop(ws, this.#userClosing ? undefined : new Error(`edge ${url} closed the WebSocket (code ${ev.code}${ev.reason ? `: ${ev.reason}` : ''})`));
      });
    });
  }

  /** The flow is over: forget the socket at once and tell SIP.js (an error means "not by us"). */
  #drop(ws: WebSocket, error: Error | undefined): void {
    if (ws !== this.#ws) return;
    this.#ws = undefined;
    this.#stopKeepalive();
    this.#transition(TransportState.Disconnected);
    this.onDisconnect?.(error);
  }

  disconnect(): Promise<void> {
    const ws = this.#ws;
    if (!ws || this.#state === TransportState.Disconnected) return Promise.resolve();
    this.#userClosing = true;
    this.#transition(TransportState.Disconnecting);
    return new Promise<void>((resolve) => {
      const done = () => resolve();
      ws.addEventListener('close', done, { once: true });
      ws.close(1000);
      // A server that never completes the closing handshake must not hang the page.
      setTimeout(() => {
        this.#drop(ws, undefined);
        resolve();
      }, 2000);
    });
  }

  /**
   * Drops the flow as failed (no pong, 430 Flow Failed): the close is reported to SIP.js and the app
   * as an error, which is what starts flow recovery.
   */
  fail(reason: string): void {
    const ws = this.#ws;
    if (!ws) return;
    this.#log.warn(`flow to ${this.server} failed: ${reason}`);
    // Reported now, not on the close event: a hung edge may never finish the closing handshake.
    this.#drop(ws, new FlowFailedError(reason));
    try {
      ws.close(4000, reason.slice(0, 100));
    } catch {
      /* closing already */
    }
  }

  /**
   * One RFC 5626 §4.4.1 double-CRLF ping now; resolves with the round trip in ms when the pong
   * comes back. No pong within 10 s fails the flow (and starts recovery) like a keepalive would.
   */
  ping(): Promise<number> {
    const ws = this.#ws;
    if (!ws || this.#state !== TransportState.Connected) return Promise.reject(new Error('Not connected.'));
    const sent = performance.now();
    return new Promise<number>((resolve, reject) => {
      this.#pongWaiters.push({ resolve: () => resolve(Math.round(performance.now() - sent)), reject });
      this.#sendPing(ws);
    });
  }

  async dispose(): Promise<void> {
    await this.disconnect();
  }

  send(message: string): Promise<void> {
    const ws = this.#ws;
    if (!ws || this.#state !== TransportState.Connected) return Promise.reject(new Error('Not connected.'));
    try {
      ws.send(message);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error('WebSocket send failed'));
    }
    this.#trace?.('out', message);
    // Anything sent counts as activity for the edge; the next ping can wait a full interval.
    this.#armPing();
    return Promise.resolve();
  }

  /**
   * RFC 5626 §4.4.1: keepalives "at an interval between 80% and 100% of the Flow-Timer". We also
   * stay at least 5 s under it, so a ping arrives before the edge's idle limit even with delay.
   */
  setFlowTimer(seconds: number | undefined): void {
    if (!seconds || !Number.isFinite(seconds) || seconds <= 0) {
      this.#keepaliveMs = 0;
      this.#stopKeepalive();
      return;
    }
    const ms = seconds * 1000;
    const lo = 0.8 * ms;
    const hi = Math.max(lo, ms - 5000);
    this.#keepaliveMs = Math.round(lo + Math.random() * (hi - lo));
    this.#armPing();
  }

  get keepaliveMs(): number {
    return this.#keepaliveMs;
  }

  #onFrame(data: unknown): void {
    const text = typeof data === 'string' ? data : new TextDecoder().decode(data as ArrayBuffer);
    // RFC 5626 §4.4.1: "When a server receives a double CRLF ping, it MUST respond with a single CRLF pong".
    if (/^(\r\n)+$/.test(text)) {
      this.#lastPongAt = Date.now();
      if (this.#pongTimer) clearTimeout(this.#pongTimer);
      this.#pongTimer = undefined;
      for (const w of this.#pongWaiters.splice(0)) w.resolve();
      return;
    }
    this.#trace?.('in', text);
    this.onMessage?.(text);
  }

  #armPing(): void {
    if (this.#pingTimer) clearTimeout(this.#pingTimer);
    this.#pingTimer = undefined;
    if (!this.#keepaliveMs || this.#state !== TransportState.Connected) return;
    this.#pingTimer = setTimeout(() => this.#ping(), this.#keepaliveMs);
  }

  #ping(): void {
    const ws = this.#ws;
    if (!ws || this.#state !== TransportState.Connected) return;
    this.#sendPing(ws);
    this.#pingTimer = setTimeout(() => this.#ping(), this.#keepaliveMs);
  }

  #sendPing(ws: WebSocket): void {
    ws.send('\r\n\r\n');
    if (!this.#pongTimer) this.#pongTimer = setTimeout(() => this.fail('no CRLF pong within 10 s'), PONG_TIMEOUT_MS);
  }

  #stopKeepalive(): void {
    if (this.#pingTimer) clearTimeout(this.#pingTimer);
    if (this.#pongTimer) clearTimeout(this.#pongTimer);
    this.#pingTimer = undefined;
    this.#pongTimer = undefined;
    for (const w of this.#pongWaiters.splice(0)) w.reject(new Error('flow closed before the pong'));
  }

  #transition(next: TransportState): void {
    if (this.#state === next) return;
    this.#state = next;
    this.#emitter.emit(next);
  }
}
