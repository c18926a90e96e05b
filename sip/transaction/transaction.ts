/**
 * What the four RFC 3261 §17 state machines share: identity, state, named timers on an injected
 * clock, and sending through the transport with failures turned into a state-machine event.
 * "The client transaction MUST be destroyed the instant it enters the "Terminated" state": entering
 * Terminated clears every timer and tells the owner (the layer) to drop the transaction.
 */
import type { SipMessage, SipRequest } from '../message/model.js';
import type { TransportTarget } from '../transport/transport.js';
import type { RetransmissionKind, TransactionObserver } from './transaction-observer.js';
import type { TransactionKind, TransactionState } from './transaction-state.js';
import { timerValues, type Clock, type TimerHandle, type TimerSettings, type TimerValues } from './timers.js';
import { waitQueue, type WaitQueue } from './wait-queue.js';
import { parseMessage } from '../message/parser.js';

/** Names of the timers a transaction may run; 'Trying' is the 200 ms 100-Trying timer. */
export type TimerName = 'A' | 'B' | 'D' | 'E' | 'F' | 'G' | 'H' | 'I' | 'J' | 'K' | 'L' | 'M' | 'Trying';

/** Everything a transaction needs from its owner. */
export interface TransactionContext {
  readonly clock: Clock;
  readonly timers: TimerSettings;
  /** Hands bytes (or text, see wireOf) to the transport; may throw or reject, both become a transport error. */
  send(data: Buffer | string, target: TransportTarget): Promise<void> | void;
  readonly observer?: TransactionObserver;
}

/**
 * What a transaction hands the transport for a message. Over a reliable transport, its text where
 * it has one: a stream writes the texts of one event-loop turn as one string, and nothing is ever
 * re-sent there. Otherwise the bytes, which retransmissions repeat exactly.
 */
export function wireOf(message: SipMessage, reliable: boolean): Buffer | string {
  return reliable ? (message.toText() ?? message.toBuffer()) : message.toBuffer();
}

