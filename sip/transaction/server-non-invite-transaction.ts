/**
 * Non-INVITE server transaction: RFC 3261 §17.2.2.
 *
 *   Trying --1xx from TU--> Proceeding --200-699 from TU--> Completed --Timer J--> Terminated
 *   Trying --200-699 from TU--> Completed
 */
import type { SipRequest, SipResponse } from '../message/model.js';
import type { ReceivedFrom, TransportTarget } from '../transport/transport.js';
import { ServerTransaction } from './server-transaction.js';
import type { TransactionContext } from './transaction.js';

export class ServerNonInviteTransaction extends ServerTransaction {
  readonly kind = 'server-non-invite' as const;
  #provisional: Buffer | string | undefined;
  /**
   * The final response's bytes as a latin1 string, one byte per char, kept for 64*T1 on UDP: a
   * Buffer would be a slice of an 8 KiB pool chunk, and thousands of them waiting out Timer J kept
   * thousands of chunks alive (~1.8 KiB each per transaction, measured).
   */
  #final: string | undefined;

  constructor(id: string, request: SipRequest, source: ReceivedFrom, responseTarget: TransportTarget, ctx: TransactionContext) {
    if (request.method === 'INVITE' || request.method === 'ACK') {
      throw new TypeError(`ServerNonInviteTransaction cannot carry ${request.method}`);
    }
    // "The state machine is initialized in the "Trying" state and is passed a request other than
    // INVITE or ACK when initialized."
    super(id, request, source, responseTarget, 'trying', ctx);
  }

  respond(response: SipResponse): boolean {
    const status = response.status;
    switch (this.state) {
      case 'trying':
      case 'proceeding':
        if (status < 200) {
          // "While in the "Trying" state, if the TU passes a provisional response to the server
          // transaction, the server transaction MUST enter the "Proceeding" state. The response
          // MUST be passed to the transport layer for transmission. Any further provisional
          // responses that are received from the TU while in the "Proceeding" state MUST be passed
          // to the transport layer for transmission."
          this.#provisional = this.sendResponse(response);
          this.transition('proceeding');
        } else {
          // "If the TU passes a final response (status codes 200-699) to the server while in the
          // "Proceeding" state, the transaction MUST enter the "Completed" state, and the response
          // MUST be passed to the transport layer for transmission." (Likewise from "Trying".)
          const wire = this.sendResponse(response);
          this.transition('completed');
          // Over UDP the wire is bytes (wireOf); kept as a string, not a slice of an 8 KiB pool.
          if (!this.reliable && typeof wire !== 'string') this.#final = wire.toString('latin1');
          // "When the server transaction enters the "Completed" state, it MUST set Timer J to fire
          // in 64*T1 seconds for unreliable transports, and zero seconds for reliable transports."
          // "The server transaction remains in this state until Timer J fires, at which point it
          // MUST transition to the "Terminated" state."
          this.wait('J', this.timerValues.J);
          this.shed();
        }
        return true;
      default:
        // "Any other final responses passed by the TU to the server transaction MUST be discarded
        // while in the "Completed" state."
        return false;
    }
  }

  receiveRequest(request: SipRequest): void {
    switch (this.state) {
      case 'trying':
        // "Once in the "Trying" state, any further request retransmissions are discarded."
        break;
      case 'proceeding':
        // "If a retransmission of the request is received while in the "Proceeding" state, the
        // most recently sent provisional response MUST be passed to the transport layer for
        // retransmission."
        if (this.#provisional) this.transmit(this.#provisional, this.responseTarget, 'response');
        break;
      case 'completed':
        // "While in the "Completed" state, the server transaction MUST pass the final response to
        // the transport layer for retransmission whenever a retransmission of the request is
        // received."
        if (this.#final !== undefined) this.transmit(Buffer.from(this.#final, 'latin1'), this.responseTarget, 'response');
        break;
    }
    this.absorbed(request);
  }
}
