import type { ServerTransaction } from './server-transaction.js';

/** How a server transaction talks to its TU; set `tx.delegate` from TransactionUser.onRequest. */
export interface ServerTransactionDelegate {
  /** Timer H fired: "it implies that the ACK was never received [...] indicate to the TU that a transaction failure has occurred." */
  onTimeout?(tx: ServerTransaction): void;
  /** A response could not be sent (§17.2.4); the transaction has terminated. */
  onTransportError?(error: Error, tx: ServerTransaction): void;
  onTerminated?(tx: ServerTransaction): void;
}
