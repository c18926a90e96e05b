/** States of the four RFC 3261 §17 state machines, with RFC 6026's Accepted. */
export type TransactionState =
  | 'calling'
  | 'trying'
  | 'proceeding'
  /** RFC 6026: an INVITE transaction that saw (client) or sent (server) a 2xx. */
  | 'accepted'
  | 'completed'
  | 'confirmed'
  | 'terminated';

export type TransactionKind = 'client-invite' | 'client-non-invite' | 'server-invite' | 'server-non-invite';

export const TRANSACTION_KINDS: readonly TransactionKind[] = ['client-invite', 'client-non-invite', 'server-invite', 'server-non-invite'];