export abstract class Transaction {
  abstract readonly kind: TransactionKind;
  /** The matching key (see transaction-key.ts); unique among live transactions of one side. */
  readonly id: string;
  /**
   * The request that created the transaction. Treat it as read-only: a proxy forwards a copy
   * (RFC 3261 §16.6 "Make a copy of the received request"), RFC 2543 matching and responses rely on it.
   * Once the transaction only waits out retransmissions (see shed()) this is the request's skeleton:
   * start line, Via, From, To, Call-ID and CSeq, parsed again from its text when first asked for.
   */
  get request(): SipRequest {
    return (this.#request ??= reviveSkeleton(this.#dormant!));
  }
  #request: SipRequest | undefined;
  /** The skeleton's text while nothing has asked for the request since shed(). */
  #dormant: string | undefined;
  /** shed() ran: the request is a skeleton (or its text) from then on. */
  #shed = false;
  /** RFC 3261 §17: retransmit timers only on unreliable transports, zero wait states on reliable. */
  readonly reliable: boolean;
  protected readonly ctx: TransactionContext;
  protected readonly timerValues: TimerValues;
  #state: TransactionState;
  /** Exists while a timer runs: one answered over a reliable transport never needs one, a waiting one no longer does. */
  #timers: Map<TimerName, TimerHandle> | undefined;
  /** The wait state's timer, when one runs (see wait()). */
  #waitName: TimerName | undefined;
  #waitQueue: WaitQueue | undefined;
  #waitDeadline = 0;
  /** Created on the first listener; most transactions have none. */
  #listeners: Array<(state: TransactionState, from: TransactionState) => void> | undefined;

  protected constructor(id: string, request: SipRequest, reliable: boolean, initial: TransactionState, ctx: TransactionContext) {
    this.id = id;
    this.#request = request;
    this.reliable = reliable;
    this.ctx = ctx;
    this.timerValues = timerValues(ctx.timers, reliable);
    this.#state = initial;
  }

  get state(): TransactionState {
    return this.#state;
  }

  get terminated(): boolean {
    return this.#state === 'terminated';
  }

  /** Listens for state changes (not called for the initial state). */
  onStateChange(listener: (state: TransactionState, from: TransactionState) => void): void {
    (this.#listeners ??= []).push(listener);
  }

  /**
   * Ends the transaction at once without telling the TU (shutdown). Timers stop; the owner drops it.
   */
  dispose(): void {
    if (this.#state !== 'terminated') this.transition('terminated');
  }

  protected transition(to: TransactionState): void {
    const from = this.#state;
    if (from === to || from === 'terminated') return;
    this.#state = to;
    if (to === 'terminated') {
      this.#clearAllTimers();
      this.#leaveWait()?.cancel(this, this.#waitDeadline);
    }
    this.ctx.observer?.onStateChange?.(this, from, to);
    const listeners = this.#listeners;
    if (listeners) for (const l of listeners) l(to, from);
    if (to === 'terminated') {
      this.#listeners = undefined;
      this.onTerminated();
      this.retire();
    }
  }

  /**
   * Terminated: what is left of the transaction is dropped by its owner, but not at once by V8. The
   * tables transactions pass through (by key, by core, by flow) are Maps and Sets that outgrow and
   * rehash their hash tables thousands of times a second, and V8 leaves each outgrown table in the
   * old generation until the next full collection, still pointing at the entries it held: a
   * transaction that had been in one survives every scavenge until then, and with it everything it
   * refers to. So it lets go of its request (parsed headers, caches, body) here, keeping only the
   * skeleton text for anyone who still asks. Measured on a core answering REGISTER over TCP: a
   * sixth of the young generation was promoted at every scavenge before, nothing after.
   */
  protected retire(): void {
    this.shed();
  }

  /**
   * Called when the state machine has nothing left to do but resend or absorb retransmissions
   * (Completed, Confirmed, Accepted): the full request (parsed headers, body, caches) is dropped
   * for its skeleton. The wait lasts up to 64*T1; a proxy at thousands of requests per second would
   * otherwise keep a few KiB per transaction alive that long, and the young-generation collector
   * copies every one of them before it can die.
   */
  protected shed(): void {
    if (this.#request === undefined || this.#shed) return;
    this.#shed = true;
    const text = this.#request.skeletonText();
    if (text === undefined) {
      this.#request = this.#request.skeleton();
    } else {
      this.#dormant = text;
      this.#request = undefined;
    }
  }

  /** Hook for subclasses to tell their TU delegate. */
  protected onTerminated(): void {}

  /** Starts (or restarts) a named timer. A zero delay still goes through the clock. */
  protected startTimer(name: TimerName, delayMs: number, fire: () => void): void {
    if (this.#state === 'terminated') return;
    this.stopTimer(name);
    const handle = this.ctx.clock.setTimer(() => {
      this.#forget(name);
      if (this.#state !== 'terminated') fire();
    }, delayMs);
    (this.#timers ??= new Map()).set(name, handle);
  }

  /** Drops a timer's entry, and the map once it is empty: a waiting transaction would keep its table. */
  #forget(name: TimerName): void {
    const timers = this.#timers;
    if (timers === undefined) return;
    timers.delete(name);
    if (timers.size === 0) this.#timers = undefined;
  }

  /**
   * A wait state's timer (D, I, J, K, L, M): the transaction terminates when it fires, and nothing
   * else happens in between but absorbing or resending retransmissions. "Zero seconds for reliable
   * transports" means the transition happens now, synchronously, without a timer round trip;
   * otherwise the transaction joins the shared queue for that delay (wait-queue.ts) instead of
   * holding a timer of its own.
   */
  protected wait(name: TimerName, delayMs: number): void {
    if (this.#state === 'terminated') return;
    if (delayMs <= 0) {
      this.transition('terminated');
      return;
    }
    this.#leaveWait()?.cancel(this, this.#waitDeadline);
    const queue = waitQueue(this.ctx.clock, delayMs);
    this.#waitName = name;
    this.#waitQueue = queue;
    this.#waitDeadline = queue.add(this);
  }

  /** @internal (WaitQueue) whether this transaction still waits for that deadline. */
  waitingUntil(deadline: number): boolean {
    return this.#waitQueue !== undefined && this.#waitDeadline === deadline;
  }

  /** @internal (WaitQueue) the wait is over: Terminated. */
  waitExpired(): void {
    this.#leaveWait();
    this.transition('terminated');
  }

  /** Clears the wait and returns the queue it was in, for the caller to cancel or not. */
  #leaveWait(): WaitQueue | undefined {
    const queue = this.#waitQueue;
    this.#waitQueue = undefined;
    this.#waitName = undefined;
    return queue;
  }

  protected stopTimer(name: TimerName): void {
    const h = this.#timers?.get(name);
    if (h !== undefined) {
      this.ctx.clock.clearTimer(h);
      this.#forget(name);
    }
  }

  /** For tests and diagnostics: which timers are running. */
  get runningTimers(): TimerName[] {
    const names = this.#timers ? [...this.#timers.keys()] : [];
    if (this.#waitName !== undefined) names.push(this.#waitName);
    return names;
  }

  #clearAllTimers(): void {
    const timers = this.#timers;
    if (timers === undefined) return;
    for (const h of timers.values()) this.ctx.clock.clearTimer(h);
    this.#timers = undefined;
  }

  /**
   * Passes bytes to the transport. A failure arriving later is ignored when the transaction has
   * terminated meanwhile; otherwise it becomes onTransportFailure (§17.1.4, §17.2.4).
   */
  protected transmit(data: Buffer | string, target: TransportTarget, retransmission?: RetransmissionKind): void {
    if (retransmission) this.ctx.observer?.onRetransmit?.(this, retransmission);
    let pending: Promise<void> | void;
    try {
      pending = this.ctx.send(data, target);
    } catch (err) {
      this.#failed(err);
      return;
    }
    if (pending) pending.then(undefined, (err: unknown) => this.#failed(err));
  }

  #failed(err: unknown): void {
    if (this.#state === 'terminated') return;
    const error = err instanceof Error ? err : new Error(String(err));
    this.ctx.observer?.onTransportError?.(this, error);
    this.onTransportFailure(error);
  }

  protected absorbed(message: SipMessage): void {
    this.ctx.observer?.onAbsorb?.(this, message);
  }

  protected timedOut(): void {
    this.ctx.observer?.onTimeout?.(this);
  }

  protected abstract onTransportFailure(error: Error): void;
}

/** Limits are for what arrives from the network; this text was written from a message already accepted. */
const NO_LIMITS = { maxMessageBytes: Number.MAX_SAFE_INTEGER, maxHeaders: Number.MAX_SAFE_INTEGER, maxLineLength: Number.MAX_SAFE_INTEGER };

/** The request back from its skeleton text (Transaction.shed()). */
function reviveSkeleton(text: string): SipRequest {
  const parsed = parseMessage(text, NO_LIMITS);
  // The text was written from a parsed request's own start line and header lines.
  if (!parsed.ok || parsed.message.kind !== 'request') throw new Error(`transaction skeleton does not parse: ${parsed.ok ? 'not a request' : parsed.error.message}`);
  return parsed.message;
}
