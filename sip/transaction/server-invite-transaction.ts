/**
 * INVITE server transaction: RFC 3261 §17.2.1 as corrected by RFC 6026 §7.1 (Accepted state).
 *
 *   Proceeding --2xx from TU--> Accepted --Timer L--> Terminated    (2xx retransmitted by the TU)
 *   Proceeding --300-699 from TU--> Completed --ACK--> Confirmed --Timer I--> Terminated
 *   Completed --Timer H--> Terminated (failure to TU)
 */
import { createResponse } from '../message/factory.js';
import type { SipRequest, SipResponse } from '../message/model.js';
import type { ReceivedFrom, TransportTarget } from '../transport/transport.js';
import { ServerTransaction } from './server-transaction.js';
import { backoff } from './timers.js';
import type { TransactionContext } from './transaction.js';

/**
 * When the transaction sends 100 Trying on its own: 'immediate' (it stops INVITE retransmissions
 * at once), 'deferred' (only if the TU has not responded within 200 ms), 'off', or 'auto':
 * immediate on an unreliable transport, deferred on a reliable one, where there are no
 * retransmissions to stop and a TU that answers quickly (a proxy relaying a 180) makes it moot.
 */
export type TryingPolicy = 'auto' | 'immediate' | 'deferred' | 'off';

/** What an ACK that matched this transaction turned into. */
export type AckDisposition = 'absorbed' | 'to-tu';

const TRYING_DELAY_MS = 200;

export class ServerInviteTransaction extends ServerTransaction {
  readonly kind = 'server-invite' as const;
  /** Last provisional sent, re-sent when the INVITE is retransmitted in Proceeding. */
  #provisional: Buffer | string | undefined;
  /** The non-2xx final response, retransmitted by Timer G and on INVITE retransmissions. */
  #final: Buffer | string | undefined;
  #timerG = 0;
  readonly #trying: TryingPolicy;

  constructor(id: string, request: SipRequest, source: ReceivedFrom, responseTarget: TransportTarget, ctx: TransactionContext, trying: TryingPolicy = 'auto') {
    if (request.method !== 'INVITE') throw new TypeError(`ServerInviteTransaction needs an INVITE, got ${request.method}`);
    // "When a server transaction is constructed for a request, it enters the "Proceeding" state."
    super(id, request, source, responseTarget, 'proceeding', ctx);
    this.#trying = trying;
  }

