/**
 * INVITE client transaction: RFC 3261 §17.1.1 as corrected by RFC 6026 §7.2 (Accepted state).
 *
 *   Calling --1xx--> Proceeding --2xx--> Accepted --Timer M--> Terminated
 *      |                 |
 *      +---300-699-------+--> Completed (ACK sent) --Timer D--> Terminated
 *   Calling --Timer B--> Terminated (timeout to TU)
 */
import type { SipRequest, SipResponse } from '../message/model.js';
import { parseMessage } from '../message/parser.js';
import type { TransportTarget } from '../transport/transport.js';
import type { ClientTransactionDelegate } from './client-transaction-delegate.js';
import { ClientTransaction } from './client-transaction.js';
import { buildAckForNon2xx } from './request-builders.js';
import type { TransactionContext } from './transaction.js';

export class ClientInviteTransaction extends ClientTransaction {
  readonly kind = 'client-invite' as const;
  /** The ACK for the non-2xx final response, built once and re-sent for each retransmission. */
  #ack: Buffer | undefined;
  #timerA = 0;

  constructor(id: string, request: SipRequest, target: TransportTarget, ctx: TransactionContext, delegate?: ClientTransactionDelegate) {
    if (request.method !== 'INVITE') throw new TypeError(`ClientInviteTransaction needs an INVITE, got ${request.method}`);
    // "The initial state, "calling", MUST be entered when the TU initiates a new client transaction
    // with an INVITE request."
    super(id, request, target, 'calling', ctx, delegate);
  }

  protected onStart(): void {
    // "The client transaction MUST pass the request to the transport layer for transmission"
    this.transmit(this.wire, this.target);
    const { A, B } = this.timerValues;
    if (A !== undefined) {
      // "If an unreliable transport is being used, the client transaction MUST start timer A with
      // a value of T1. If a reliable transport is being used, the client transaction SHOULD NOT
      // start timer A (Timer A controls request retransmissions)."
      this.#timerA = A;
      this.startTimer('A', A, () => this.#onTimerA());
    }
    // "For any transport, the client transaction MUST start timer B with a value of 64*T1 seconds
    // (Timer B controls transaction timeouts)."
    this.startTimer('B', B, () => this.#onTimerB());
  }

  #onTimerA(): void {
    if (this.state !== 'calling') return;
    // "When timer A fires, the client transaction MUST retransmit the request by passing it to the
    // transport layer, and MUST reset the timer with a value of 2*T1. [...] This process MUST
    // continue so that the request is retransmitted with intervals that double after each
    // transmission." (No T2 cap for INVITE; Timer B bounds it.)
    this.transmit(this.wire, this.target, 'request');
    this.#timerA *= 2;
    this.startTimer('A', this.#timerA, () => this.#onTimerA());
  }

  #onTimerB(): void {
    // "If the client transaction is still in the "Calling" state when timer B fires, the client
    // transaction SHOULD inform the TU that a timeout has occurred."
    if (this.state === 'calling') this.timeout();
  }

  receiveResponse(response: SipResponse): void {
    const status = response.status;
    switch (this.state) {
      case 'calling':
      case 'proceeding':
        if (status < 200) {
          // "If the client transaction receives a provisional response while in the "Calling"
          // state, it transitions to the "Proceeding" state. In the "Proceeding" state, the client
          // transaction SHOULD NOT retransmit the request any longer. Furthermore, the provisional
          // response MUST be passed to the TU."
          this.stopTimer('A');
          this.stopTimer('B');
          this.transition('proceeding');
          this.passUp(response);
        } else if (status < 300) {
          // RFC 6026 §8.4: "When in either the "Calling" or "Proceeding" states, reception of a
          // 2xx response MUST cause the client transaction to enter the "Accepted" state. The
          // response MUST also be passed up to the TU." and "the client transaction MUST start
          // Timer M with a value of 64*T1".
          this.stopTimer('A');
          this.stopTimer('B');
          this.transition('accepted');
          try {
            this.passUp(response);
          } finally {
            // RFC 6026 §8.4: "If Timer M fires while the client transaction is in the "Accepted"
            // state, the client transaction MUST move to the "Terminated" state."
            this.wait('M', this.timerValues.M);
            this.shed();
          }
        } else {
          // "When in either the "Calling" or "Proceeding" states, reception of a response with
          // status code from 300-699 MUST cause the client transaction to transition to
          // "Completed". The client transaction MUST pass the received response up to the TU, and
          // the client transaction MUST generate an ACK request, even if the transport is
          // reliable [...] and then pass the ACK to the transport layer for transmission."
          this.stopTimer('A');
          this.stopTimer('B');
          this.transition('completed');
          this.#sendAck(response);
          try {
            this.passUp(response);
          } finally {
            // "The client transaction SHOULD start timer D when it enters the "Completed" state,
            // with a value of at least 32 seconds for unreliable transports, and a value of zero
            // seconds for reliable transports." "If timer D fires while the client transaction is
            // in the "Completed" state, the client transaction MUST move to the terminated state."
            this.wait('D', this.timerValues.D);
            this.shed();
          }
        }
        return;
      case 'accepted':
        if (status >= 200 && status < 300) {
          // RFC 6026 §8.4: "Any retransmissions of the 2xx response that are received while in the
          // "Accepted" state MUST be passed up to the TU." (Also 2xx from other forks.)
          this.passUp(response);
        } else {
          this.absorbed(response);
        }
        return;
      case 'completed':
        if (status >= 300) {
          // "Any retransmissions of the final response that are received while in the "Completed"
          // state MUST cause the ACK to be re-passed to the transport layer for retransmission,
          // but the newly received response MUST NOT be passed up to the TU."
          if (this.#ack) this.transmit(this.#ack, this.target, 'ack');
        }
        this.absorbed(response);
        return;
      default:
        this.absorbed(response);
    }
  }

  #sendAck(response: SipResponse): void {
    // §17.1.1.3 builds the ACK from "the request passed to the transport by the client transaction
    // (call this the "original request")": re-read from the bytes sent, so a TU that reused or
    // changed its request object afterwards cannot skew the ACK.
    const sent = parseMessage(this.wire);
    const original = sent.ok && sent.message.kind === 'request' ? sent.message : this.request;
    this.#ack = buildAckForNon2xx(original, response).toBuffer();
    // "The ACK MUST be sent to the same address, port, and transport to which the original request
    // was sent."
    this.transmit(this.#ack, this.target);
  }
}
