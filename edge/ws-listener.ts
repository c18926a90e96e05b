/**
 * The browser-facing socket: a uWebSockets.js app (plain or TLS) that lets an upgrade through only
 * when it offers the `sip` subprotocol (RFC 7118 §4), comes from an allowed Origin and does not go
 * over the per-IP connection limit, then turns every WebSocket into a Flow. It answers CRLF
 * keepalives itself and applies the rate limits; everything else goes up to the delegate, one
 * frame = one SIP message (RFC 7118 §5.1).
 */
import { readFileSync } from 'node:fs';
import { uWS, type HttpResponse, type TemplatedApp, type UwsWebSocket, type us_listen_socket } from './uws-runtime.js';
import type { Flow, FlowSocket } from './flow.js';
import type { FlowTable } from './flow-table.js';
import type { CloseReason, RefusalCause } from './metrics.js';

export interface WsListenerOptions {
  transport: 'ws' | 'wss';
  host: string;
  port: number;
  /** PEM files for wss. */
  tls?: { certFile: string; keyFile: string };
  /** Origins allowed to connect (exact match, e.g. 'https://app.example.com'); empty = any, '*' = any. */
  allowedOrigins: readonly string[];
  /** Largest frame accepted, bytes (uWS maxPayloadLength); larger closes the connection. */
  maxMessageSize: number;
  /** Seconds without traffic before uWS pings and then drops the socket (0 = off, else > 8). */
  idleTimeout: number;
  /** Bytes uWS may buffer per socket before send() reports a drop. */
  maxBackpressure: number;
}

export interface WsListenerDelegate {
  onFlowOpen(flow: Flow): void;
  /**
   * One SIP message (or garbage) from the browser, already rate-checked. `data` views uWS's frame
   * and is valid only during this call: copy whatever outlives it.
   */
  onFrame(flow: Flow, data: Buffer, binary: boolean): void;
  onKeepalive(flow: Flow, kind: 'crlf' | 'ping'): void;
  onRefusal(cause: RefusalCause): void;
}

interface UserData {
  ip: string;
  flow?: Flow;
}

const CRLFCRLF = '\r\n\r\n';
const CRLF = '\r\n';

export class WsListener {
  readonly transport: 'ws' | 'wss';
  readonly host: string;
  readonly port: number;
  #listenSocket: us_listen_socket | undefined;
  /** Open WebSockets, kept so shutdown can close the ones the flow table does not know yet. */
  readonly #sockets: Set<UwsWebSocket<UserData>>;

  readonly #app: TemplatedApp;

  private constructor(app: TemplatedApp, transport: 'ws' | 'wss', host: string, port: number, listenSocket: us_listen_socket, sockets: Set<UwsWebSocket<UserData>>) {
    this.#app = app;
    this.transport = transport;
    this.host = host;
    this.port = port;
    this.#listenSocket = listenSocket;
    this.#sockets = sockets;
  }

