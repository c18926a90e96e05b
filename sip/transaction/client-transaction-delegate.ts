import type { SipResponse } from '../message/model.js';
import type { ClientTransaction } from './client-transaction.js';

/** How a client transaction talks to its TU (UAC core or proxy core). All callbacks optional. */
export interface ClientTransactionDelegate {
  /** A response the transaction passes up: provisionals, the final response, and (RFC 6026) every 2xx in Accepted. */
  onResponse?(response: SipResponse, tx: ClientTransaction): void;
  /** The same responses split by class, for TUs that prefer it; called after onResponse. */
  onProvisional?(response: SipResponse, tx: ClientTransaction): void;
  /** A final response passed up (for INVITE: the first final, and every 2xx in Accepted). */
  onFinal?(response: SipResponse, tx: ClientTransaction): void;
  /**
   * Timer B or F fired. "When a timeout error is received from the transaction layer, it MUST be
   * treated as if a 408 (Request Timeout) status code has been received" (RFC 3261 §8.1.3.1).
   */
  onTimeout?(tx: ClientTransaction): void;
  /**
   * The transport failed (§17.1.4). "the condition MUST be treated as a 503 (Service Unavailable)
   * status code" (§8.1.3.1).
   */
  onTransportError?(error: Error, tx: ClientTransaction): void;
  onTerminated?(tx: ClientTransaction): void;
}