  /** Called once by the layer right after creation, before the TU sees the request. */
  start(): void {
    // "The server transaction MUST generate a 100 (Trying) response unless it knows that the TU
    // will generate a provisional or final response within 200 ms, in which case it MAY generate a
    // 100 (Trying) response." Built now, while the request is as it arrived (a proxy TU may
    // change it when forwarding).
    if (this.#trying === 'off') return;
    const trying = createResponse(this.request, 100, 'Trying');
    if (this.#trying === 'immediate' || (this.#trying === 'auto' && !this.reliable)) this.#sendTrying(trying);
    else this.startTimer('Trying', TRYING_DELAY_MS, () => this.#sendTrying(trying));
  }

  #sendTrying(trying: SipResponse): void {
    if (this.state !== 'proceeding' || this.#provisional) return;
    this.#provisional = this.sendResponse(trying);
  }

  respond(response: SipResponse): boolean {
    const status = response.status;
    switch (this.state) {
      case 'proceeding':
        this.stopTimer('Trying');
        if (status < 200) {
          // "The TU passes any number of provisional responses to the server transaction. So long
          // as the server transaction is in the "Proceeding" state, each of these MUST be passed to
          // the transport layer for transmission."
          this.#provisional = this.sendResponse(response);
        } else if (status < 300) {
          // RFC 6026 §8.5: "If, while in the "Proceeding" state, the TU passes a 2xx response to
          // the server transaction, the server transaction MUST pass this response to the
          // transport layer for transmission. It is not retransmitted by the server transaction;
          // retransmissions of 2xx responses are handled by the TU. The server transaction MUST
          // then transition to the "Accepted" state." Timer L = 64*T1; §8.7: "If Timer L fires
          // while the INVITE server transaction is in the "Accepted" state, the transaction MUST
          // transition to the "Terminated" state."
          this.sendResponse(response);
          this.transition('accepted');
          this.wait('L', this.timerValues.L);
          this.shed();
        } else {
          // "While in the "Proceeding" state, if the TU passes a response with status code from
          // 300 to 699 to the server transaction, the response MUST be passed to the transport
          // layer for transmission, and the state machine MUST enter the "Completed" state. For
          // unreliable transports, timer G is set to fire in T1 seconds, and is not set to fire
          // for reliable transports." "When the "Completed" state is entered, timer H MUST be set
          // to fire in 64*T1 seconds for all transports."
          this.#final = this.sendResponse(response);
          this.transition('completed');
          const { G, H } = this.timerValues;
          if (G !== undefined) {
            this.#timerG = G;
            this.startTimer('G', G, () => this.#onTimerG());
          }
          this.startTimer('H', H, () => this.#onTimerH());
          this.shed();
        }
        return true;
      case 'accepted':
        if (status >= 200 && status < 300) {
          // RFC 6026 §8.7: "While in the "Accepted" state, if the TU passes a 2xx response, the
          // server transaction MUST pass the response to the transport layer for transmission."
          this.sendResponse(response);
          return true;
        }
        return false;
      default:
        return false;
    }
  }

  receiveRequest(request: SipRequest): void {
    switch (this.state) {
      case 'proceeding':
        // "If a request retransmission is received while in the "Proceeding" state, the most
        // recent provisional response that was received from the TU MUST be passed to the
        // transport layer for retransmission."
        if (this.#provisional) this.transmit(this.#provisional, this.responseTarget, 'response');
        break;
      case 'completed':
        // "while in the "Completed" state, if a request retransmission is received, the server
        // SHOULD pass the response to the transport for retransmission."
        if (this.#final) this.transmit(this.#final, this.responseTarget, 'response');
        break;
      // RFC 6026 §8.7: "The purpose of the "Accepted" state is to absorb retransmissions of an
      // accepted INVITE request. Any such retransmissions are absorbed entirely within the server
      // transaction. They are not passed up to the TU" — and Confirmed absorbs them likewise.
    }
    this.absorbed(request);
  }

  /** An ACK matched to this transaction (same branch as the INVITE, or RFC 2543 rules). */
  receiveAck(ack: SipRequest): AckDisposition {
    switch (this.state) {
      case 'completed':
        // "If an ACK is received while the server transaction is in the "Completed" state, the
        // server transaction MUST transition to the "Confirmed" state. As Timer G is ignored in
        // this state, any retransmissions of the response will cease."
        this.stopTimer('G');
        this.stopTimer('H');
        this.#final = undefined;
        this.transition('confirmed');
        // "When this state is entered, timer I is set to fire in T4 seconds for unreliable
        // transports, and zero seconds for reliable transports."
        this.wait('I', this.timerValues.I);
        return 'absorbed';
      case 'accepted':
        // RFC 6026 Figure 5: in Accepted, "ACK / to TU": an ACK for the 2xx that reuses the INVITE
        // branch is end-to-end and belongs to the TU (a proxy forwards it).
        return 'to-tu';
      default:
        // "The purpose of the "Confirmed" state is to absorb any additional ACK messages that
        // arrive, triggered from retransmissions of the final response."
        this.absorbed(ack);
        return 'absorbed';
    }
  }

  /** Out of Proceeding for good: the last provisional response is never re-sent again. */
  protected override shed(): void {
    super.shed();
    this.#provisional = undefined;
  }

  #onTimerG(): void {
    if (this.state !== 'completed' || !this.#final) return;
    // "If timer G fires, the response is passed to the transport layer once more for
    // retransmission, and timer G is set to fire in MIN(2*T1, T2) seconds. From then on, when
    // timer G fires, the timer is reset to double its value until it reaches T2"
    this.transmit(this.#final, this.responseTarget, 'response');
    this.#timerG = backoff(this.#timerG, this.ctx.timers.t2);
    this.startTimer('G', this.#timerG, () => this.#onTimerG());
  }

  #onTimerH(): void {
    if (this.state !== 'completed') return;
    // "If timer H fires while in the "Completed" state, it implies that the ACK was never
    // received. In this case, the server transaction MUST transition to the "Terminated" state,
    // and MUST indicate to the TU that a transaction failure has occurred."
    this.timedOut();
    try {
      this.delegate.onTimeout?.(this);
    } finally {
      this.transition('terminated');
    }
  }
}