  static async listen(options: WsListenerOptions, flows: FlowTable, delegate: WsListenerDelegate): Promise<WsListener> {
    const app = createApp(options);
    const sockets = new Set<UwsWebSocket<UserData>>();
    const origins = new Set(options.allowedOrigins);
    const anyOrigin = origins.size === 0 || origins.has('*');

    const refuse = (res: HttpResponse, status: string, cause: RefusalCause, text: string): void => {
      delegate.onRefusal(cause);
      res.cork(() => {
        res.writeStatus(status).writeHeader('Content-Type', 'text/plain').end(text + '\n', true);
      });
    };

    app.ws<UserData>('/*', {
      compression: uWS.DISABLED,
      maxPayloadLength: options.maxMessageSize,
      maxBackpressure: options.maxBackpressure,
      closeOnBackpressureLimit: 0,
      idleTimeout: options.idleTimeout,
      sendPingsAutomatically: options.idleTimeout > 0,
      upgrade: (res, req, context) => {
        const ip = normalizeIp(Buffer.from(res.getRemoteAddressAsText()).toString());
        const key = req.getHeader('sec-websocket-key');
        const protocols = req.getHeader('sec-websocket-protocol');
        const extensions = req.getHeader('sec-websocket-extensions');
        const origin = req.getHeader('origin');
        // RFC 7118 §4.1: a SIP WebSocket client lists "sip" in Sec-WebSocket-Protocol and the
        // server's reply selects it; a client that does not offer it does not speak SIP here.
        if (!offersSip(protocols)) return refuse(res, '400 Bad Request', 'bad-subprotocol', 'the sip subprotocol is required (RFC 7118)');
        if (!anyOrigin && !origins.has(origin)) return refuse(res, '403 Forbidden', 'origin', 'origin not allowed');
        const admission = flows.admit(ip);
        if (!admission.ok) return refuse(res, '429 Too Many Requests', admission.cause, 'too many connections from this address');
        res.upgrade<UserData>({ ip }, key, 'sip', extensions, context);
      },
      open: (ws) => {
        sockets.add(ws);
        const ud = ws.getUserData();
        const flow = flows.open({
          transport: options.transport,
          ip: ud.ip,
          port: 0,
          socket: new UwsFlowSocket(ws),
        });
        ud.flow = flow;
        delegate.onFlowOpen(flow);
      },
      message: (ws, message, isBinary) => {
        const flow = ws.getUserData().flow;
        if (!flow?.open) return;
        const verdict = flows.arrival(flow);
        if (verdict !== 'ok') {
          delegate.onRefusal('rate-limit');
          if (verdict === 'close') flow.close('flood');
          return;
        }
        // A view, not a copy: uWS neuters the ArrayBuffer when this callback returns, so the
        // delegate copies what it keeps (the parser's text is its own; a body is copied). A copy
        // of every frame was a share of a new 8 KiB pool every few frames.
        const data = Buffer.from(message);
        if (isKeepalive(data)) {
          flow.greeted = true;
          // RFC 5626 §4.4.1: "When a server receives a double CRLF ping, it MUST respond with a
          // single CRLF pong". A lone CRLF is a pong to nothing we sent: activity, nothing more.
          if (data.length === 4) {
            delegate.onKeepalive(flow, 'crlf');
            flow.send(CRLF, false);
          }
          return;
        }
        flow.greeted = true;
        delegate.onFrame(flow, data, isBinary);
      },
      ping: (ws) => {
        const flow = ws.getUserData().flow;
        if (!flow?.open) return;
        flow.lastSeen = Date.now();
        flow.greeted = true;
        delegate.onKeepalive(flow, 'ping');
      },
      close: (ws, code, message) => {
        sockets.delete(ws);
        const flow = ws.getUserData().flow;
        if (!flow) return;
        const reason = closeReasonOf(code, Buffer.from(message).toString('latin1'));
        if (reason === 'oversize' && flow.open) delegate.onRefusal('oversize');
        flow.closed(reason);
      },
    });

    // Anything that is not a WebSocket upgrade on this port.
    app.any('/*', (res) => {
      refuse(res, '426 Upgrade Required', 'not-websocket', 'this is a SIP over WebSocket endpoint (RFC 7118)');
    });

    const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
      app.listen(options.host, options.port, (ls) => {
        if (ls) resolve(ls);
        else reject(Object.assign(new Error(`cannot listen for ${options.transport} on ${options.host}:${options.port}`), {
          code: 'SIPFLOW_LISTEN_FAILED',
          hint: 'is the address in use or not on this host?',
        }));
      });
    });
    const port = uWS.us_socket_local_port(listenSocket as never);
    return new WsListener(app, options.transport, options.host, port, listenSocket, sockets);
  }

  get connections(): number {
    return this.#sockets.size;
  }

  /** Stops accepting; open sockets are closed by the flow table (so their close reason is 'shutdown'). */
  close(): void {
    if (this.#listenSocket) uWS.us_listen_socket_close(this.#listenSocket);
    this.#listenSocket = undefined;
  }

  /**
   * Force-closes whatever is still open after the flows were closed: WebSockets, and HTTP
   * connections that never finished an upgrade (uWS would otherwise keep them, and the process,
   * for its 10 s HTTP timeout). `close()` on the app exists in this uWS build but not in its types.
   */
  closeSockets(): void {
    for (const ws of [...this.#sockets]) {
      try {
        ws.close();
      } catch {
        // already closed
      }
    }
    const app = this.#app as TemplatedApp & { close?: () => void };
    app.close?.();
  }
}

/** A flow's view of its uWS socket: one small object per flow, methods on the prototype. */
class UwsFlowSocket implements FlowSocket {
  readonly #ws: UwsWebSocket<UserData>;

  constructor(ws: UwsWebSocket<UserData>) {
    this.#ws = ws;
  }

  send(data: Uint8Array | string, binary: boolean): number {
    let status = 2;
    // Sends from outside a uWS callback (a UDP message from a core) are corked into one syscall.
    this.#ws.cork(() => {
      status = this.#ws.send(data, binary);
    });
    return status;
  }

  bufferedAmount(): number {
    return this.#ws.getBufferedAmount();
  }

  close(): void {
    this.#ws.close();
  }

  end(code: number, reason: string): void {
    this.#ws.end(code, reason);
  }
}

function createApp(options: WsListenerOptions): TemplatedApp {
  if (options.transport === 'ws') return uWS.App();
  if (!options.tls) throw new TypeError('wss needs a certificate and a key');
  // uWS reports an unreadable file only as a failed listen; check first so the error says which file.
  for (const [what, file] of [['certificate', options.tls.certFile], ['key', options.tls.keyFile]] as const) {
    try {
      readFileSync(file);
    } catch (err) {
      throw Object.assign(new Error(`cannot read the wss ${what} file ${file}: ${(err as Error).message}`), { code: 'SIPFLOW_BAD_OPTION' });
    }
  }
  return uWS.SSLApp({ cert_file_name: options.tls.certFile, key_file_name: options.tls.keyFile });
}

/** Sec-WebSocket-Protocol is a comma-separated list of tokens; tokens compare case-sensitively (RFC 6455 §4.1). */
export function offersSip(header: string): boolean {
  if (header.length === 0) return false;
  return header.split(',').some((p) => p.trim() === 'sip');
}

function isKeepalive(data: Buffer): boolean {
  if (data.length === 0 || data.length > 4) return false;
  if (data.length === 4) return data.toString('latin1') === CRLFCRLF;
  return data.toString('latin1') === CRLF;
}

/**
 * uWS closes an oversize frame's connection itself (code 1006, message "Received too big message";
 * 1009 in other builds) and reports every other abrupt end, its idle timeout included, as 1006.
 */
function closeReasonOf(code: number, message: string): CloseReason {
  if (code === 1009 || /too big/i.test(message)) return 'oversize';
  return 'client';
}

/** uWS gives IPv4-mapped IPv6 addresses in long form; report them as IPv4. */
export function normalizeIp(text: string): string {
  const t = text.toLowerCase();
  const mapped = /^(?:0{1,4}:){5}ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(t);
  if (mapped) {
    const hi = parseInt(mapped[1]!, 16);
    const lo = parseInt(mapped[2]!, 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  const dotted = /^(?:0{1,4}:){5}ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(t) ?? /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(t);
  if (dotted) return dotted[1]!;
  return t;
}
