/**
 * Observability without a logger dependency: the layer counts into TransactionStats and publishes
 * on node:diagnostics_channel (only when somebody subscribed); an optional observer gets the same
 * events as plain calls.
 */
import diagnostics from 'node:diagnostics_channel';
import type { SipMessage } from '../message/model.js';
import type { Transaction } from './transaction.js';
import type { TransactionKind, TransactionState } from './transaction-state.js';

/** What a retransmission carried: a request (Timers A/E), a response (Timer G or a re-sent reply), an ACK. */
export type RetransmissionKind = 'request' | 'response' | 'ack';

export interface TransactionObserver {
  onCreated?(tx: Transaction): void;
  onStateChange?(tx: Transaction, from: TransactionState, to: TransactionState): void;
  onRetransmit?(tx: Transaction, what: RetransmissionKind): void;
  /** A retransmitted request or response that the transaction swallowed (not passed to the TU). */
  onAbsorb?(tx: Transaction, message: SipMessage): void;
  /** Timer B, F or H fired. */
  onTimeout?(tx: Transaction): void;
  onTransportError?(tx: Transaction, error: Error): void;
}

export const channels = {
  created: diagnostics.channel('sipflow:transaction:created'),
  state: diagnostics.channel('sipflow:transaction:state'),
  retransmit: diagnostics.channel('sipflow:transaction:retransmit'),
  absorbed: diagnostics.channel('sipflow:transaction:absorbed'),
  timeout: diagnostics.channel('sipflow:transaction:timeout'),
  transportError: diagnostics.channel('sipflow:transaction:transport-error'),
} as const;

export interface TransactionStats {
  created: Record<TransactionKind, number>;
  terminated: Record<TransactionKind, number>;
  /** Requests, responses and ACKs sent again (timers A/E/G, replies to request retransmissions, ACK re-sends). */
  retransmissionsSent: number;
  /** Retransmitted requests and responses swallowed by a transaction. */
  retransmissionsAbsorbed: number;
  timeouts: number;
  transportErrors: number;
  /** Responses that matched no client transaction. */
  strayResponses: number;
  /** ACKs that matched no server transaction (2xx ACKs, end-to-end) and were handed to the TU. */
  strayAcks: number;
  /** Messages whose transaction headers could not be parsed. */
  malformed: number;
}

export function emptyStats(): TransactionStats {
  const zero = (): Record<TransactionKind, number> => ({ 'client-invite': 0, 'client-non-invite': 0, 'server-invite': 0, 'server-non-invite': 0 });
  return {
    created: zero(),
    terminated: zero(),
    retransmissionsSent: 0,
    retransmissionsAbsorbed: 0,
    timeouts: 0,
    transportErrors: 0,
    strayResponses: 0,
    strayAcks: 0,
    malformed: 0,
  };
}
