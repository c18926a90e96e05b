/**
 * The edge's Prometheus metrics, in a registry of its own so several nodes in one process (tests,
 * the cluster launcher) never mix their numbers. Label values come from closed vocabularies below:
 * nothing a peer sends becomes a label, so a hostile peer cannot grow the series count.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { HotCounter } from '../runtime/hot-counter.js';

/** Why something a peer sent was refused, dropped or closed. */
export const REFUSAL_CAUSES = [
  /** WebSocket upgrade without the `sip` subprotocol (RFC 7118 §4), or a plain HTTP request. */
  'bad-subprotocol',
  'not-websocket',
  'origin',
  'per-ip-limit',
  /** A frame over maxPayloadLength: uWS closes the connection. */
  'oversize',
  /** A frame that is not a SIP message. */
  'parse-error',
  /** The peer does not read: its send buffer went over the limit. */
  'backpressure',
  /** Silent past its Flow-Timer plus grace (RFC 5626 §4.4.1). */
  'flow-timer-idle',
  /** Opened a WebSocket but sent nothing within the handshake timeout. */
  'handshake-timeout',
  /** Messages over the per-connection or per-IP rate. */
  'rate-limit',
  /** A flow token that does not verify (bad MAC, malformed). */
  'forged-token',
  /** A flow token minted by another node. */
  'other-node-token',
  /** A valid token for a flow that is closed or unknown: 430 Flow Failed (RFC 5626 §5.3). */
  'flow-failed',
  /** A request from the core side naming no flow of ours. */
  'no-flow',
  /** A UDP or TCP request from an address that is not one of our cores. */
  'unknown-peer',
  /** No healthy core to forward to: 503. */
  'no-core',
  /** The core a request was in progress at went down after answering provisionally: 408. */
  'core-lost',
  /** Max-Forwards reached zero: 483. */
  'too-many-hops',
] as const;
export type RefusalCause = (typeof REFUSAL_CAUSES)[number];

export const CLOSE_REASONS = [
  'client', 'oversize', 'backpressure', 'flow-timer-idle', 'handshake-timeout', 'flood', 'idle', 'shutdown',
] as const;
export type CloseReason = (typeof CLOSE_REASONS)[number];

/** Which side of the edge a message crossed. */
export type Side = 'ws' | 'udp' | 'tcp';

const KNOWN_METHODS = new Set([
  'INVITE', 'ACK', 'BYE', 'CANCEL', 'REGISTER', 'OPTIONS', 'PRACK', 'SUBSCRIBE', 'NOTIFY', 'PUBLISH', 'INFO', 'REFER',
  'MESSAGE', 'UPDATE',
]);

/** A bounded label for a message: the method for known requests, 'other' for the rest, '2xx' etc. for responses. */
export function messageLabel(m: { kind: 'request'; method: string } | { kind: 'response'; status: number }): string {
  if (m.kind === 'request') return KNOWN_METHODS.has(m.method) ? m.method : 'other';
  const cls = Math.floor(m.status / 100);
  return cls >= 1 && cls <= 6 ? `${cls}xx` : 'other';
}

export class EdgeMetrics {
  readonly registry = new Registry();
  readonly flowsOpen: Gauge;
  readonly flowsOpened: Counter;
  readonly flowsClosed: Counter<'reason'>;
  readonly messagesIn: Counter<'side' | 'type'>;
  readonly messagesOut: Counter<'side' | 'type'>;
  readonly refusals: Counter<'cause'>;
  readonly coresHealthy: Gauge;
  readonly coreUp: Gauge<'core'>;
  /** Requests re-sent to another core after a timeout or transport error (RFC 3261 §16.7 step 6 style). */
  readonly coreRetries: Counter;
  readonly keepalives: Counter<'kind'>;

  constructor(options: { defaultMetrics?: boolean; prefix?: string } = {}) {
    const p = options.prefix ?? 'sipflow_edge_';
    const registers = [this.registry];
    this.flowsOpen = new Gauge({ name: `${p}flows_open`, help: 'WebSocket flows open now', registers });
    this.flowsOpened = new Counter({ name: `${p}flows_opened_total`, help: 'WebSocket flows opened', registers });
    this.flowsClosed = new Counter({ name: `${p}flows_closed_total`, help: 'WebSocket flows closed, by reason', labelNames: ['reason'], registers });
    this.messagesIn = new HotCounter({ name: `${p}messages_in_total`, help: 'SIP messages received, by side and method or status class', labelNames: ['side', 'type'], registers });
    this.messagesOut = new HotCounter({ name: `${p}messages_out_total`, help: 'SIP messages sent, by side and method or status class', labelNames: ['side', 'type'], registers });
    this.refusals = new Counter({ name: `${p}refusals_total`, help: 'Connections, frames and requests refused or dropped, by cause', labelNames: ['cause'], registers });
    this.coresHealthy = new Gauge({ name: `${p}cores_healthy`, help: 'Cores answering OPTIONS now', registers });
    this.coreUp = new Gauge({ name: `${p}core_up`, help: '1 when the core answers OPTIONS', labelNames: ['core'], registers });
    this.coreRetries = new Counter({ name: `${p}core_retries_total`, help: 'Requests re-sent to another core after a timeout or transport error', registers });
    this.keepalives = new Counter({ name: `${p}keepalives_total`, help: 'Keepalives answered, by kind', labelNames: ['kind'], registers });
    for (const cause of REFUSAL_CAUSES) this.refusals.inc({ cause }, 0);
    for (const reason of CLOSE_REASONS) this.flowsClosed.inc({ reason }, 0);
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: p });
  }

  refuse(cause: RefusalCause): void {
    this.refusals.inc({ cause });
  }

  async refusalCount(cause: RefusalCause): Promise<number> {
    return valueOf(this.refusals, { cause });
  }

  async closedCount(reason: CloseReason): Promise<number> {
    return valueOf(this.flowsClosed, { reason });
  }
}

/** Current value of one series (0 when it has never been touched). */
export async function valueOf(metric: Counter<string> | Gauge<string>, labels: Record<string, string> = {}): Promise<number> {
  const data = await metric.get();
  const keys = Object.keys(labels);
  const found = data.values.find((v) => keys.every((k) => String((v.labels as Record<string, unknown>)[k]) === labels[k]) &&
    Object.keys(v.labels).length === keys.length);
  return found?.value ?? 0;
}
