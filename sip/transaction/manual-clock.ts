/**
 * A clock that moves only when told to: tests and simulations run Timer B (32 s) in microseconds.
 * Timers due at the same instant fire in the order they were set.
 */
import type { Clock, TimerHandle } from './timers.js';

interface Scheduled {
  at: number;
  seq: number;
  callback: () => void;
  cancelled: boolean;
}

export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  #timers = new Set<Scheduled>();

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimer(callback: () => void, delayMs: number): TimerHandle {
    const t: Scheduled = { at: this.#now + Math.max(0, delayMs), seq: this.#seq++, callback, cancelled: false };
    this.#timers.add(t);
    return t;
  }

  clearTimer(handle: TimerHandle): void {
    const t = handle as Scheduled;
    t.cancelled = true;
    this.#timers.delete(t);
  }

  /** Number of timers still waiting to fire. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Time at which the next timer fires, or undefined. */
  nextAt(): number | undefined {
    return this.#earliest()?.at;
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due, in time order (timers set by a
   * callback fire too when they fall inside the window). Returns how many fired.
   */
  advance(ms: number, maxFires = 100_000): number {
    const end = this.#now + ms;
    let fired = 0;
    for (;;) {
      const next = this.#earliest();
      if (!next || next.at > end) break;
      if (++fired > maxFires) throw new Error(`ManualClock.advance: more than ${maxFires} timers fired; a timer loop?`);
      this.#timers.delete(next);
      this.#now = next.at;
      next.callback();
    }
    this.#now = end;
    return fired;
  }

  /** Fires timers until none are left (bounded); returns the elapsed time. */
  runAll(maxFires = 100_000): number {
    const start = this.#now;
    let fired = 0;
    for (let next = this.#earliest(); next; next = this.#earliest()) {
      if (++fired > maxFires) throw new Error(`ManualClock.runAll: more than ${maxFires} timers fired; a timer loop?`);
      this.#timers.delete(next);
      this.#now = next.at;
      next.callback();
    }
    return this.#now - start;
  }

  #earliest(): Scheduled | undefined {
    let best: Scheduled | undefined;
    for (const t of this.#timers) {
      if (!best || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t;
    }
    return best;
  }
}
