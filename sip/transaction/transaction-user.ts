/**
 * The small interface through which the transaction layer calls up into its transaction user (the
 * UAS core or the proxy core). Only onRequest is required.
 */
import type { SipMessage, SipRequest, SipResponse } from '../message/model.js';
import type { ReceivedFrom } from '../transport/transport.js';
import type { ServerInviteTransaction } from './server-invite-transaction.js';
import type { ServerTransaction } from './server-transaction.js';

export interface TransactionUser {
  /**
   * A request that started a new server transaction. Answer through `tx.respond(...)`. For a
   * CANCEL, `layer.findInviteForCancel(request)` gives the INVITE server transaction it cancels.
   * If this throws, the layer answers 500 (so the transaction cannot linger) and rethrows.
   */
  onRequest(request: SipRequest, tx: ServerTransaction): void;
  /**
   * An ACK that is not part of an INVITE transaction: the ACK for a 2xx, which is end-to-end (a
   * proxy forwards it), or (RFC 6026) an ACK matching an INVITE server transaction in Accepted.
   * `tx` is that transaction when there is one.
   */
  onAck?(ack: SipRequest, source: ReceivedFrom, tx: ServerInviteTransaction | undefined): void;
  /** A response that matches no client transaction. RFC 6026 §7.3: a proxy must not forward it. */
  onStrayResponse?(response: SipResponse, source: ReceivedFrom): void;
  /**
   * A message whose transaction-identifying headers (Via, CSeq, Call-ID, From, To, Request-URI)
   * do not parse. Nothing was created; the node may answer 400 statelessly or drop it.
   */
  onMalformed?(message: SipMessage, error: Error, source: ReceivedFrom): void;
}
