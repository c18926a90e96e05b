/**
 * Prometheus metrics of a core node. One registry per node (several nodes can share a process in
 * tests). Labels are bounded: methods are folded to the known set, statuses to their code, causes
 * to a fixed vocabulary; nothing per user or per call.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { HotCounter } from '../runtime/hot-counter.js';
import { HotHistogram } from '../runtime/hot-histogram.js';

const KNOWN_METHODS = new Set(['INVITE', 'ACK', 'BYE', 'CANCEL', 'REGISTER', 'OPTIONS', 'INFO', 'UPDATE', 'PRACK', 'SUBSCRIBE', 'NOTIFY', 'REFER', 'MESSAGE', 'PUBLISH']);
export function methodLabel(method: string): string {
  return KNOWN_METHODS.has(method) ? method : 'other';
}
export function statusLabel(status: number): string {
  return status >= 100 && status < 700 ? String(status) : 'invalid';
}

export class CoreMetrics {
  readonly registry = new Registry();
  readonly messagesIn = new HotCounter({ name: 'sipflow_core_messages_received_total', help: 'SIP messages received', labelNames: ['kind', 'method'] as const, registers: [this.registry] });
  readonly responsesOut = new HotCounter({ name: 'sipflow_core_responses_sent_total', help: 'Responses sent or relayed, by status', labelNames: ['status', 'origin'] as const, registers: [this.registry] });
  readonly requestsForwarded = new HotCounter({ name: 'sipflow_core_requests_forwarded_total', help: 'Requests forwarded', labelNames: ['method'] as const, registers: [this.registry] });
  readonly dropped = new Counter({ name: 'sipflow_core_messages_dropped_total', help: 'Messages dropped, by cause', labelNames: ['cause'] as const, registers: [this.registry] });
  readonly rejected = new Counter({ name: 'sipflow_core_requests_rejected_total', help: 'Requests answered with an error by this node, by cause', labelNames: ['cause'] as const, registers: [this.registry] });
  readonly registrations = new HotCounter({ name: 'sipflow_core_registrations_total', help: 'REGISTER outcomes', labelNames: ['outcome'] as const, registers: [this.registry] });
  readonly registerSeconds = new HotHistogram({ name: 'sipflow_core_register_duration_seconds', help: 'REGISTER processing time including the store', buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5], registers: [this.registry] });
  readonly lookups = new Counter({ name: 'sipflow_core_location_lookups_total', help: 'Location lookups for routing', labelNames: ['outcome'] as const, registers: [this.registry] });
  readonly lookupSeconds = new HotHistogram({ name: 'sipflow_core_location_lookup_duration_seconds', help: 'Location lookup time', buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [this.registry] });
  readonly storeErrors = new Counter({ name: 'sipflow_core_store_errors_total', help: 'Location store failures', labelNames: ['operation'] as const, registers: [this.registry] });
  readonly authFailures = new Counter({ name: 'sipflow_core_auth_failures_total', help: 'Failed digest authentications, by reason', labelNames: ['reason'] as const, registers: [this.registry] });
  /** Set by the node: read at scrape time, so the hot path never touches the gauge. */
  transactionSource: (() => { client: number; server: number }) | undefined;
  readonly transactions = new Gauge({
    name: 'sipflow_core_transactions',
    help: 'Transactions in the tables',
    labelNames: ['type'] as const,
    registers: [this.registry],
    collect: () => {
      const s = this.transactionSource?.() ?? { client: 0, server: 0 };
      this.transactions.set({ type: 'client' }, s.client);
      this.transactions.set({ type: 'server' }, s.server);
    },
  });
  readonly transactionsCreated = new HotCounter({ name: 'sipflow_core_transactions_created_total', help: 'Transactions created', labelNames: ['type'] as const, registers: [this.registry] });
  readonly retransmissions = new Counter({ name: 'sipflow_core_retransmissions_total', help: 'Retransmissions sent (timers A/E/G) or absorbed', labelNames: ['direction'] as const, registers: [this.registry] });
  readonly rateLimited = new Counter({ name: 'sipflow_core_rate_limited_total', help: 'Messages shed by the per-source rate limit', registers: [this.registry] });
  readonly rtpengine = new Counter({ name: 'sipflow_core_rtpengine_commands_total', help: 'rtpengine ng commands', labelNames: ['command', 'outcome'] as const, registers: [this.registry] });
  readonly rerouted = new Counter({ name: 'sipflow_core_dialog_reroutes_total', help: 'In-dialog requests re-routed through a UA\'s new flow after its edge changed', registers: [this.registry] });
  readonly callsActive = new Gauge({ name: 'sipflow_core_invite_contexts', help: 'INVITE response contexts in progress', registers: [this.registry] });

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'sipflow_core_' });
  }
}
