/** Transaction-layer errors, each with a stable code. Bad arguments at the API boundary are TypeErrors. */
export type TransactionErrorCode =
  /** A client transaction with this branch and method already exists (the TU reused a branch). */
  | 'SIP_TRANSACTION_EXISTS'
  /** The layer was closed. */
  | 'SIP_TRANSACTION_LAYER_CLOSED';

export class TransactionError extends Error {
  readonly code: TransactionErrorCode;
  constructor(code: TransactionErrorCode, message: string) {
    super(message);
    this.name = 'TransactionError';
    this.code = code;
  }
}
