/**
 * The wait states' timers (D, I, J, K, L, M): a transaction there only waits out a fixed delay and
 * then terminates, and a proxy has tens of thousands of them at once (Timer J is 32 s on UDP). A
 * timer object, two closures and a map per transaction were most of what each one kept alive, and
 * all of it survives several young-generation collections before it dies.
 *
 * Every transaction entering a wait of the same length on the same clock joins one FIFO: the clock
 * is monotonic and the delay fixed, so deadlines arrive in order and one clock timer, armed for the
 * head, serves the whole queue. A transaction costs one array slot and one unboxed number. An entry
 * whose waiter stops waiting early keeps its slot until it comes up (skipped then), but lets go of
 * the waiter at once when the waiter says which entry is its own (cancel(waiter, deadline)); a
 * queue whose entries have all ended stops its timer.
 */
import type { Clock, TimerHandle } from './timers.js';

/**
 * What waits in a queue. When its entry comes up, waitingUntil() says (without side effects) whether
 * it still waits for that deadline; if so, waitExpired() ends the wait (it may call out and throw).
 */
export interface Waiter {
  waitingUntil(deadline: number): boolean;
  waitExpired(): void;
}

/** Compaction threshold: popped slots are reclaimed once they are this many and half the arrays. */
const COMPACT_AT = 1024;

export class WaitQueue {
  readonly delayMs: number;
  readonly #clock: Clock;
  #waiters: Array<Waiter | undefined> = [];
  /** Parallel to #waiters; numbers only, so V8 keeps them unboxed. */
  #deadlines: number[] = [];
  #head = 0;
  /** Entries whose waiter still waits (added, not yet expired or cancelled). */
  #live = 0;
  #timer: TimerHandle | undefined;
  /** Entries being expired: new ones wait for the re-arm at the end, not a timer of their own. */
  #firing = false;

  constructor(clock: Clock, delayMs: number) {
    this.#clock = clock;
    this.delayMs = delayMs;
  }

  /** Transactions still waiting. */
  get size(): number {
    return this.#live;
  }

  /** Queues a waiter; returns its deadline, which waitingUntil() gets back. */
  add(waiter: Waiter): number {
    const deadline = this.#clock.now() + this.delayMs;
    this.#waiters.push(waiter);
    this.#deadlines.push(deadline);
    this.#live++;
    if (this.#timer === undefined && !this.#firing) this.#arm(deadline);
    return deadline;
  }

  /**
   * A waiter that stopped waiting before its deadline. Given the waiter and the deadline add()
   * returned, its entry lets go of it now instead of when the deadline comes up: an edge's REGISTER
   * relay cancels its 32-s Timer F within milliseconds for nearly every REGISTER, and under a load
   * that never leaves the queue empty (an empty queue starts afresh) entries holding their waiters
   * would keep 32 s of finished REGISTERs alive.
   */
  cancel(waiter?: Waiter, deadline?: number): void {
    if (this.#live === 0) return;
    if (waiter !== undefined && deadline !== undefined) this.#release(waiter, deadline);
    if (--this.#live === 0 && !this.#firing) this.#reset();
  }

  /** Empties the waiter's slot: deadlines are in order (one delay, a monotonic clock), so a binary search finds it. */
  #release(waiter: Waiter, deadline: number): void {
    const deadlines = this.#deadlines;
    const waiters = this.#waiters;
    let lo = this.#head;
    let hi = deadlines.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (deadlines[mid]! < deadline) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < deadlines.length && deadlines[i] === deadline; i++) {
      if (waiters[i] === waiter) {
        waiters[i] = undefined;
        return;
      }
    }
  }

  #arm(deadline: number): void {
    this.#timer = this.#clock.setTimer(() => this.#fire(), Math.max(0, deadline - this.#clock.now()));
  }

  #fire(): void {
    this.#timer = undefined;
    this.#firing = true;
    try {
      this.#expireDue();
    } finally {
      // Also after a waiter threw: the rest of the queue must not be stranded.
      this.#firing = false;
      if (this.#live === 0) this.#reset();
      else {
        this.#compact();
        this.#rearm();
      }
    }
  }

  #expireDue(): void {
    const now = this.#clock.now();
    const waiters = this.#waiters;
    const deadlines = this.#deadlines;
    while (this.#head < waiters.length) {
      const deadline = deadlines[this.#head]!;
      // Real timers may fire a fraction of a millisecond before performance.now() reaches the deadline.
      if (deadline > now) return;
      const waiter = waiters[this.#head];
      waiters[this.#head] = undefined;
      this.#head++;
      if (waiter === undefined || !waiter.waitingUntil(deadline)) continue;
      this.#live--;
      waiter.waitExpired();
    }
  }

  /** Arms the timer for the first entry left (a cancelled head still fires, then is skipped). */
  #rearm(): void {
    if (this.#head < this.#deadlines.length) this.#arm(this.#deadlines[this.#head]!);
  }

  #compact(): void {
    if (this.#head < COMPACT_AT || this.#head * 2 < this.#waiters.length) return;
    this.#waiters = this.#waiters.slice(this.#head);
    this.#deadlines = this.#deadlines.slice(this.#head);
    this.#head = 0;
  }

  #reset(): void {
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer);
    this.#timer = undefined;
    this.#waiters = [];
    this.#deadlines = [];
    this.#head = 0;
    this.#live = 0;
  }
}

const queues = new WeakMap<Clock, Map<number, WaitQueue>>();

/** The queue for one clock and one delay; transactions of every layer on that clock share it. */
export function waitQueue(clock: Clock, delayMs: number): WaitQueue {
  let byDelay = queues.get(clock);
  if (byDelay === undefined) queues.set(clock, (byDelay = new Map()));
  let q = byDelay.get(delayMs);
  if (q === undefined) byDelay.set(delayMs, (q = new WaitQueue(clock, delayMs)));
  return q;
}
