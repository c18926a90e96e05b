/**
 * Everything an EdgeNode can be told, with the defaults in one place. Times are milliseconds unless
 * the name says otherwise (uWS counts its idle timeout in seconds).
 */
import type { Logger } from 'pino';
import type { TimerSettings } from '../sip/transaction/timers.js';
import type { CoreTransport, Endpoint } from './edge-uris.js';

export interface EdgeNodeOptions {
  /** WebSocket listener (RFC 7118 `ws`). Port 0 picks a free one. */
  ws: Endpoint;
  /** Optional TLS listener (`wss`) with PEM certificate and key files. */
  wss?: Endpoint & { certFile: string; keyFile: string };
  /** Core-facing UDP socket; default 127.0.0.1:0. Its advertised address is the edge's node id. */
  udp?: Endpoint;
  /**
   * How requests go to the cores: 'udp' (default) or 'tcp'. With tcp the edge also listens on TCP
   * at the UDP socket's port, writes transport=tcp into Path and Record-Route, and expects every
   * core to listen on TCP at the port it is listed with. TCP suits WebRTC: its SDP is often over
   * the 1300 bytes RFC 3261 §18.1.1 allows on UDP, and many messages share one write under load.
   * UDP stays open either way, for registrations made while the edge ran on UDP.
   */
  coreTransport?: CoreTransport;
  /** Cores to forward to (HOST:PORT, names resolved once at start). */
  cores: Endpoint[];
  /**
   * Other cores of the cluster (another datacenter's): nothing is forwarded to them, but requests
   * they send for a flow of this edge are accepted. The core that routes a call sends it straight
   * to the callee's edge, whichever datacenter that core is in.
   */
  peerCores?: Endpoint[];
  /** node:http server for /metrics, /healthz, /readyz, /status. */
  metrics?: Endpoint;
  /**
   * Bearer token for /metrics, /readyz and /status (/healthz stays open). Required when `metrics`
   * is not a loopback address: start() fails without one.
   */
  adminToken?: string;
  /**
   * Host written into Path, Record-Route and Via when a socket is bound to a wildcard address
   * (0.0.0.0 / ::). Without it the edge falls back to 127.0.0.1 and warns.
   */
  advertiseHost?: string;
  /** Cluster secrets for flow tokens, newest first (shared with the cores). */
  secrets?: string[];
  /** Allowed Origin header values; empty or ['*'] = any. */
  allowedOrigins?: string[];
  /** Open WebSockets per remote IP; 0 = unlimited. Default 100. */
  maxFlowsPerIp?: number;
  /** Largest WebSocket message (one SIP message), bytes. Default 65535. */
  maxMessageSize?: number;
  /** A WebSocket that sends no SIP message or keepalive this long after opening is closed. Default 10000 ms; 0 = off. */
  handshakeTimeout?: number;
  /** uWS idle timeout in SECONDS (pings sent automatically; 0 = off, else more than 8). Default 120. */
  idleTimeoutSeconds?: number;
  /** Bytes a browser may leave unread before its flow is closed. Default 1 MiB. */
  maxBuffered?: number;
  /** Grace added to a Flow-Timer before an idle flow is closed. Default 10000 ms. */
  flowTimerGrace?: number;
  /** Messages a second per WebSocket (burst the same); 0 = unlimited. Default 50. */
  ratePerFlow?: number;
  /** Messages a second per remote IP over all its WebSockets; 0 = unlimited. Default 1000. */
  ratePerIp?: number;
  /** OPTIONS probe period per core. Default 2000 ms. */
  probeInterval?: number;
  /** A probe with no answer after this long is a failure. Default 1500 ms. */
  probeTimeout?: number;
  /** Failed probes in a row that mark a core down. Default 2. */
  failureThreshold?: number;
  /** Transaction timers (T1, T2, T4, D). */
  timers?: Partial<TimerSettings>;
  /** Timer C for proxied INVITEs, ms. Default 180000 (RFC 3261: greater than 3 minutes). */
  timerC?: number;
  /** Period of the handshake / Flow-Timer sweep. Default 1000 ms. */
  sweepInterval?: number;
  logger?: Logger;
  /** Reported in /status; defaults to package.json's. */
  version?: string;
  /** Also export Node process metrics (CPU, memory, event loop lag) in /metrics. */
  defaultMetrics?: boolean;
}

/** Used when no secret is configured: flow tokens then prove nothing. The node warns loudly. */
/** Same value as the core's default, so an unconfigured development cluster is at least consistent. */
export const DEV_SECRET = 'sipflow-development-secret-change-me';

export interface ResolvedEdgeOptions extends Required<Omit<EdgeNodeOptions, 'wss' | 'metrics' | 'adminToken' | 'advertiseHost' | 'logger' | 'timers' | 'version' | 'defaultMetrics'>> {
  wss: EdgeNodeOptions['wss'];
  metrics: EdgeNodeOptions['metrics'];
  adminToken: string | undefined;
  advertiseHost: string | undefined;
  timers: Partial<TimerSettings>;
}

export function resolveEdgeOptions(o: EdgeNodeOptions): ResolvedEdgeOptions {
  if (o.cores.length === 0) throw new TypeError('an edge needs at least one core');
  const idle = o.idleTimeoutSeconds ?? 120;
  if (idle !== 0 && (idle <= 8 || idle > 960)) throw new TypeError('idleTimeoutSeconds must be 0 or between 9 and 960 (a uWS limit)');
  const r: ResolvedEdgeOptions = {
    ws: o.ws,
    wss: o.wss,
    udp: o.udp ?? { host: '127.0.0.1', port: 0 },
    coreTransport: o.coreTransport ?? 'udp',
    cores: o.cores,
    peerCores: o.peerCores ?? [],
    metrics: o.metrics,
    adminToken: o.adminToken,
    advertiseHost: o.advertiseHost,
    secrets: o.secrets && o.secrets.length > 0 ? o.secrets : [DEV_SECRET],
    allowedOrigins: o.allowedOrigins ?? [],
    maxFlowsPerIp: o.maxFlowsPerIp ?? 100,
    maxMessageSize: o.maxMessageSize ?? 65535,
    handshakeTimeout: o.handshakeTimeout ?? 10_000,
    idleTimeoutSeconds: idle,
    maxBuffered: o.maxBuffered ?? 1024 * 1024,
    flowTimerGrace: o.flowTimerGrace ?? 10_000,
    ratePerFlow: o.ratePerFlow ?? 50,
    ratePerIp: o.ratePerIp ?? 1000,
    probeInterval: o.probeInterval ?? 2000,
    probeTimeout: o.probeTimeout ?? 1500,
    failureThreshold: o.failureThreshold ?? 2,
    timers: o.timers ?? {},
    timerC: o.timerC ?? 180_000,
    sweepInterval: o.sweepInterval ?? 1000,
  };
  for (const [name, v] of Object.entries(r)) {
    if (typeof v === 'number' && (!Number.isFinite(v) || v < 0)) throw new TypeError(`${name} must be a non-negative number`);
  }
  if (r.coreTransport !== 'udp' && r.coreTransport !== 'tcp') throw new TypeError("coreTransport must be 'udp' or 'tcp'");
  if (r.maxMessageSize < 256) throw new TypeError('maxMessageSize must be at least 256 bytes');
  return r;
}
