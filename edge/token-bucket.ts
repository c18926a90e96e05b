/**
 * A token bucket: `rate` tokens a second, holding at most `burst`. One per connection and one per
 * remote IP, so a flooding browser is slowed down without touching its neighbours. Time is passed
 * in (milliseconds) so tests need no clock.
 */
export class TokenBucket {
  readonly rate: number;
  readonly burst: number;
  #tokens: number;
  #at: number;

  constructor(rate: number, burst: number, now: number) {
    if (!(rate > 0) || !(burst >= 1)) throw new TypeError('rate must be > 0 and burst >= 1');
    this.rate = rate;
    this.burst = burst;
    this.#tokens = burst;
    this.#at = now;
  }

  /** Takes one token if there is one. */
  take(now: number): boolean {
    const elapsed = now - this.#at;
    if (elapsed > 0) {
      this.#tokens = Math.min(this.burst, this.#tokens + (elapsed * this.rate) / 1000);
      this.#at = now;
    }
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
