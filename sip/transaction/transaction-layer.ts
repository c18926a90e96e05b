/**
 * The transaction layer (RFC 3261 §17): owns the client and server transaction tables, takes every
 * message the transports deliver, hands it to the matching transaction or up to the transaction
 * user, and creates client transactions for the TU. Transactions leave the tables the moment they
 * terminate.
 */
import { createResponse } from '../message/factory.js';
import { isSipParseError, SipParseError } from '../message/errors.js';
import type { SipMessage, SipRequest, SipResponse } from '../message/model.js';
import { responseTarget } from '../transport/response-target.js';
import type { Outgoing, ReceivedFrom, TransportTarget } from '../transport/transport.js';
import { ClientInviteTransaction } from './client-invite-transaction.js';
import { ClientNonInviteTransaction } from './client-non-invite-transaction.js';
import type { ClientTransactionDelegate } from './client-transaction-delegate.js';
import type { ClientTransaction } from './client-transaction.js';
import { TransactionError } from './errors.js';
import { ServerInviteTransaction, type TryingPolicy } from './server-invite-transaction.js';
import { ServerNonInviteTransaction } from './server-non-invite-transaction.js';
import type { ServerTransaction } from './server-transaction.js';
import { systemClock, resolveTimerSettings, type Clock, type TimerSettings } from './timers.js';
import { branchOf, clientKey, isRfc3261Branch, serverKey } from './transaction-key.js';
import type { Via } from '../grammar/via.js';
import { TransactionMatcher } from './transaction-matcher.js';
import { channels, emptyStats, type TransactionObserver, type TransactionStats } from './transaction-observer.js';
import type { Transaction, TransactionContext } from './transaction.js';
import type { TransactionUser } from './transaction-user.js';

/** What the layer sends through: a Transport or a TransportSet. */
export interface MessageSender {
  send(message: Outgoing, target: TransportTarget): Promise<void> | void;
}

export interface TransactionLayerOptions {
  transport: MessageSender;
  user: TransactionUser;
  /** Defaults to the real clock; tests pass a ManualClock. */
  clock?: Clock;
  /** T1, T2, T4 and Timer D overrides. */
  timers?: Partial<TimerSettings>;
  /** 100 Trying for INVITE server transactions; default 'auto' (immediate on UDP, deferred on reliable transports). */
  trying?: TryingPolicy;
  observer?: TransactionObserver;
}

export class TransactionLayer {
  readonly stats: TransactionStats = emptyStats();
  readonly timers: TimerSettings;
  readonly #matcher = new TransactionMatcher();
  readonly #transport: MessageSender;
  readonly #user: TransactionUser;
  readonly #trying: TryingPolicy;
  readonly #userObserver: TransactionObserver | undefined;
  readonly #ctx: TransactionContext;
  #closed = false;

