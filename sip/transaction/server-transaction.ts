/** What both server state machines share: where the request came from, where responses go, the TU delegate. */
import type { SipRequest, SipResponse } from '../message/model.js';
import { isReliableProtocol, type ReceivedFrom, type TransportTarget } from '../transport/transport.js';
import type { ServerTransactionDelegate } from './server-transaction-delegate.js';
import { Transaction, wireOf, type TransactionContext } from './transaction.js';
import type { TransactionState } from './transaction-state.js';

/** Until the TU sets its own: shared, so a transaction nobody listens to carries no object for it. */
const NO_DELEGATE: ServerTransactionDelegate = Object.freeze({});

export abstract class ServerTransaction extends Transaction {
  /** Where the request that created the transaction came from. */
  readonly source: ReceivedFrom;
  /** Where responses go (RFC 3261 §18.2.2, computed from the top Via and the source). */
  readonly responseTarget: TransportTarget;
  delegate: ServerTransactionDelegate = NO_DELEGATE;
  #lastResponse: SipResponse | undefined;

  protected constructor(
    id: string,
    request: SipRequest,
    source: ReceivedFrom,
    responseTarget: TransportTarget,
    initial: TransactionState,
    ctx: TransactionContext,
  ) {
    super(id, request, isReliableProtocol(source.protocol), initial, ctx);
    this.source = source;
    this.responseTarget = responseTarget;
  }

  /**
   * The last response the TU passed and the transaction sent. A completed non-INVITE transaction
   * no longer has it (it waits with the bytes alone); an INVITE one keeps its skeleton.
   */
  get lastResponse(): SipResponse | undefined {
    return this.#lastResponse;
  }

  /** To tag of the last response sent (RFC 2543 ACK matching, §17.2.3). */
  get responseToTag(): string | undefined {
    const r = this.#lastResponse;
    if (!r) return undefined;
    try {
      return r.to.params.get('tag') ?? undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Passes a response from the TU down. Returns false when the state machine discards it (a
   * response after the final one, a non-2xx in Accepted ...).
   */
  abstract respond(response: SipResponse): boolean;

  /** A retransmission of the request that created the transaction (§17.2.3 matched it). */
  abstract receiveRequest(request: SipRequest): void;

  /**
   * An INVITE transaction keeps its final response as a skeleton (status; To tag for RFC 2543 ACK
   * matching); a non-INVITE one needs nothing of it but the bytes it retransmits.
   */
  protected override shed(): void {
    super.shed();
    if (this.#lastResponse) this.#lastResponse = this.kind === 'server-invite' ? this.#lastResponse.skeleton() : undefined;
  }

  /** Terminated: nothing matches ACKs against the last response any more. */
  protected override retire(): void {
    this.#lastResponse = undefined;
    super.retire();
  }

  protected sendResponse(response: SipResponse, wire: Buffer | string = wireOf(response, this.reliable)): Buffer | string {
    this.#lastResponse = response;
    this.transmit(wire, this.responseTarget);
    return wire;
  }

  /**
   * §17.2.4: "First, the procedures in [4] are followed, which attempt to deliver the response to a
   * backup. If those should all fail [...] the server transaction SHOULD inform the TU that a
   * failure has occurred, and SHOULD transition to the terminated state." (No RFC 3263 backup here.)
   */
  protected override onTransportFailure(error: Error): void {
    try {
      this.delegate.onTransportError?.(error, this);
    } finally {
      this.transition('terminated');
    }
  }

  protected override onTerminated(): void {
    this.delegate.onTerminated?.(this);
  }
}
