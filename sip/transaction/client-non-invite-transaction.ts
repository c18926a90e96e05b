/**
 * Non-INVITE client transaction: RFC 3261 §17.1.2.
 *
 *   Trying --1xx--> Proceeding --200-699--> Completed --Timer K--> Terminated
 *   Trying --200-699--> Completed;  Trying/Proceeding --Timer F--> Terminated (timeout to TU)
 */
import type { SipRequest, SipResponse } from '../message/model.js';
import type { TransportTarget } from '../transport/transport.js';
import type { ClientTransactionDelegate } from './client-transaction-delegate.js';
import { ClientTransaction } from './client-transaction.js';
import { backoff } from './timers.js';
import type { TransactionContext } from './transaction.js';

export class ClientNonInviteTransaction extends ClientTransaction {
  readonly kind = 'client-non-invite' as const;
  #timerE = 0;

  constructor(id: string, request: SipRequest, target: TransportTarget, ctx: TransactionContext, delegate?: ClientTransactionDelegate) {
    if (request.method === 'INVITE' || request.method === 'ACK') {
      throw new TypeError(`ClientNonInviteTransaction cannot carry ${request.method}`);
    }
    // "The "Trying" state is entered when the TU initiates a new client transaction with a request."
    super(id, request, target, 'trying', ctx, delegate);
  }

  protected onStart(): void {
    this.transmit(this.wire, this.target);
    const { E, F } = this.timerValues;
    // "When entering this state, the client transaction SHOULD set timer F to fire in 64*T1 seconds."
    this.startTimer('F', F, () => this.#onTimerF());
    if (E !== undefined) {
      // "If an unreliable transport is in use, the client transaction MUST set timer E to fire in T1 seconds."
      this.#timerE = E;
      this.startTimer('E', E, () => this.#onTimerE());
    }
  }

  #onTimerE(): void {
    if (this.state === 'trying') {
      // "If timer E fires while still in this state, the timer is reset, but this time with a value
      // of MIN(2*T1, T2). When the timer fires again, it is reset to a MIN(4*T1, T2)."
      this.transmit(this.wire, this.target, 'request');
      this.#timerE = backoff(this.#timerE, this.ctx.timers.t2);
      this.startTimer('E', this.#timerE, () => this.#onTimerE());
    } else if (this.state === 'proceeding') {
      // "If Timer E fires while in the "Proceeding" state, the request MUST be passed to the
      // transport layer for retransmission, and Timer E MUST be reset with a value of T2 seconds."
      this.transmit(this.wire, this.target, 'request');
      this.#timerE = this.ctx.timers.t2;
      this.startTimer('E', this.#timerE, () => this.#onTimerE());
    }
  }

  #onTimerF(): void {
    // "If Timer F fires while the client transaction is still in the "Trying" state, the client
    // transaction SHOULD inform the TU about the timeout, and then it SHOULD enter the "Terminated"
    // state." and "If timer F fires while in the "Proceeding" state, the TU MUST be informed of a
    // timeout, and the client transaction MUST transition to the terminated state."
    if (this.state === 'trying' || this.state === 'proceeding') this.timeout();
  }

  receiveResponse(response: SipResponse): void {
    const status = response.status;
    switch (this.state) {
      case 'trying':
      case 'proceeding':
        if (status < 200) {
          // "If a provisional response is received while in the "Trying" state, the response MUST
          // be passed to the TU, and then the client transaction SHOULD move to the "Proceeding"
          // state." / "If a provisional response is received while in the "Proceeding" state, it
          // MUST be passed to the TU."
          this.transition('proceeding');
          this.passUp(response);
        } else {
          // "If a final response (status codes 200-699) is received while in the "Trying" state,
          // the response MUST be passed to the TU, and the client transaction MUST transition to
          // the "Completed" state." (The same from "Proceeding".)
          this.stopTimer('E');
          this.stopTimer('F');
          this.transition('completed');
          try {
            this.passUp(response);
          } finally {
            // "Once the client transaction enters the "Completed" state, it MUST set Timer K to
            // fire in T4 seconds for unreliable transports, and zero seconds for reliable
            // transports." "If Timer K fires while in this state, the client transaction MUST
            // transition to the "Terminated" state."
            this.wait('K', this.timerValues.K);
            this.shed();
          }
        }
        return;
      default:
        // "The "Completed" state exists to buffer any additional response retransmissions that may
        // be received (which is why the client transaction remains there only for unreliable
        // transports)."
        this.absorbed(response);
    }
  }
}
