/** What both client state machines share: the target, the TU delegate, the request bytes. */
import type { SipRequest, SipResponse } from '../message/model.js';
import { isReliableProtocol, type TransportTarget } from '../transport/transport.js';
import type { ClientTransactionDelegate } from './client-transaction-delegate.js';
import { Transaction, wireOf, type TransactionContext } from './transaction.js';
import type { TransactionState } from './transaction-state.js';

const NOTHING = Buffer.alloc(0);

export abstract class ClientTransaction extends Transaction {
  /** Where the request (and its retransmissions, and the ACK for a non-2xx) goes. */
  readonly target: TransportTarget;
  delegate: ClientTransactionDelegate;
  /**
   * The request as serialized once; retransmissions are byte-identical. Emptied once the
   * transaction only waits (Completed, Accepted): nothing re-sends the request from there.
   */
  protected wire: Buffer | string;
  #started = false;

  protected constructor(
    id: string,
    request: SipRequest,
    target: TransportTarget,
    initial: TransactionState,
    ctx: TransactionContext,
    delegate: ClientTransactionDelegate = {},
  ) {
    super(id, request, isReliableProtocol(target.protocol), initial, ctx);
    this.target = { ...target };
    this.delegate = delegate;
    this.wire = wireOf(request, this.reliable);
  }

  /** Sends the request and starts the timers. Called once by the layer after registering the transaction. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.onStart();
  }

  protected abstract onStart(): void;

  /** A response the layer matched to this transaction (§17.1.3). */
  abstract receiveResponse(response: SipResponse): void;

  protected override shed(): void {
    super.shed();
    this.wire = NOTHING;
  }

  protected passUp(response: SipResponse): void {
    const d = this.delegate;
    d.onResponse?.(response, this);
    if (response.status < 200) d.onProvisional?.(response, this);
    else d.onFinal?.(response, this);
  }

  /** "the client transaction SHOULD inform the TU that a timeout has occurred" */
  protected timeout(): void {
    this.timedOut();
    try {
      this.delegate.onTimeout?.(this);
    } finally {
      this.transition('terminated');
    }
  }

  /**
   * §17.1.4: "If a fatal transport error is reported by the transport layer [...] the client
   * transaction SHOULD inform the TU that a transport failure has occurred, and the client
   * transaction SHOULD transition directly to the "Terminated" state."
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