  constructor(options: TransactionLayerOptions) {
    this.#transport = options.transport;
    this.#user = options.user;
    this.#trying = options.trying ?? 'auto';
    this.#userObserver = options.observer;
    this.timers = resolveTimerSettings(options.timers);
    const transport = this.#transport;
    this.#ctx = {
      clock: options.clock ?? systemClock,
      timers: this.timers,
      send: (data, target) => transport.send(data, target),
      observer: this.#observer(),
    };
  }

  /** Live transactions per side; both 0 once everything has terminated. */
  get size(): { client: number; server: number } {
    return { client: this.#matcher.clientCount, server: this.#matcher.serverCount };
  }

  /** Entry point for the transports (TransportHandler.onMessage). */
  receive(message: SipMessage, source: ReceivedFrom): void {
    if (this.#closed) return;
    try {
      if (message.kind === 'response') this.#receiveResponse(message, source);
      else this.#receiveRequest(message, source);
    } catch (err) {
      if (!(err instanceof MalformedMessage)) throw err;
      this.stats.malformed++;
      this.#user.onMalformed?.(message, err.cause as Error, source);
    }
  }

  /**
   * Starts a client transaction. The request must carry its top Via with a magic-cookie branch
   * (the TU owns Via: it knows its sent-by). ACK is not a transaction: send it with `send()`.
   */
  sendRequest(request: SipRequest, target: TransportTarget, delegate: ClientTransactionDelegate = {}): ClientTransaction {
    if (this.#closed) throw new TransactionError('SIP_TRANSACTION_LAYER_CLOSED', 'transaction layer is closed');
    if (request.method === 'ACK') throw new TypeError('ACK is not sent in a transaction; use send()');
    const branch = branchOf(request.topVia);
    if (!isRfc3261Branch(branch)) throw new TypeError('request needs a top Via with a branch starting with z9hG4bK');
    const id = clientKey(branch, request.method);
    if (this.#matcher.hasClient(id)) {
      throw new TransactionError('SIP_TRANSACTION_EXISTS', `a client transaction for branch ${branch} and ${request.method} exists`);
    }
    const tx: ClientTransaction =
      request.method === 'INVITE'
        ? new ClientInviteTransaction(id, request, target, this.#ctx, delegate)
        : new ClientNonInviteTransaction(id, request, target, this.#ctx, delegate);
    this.#matcher.addClient(tx);
    this.#created(tx);
    tx.start();
    return tx;
  }

  /**
   * Sends outside any transaction: the ACK for a 2xx, a stateless response, a stateless forward.
   * The promise rejects with the transport's error; callers must handle it.
   */
  send(message: Outgoing, target: TransportTarget): Promise<void> {
    try {
      return Promise.resolve(this.#transport.send(message, target));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** §9.2: the INVITE server transaction a CANCEL cancels, if it still exists. */
  findInviteForCancel(cancel: SipRequest): ServerInviteTransaction | undefined {
    try {
      return this.#matcher.matchCancel(cancel);
    } catch (err) {
      if (isSipParseError(err)) return undefined;
      throw err;
    }
  }

  /** Ends every transaction (timers stop, TUs get onTerminated) and refuses new work. */
  close(): void {
    this.#closed = true;
    for (const tx of [...this.#matcher.all()]) tx.dispose();
  }

  #receiveResponse(response: SipResponse, source: ReceivedFrom): void {
    const tx = guard(() => this.#matcher.matchResponse(response));
    if (tx) {
      tx.receiveResponse(response);
      return;
    }
    this.stats.strayResponses++;
    this.#user.onStrayResponse?.(response, source);
  }

  #receiveRequest(request: SipRequest, source: ReceivedFrom): void {
    let topVia: Via;
    let key: string | undefined;
    try {
      // Everything matching and the response need; parsed now so a bad header cannot surface
      // halfway through creating a transaction.
      const via = request.topVia;
      if (!via) throw new SipParseError('MISSING_HEADER', 'Missing Via Header', 'Via');
      void request.uri;
      void request.callId;
      void request.from;
      void request.to;
      if (request.cseq.method !== request.method) throw new SipParseError('BAD_CSEQ', 'CSeq Method Mismatch', 'CSeq');
      topVia = via;
      // §17.2.3: the key is found once and used for matching, the new transaction's id and the table.
      key = serverKey(via, request.method);
    } catch (err) {
      throw malformed(err);
    }

    if (request.method === 'ACK') {
      const tx = guard(() => this.#matcher.matchRequest(request, key));
      if (tx instanceof ServerInviteTransaction) {
        if (tx.receiveAck(request) === 'to-tu') this.#user.onAck?.(request, source, tx);
        return;
      }
      // The ACK for a 2xx has its own branch (it is its own transaction, end-to-end): up to the TU.
      this.stats.strayAcks++;
      this.#user.onAck?.(request, source, undefined);
      return;
    }

    // With a key, matching is one table look-up; without one (RFC 2543) it reads headers that may not parse.
    const existing = key !== undefined ? this.#matcher.matchRequest(request, key) : guard(() => this.#matcher.matchRequest(request));
    if (existing) {
      existing.receiveRequest(request);
      return;
    }

    const id = key ?? guard(() => this.#matcher.serverIdFor(request));
    const target = responseTarget(topVia, source);
    const tx: ServerTransaction =
      request.method === 'INVITE'
        ? new ServerInviteTransaction(id, request, source, target, this.#ctx, this.#trying)
        : new ServerNonInviteTransaction(id, request, source, target, this.#ctx);
    this.#matcher.addServer(tx, key !== undefined);
    this.#created(tx);
    if (tx instanceof ServerInviteTransaction) tx.start();
    try {
      this.#user.onRequest(request, tx);
    } catch (err) {
      // A TU that throws would leave the transaction in Proceeding forever: answer for it.
      if (tx.state === 'proceeding' || tx.state === 'trying') tx.respond(createResponse(request, 500, undefined, { toTag: true }));
      throw err;
    }
  }

  #created(tx: Transaction): void {
    this.stats.created[tx.kind]++;
    this.#userObserver?.onCreated?.(tx);
    if (channels.created.hasSubscribers) channels.created.publish({ tx });
  }

  /** The observer every transaction reports to: counts, diagnostics_channel, the user's observer, table cleanup. */
  #observer(): TransactionObserver {
    const stats = this.stats;
    const user = this.#userObserver;
    const matcher = this.#matcher;
    return {
      onStateChange: (tx, from, to) => {
        if (to === 'terminated') {
          stats.terminated[tx.kind]++;
          if (tx.kind === 'client-invite' || tx.kind === 'client-non-invite') matcher.removeClient(tx as ClientTransaction);
          else matcher.removeServer(tx as ServerTransaction);
        }
        if (channels.state.hasSubscribers) channels.state.publish({ tx, from, to });
        user?.onStateChange?.(tx, from, to);
      },
      onRetransmit: (tx, what) => {
        stats.retransmissionsSent++;
        if (channels.retransmit.hasSubscribers) channels.retransmit.publish({ tx, what });
        user?.onRetransmit?.(tx, what);
      },
      onAbsorb: (tx, message) => {
        stats.retransmissionsAbsorbed++;
        if (channels.absorbed.hasSubscribers) channels.absorbed.publish({ tx, message });
        user?.onAbsorb?.(tx, message);
      },
      onTimeout: (tx) => {
        stats.timeouts++;
        if (channels.timeout.hasSubscribers) channels.timeout.publish({ tx });
        user?.onTimeout?.(tx);
      },
      onTransportError: (tx, error) => {
        stats.transportErrors++;
        if (channels.transportError.hasSubscribers) channels.transportError.publish({ tx, error });
        user?.onTransportError?.(tx, error);
      },
    };
  }
}

/** Marks a header parse failure found while matching, so receive() can tell it from a TU bug. */
class MalformedMessage extends Error {}

function guard<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw malformed(err);
  }
}

/** A header parse failure becomes MalformedMessage; anything else is a bug and stays as it is. */
function malformed(err: unknown): unknown {
  return isSipParseError(err) ? new MalformedMessage(err.message, { cause: err }) : err;
}
