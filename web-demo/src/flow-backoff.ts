/**
 * How long to wait before the next attempt to rebuild a failed flow. Pure, so the page and the
 * unit tests share it.
 *
 * RFC 5626 §4.5: "wait-time = min(max-time, (base-time * (2 ^ consecutive-failures)))" and the UA
 * waits "a random number between 50% and 100% of wait-time". The RFC's base-time (30 s when every
 * flow failed) suits a phone that can sit unregistered for a while; a browser tab that just lost
 * its edge has other edges to try at once, so the first attempt is immediate (another edge of the
 * list) and the exponent only grows when edges keep failing.
 */
export interface BackoffOptions {
  /** base-time, ms. */
  baseMs: number;
  /** max-time, ms. */
  maxMs: number;
  /** Attempts made at once before waiting starts (one per other edge). */
  immediate: number;
  /** [0, 1) source; Math.random by default. */
  random?: () => number;
}

export class FlowBackoff {
  readonly #o: Required<BackoffOptions>;
  #failures = 0;

  constructor(o: BackoffOptions) {
    if (!(o.baseMs > 0) || !(o.maxMs >= o.baseMs) || !(o.immediate >= 0)) throw new RangeError('need 0 < baseMs <= maxMs and immediate >= 0');
    this.#o = { random: Math.random, ...o };
  }

  /** Consecutive failed attempts since the last success. */
  get failures(): number {
    return this.#failures;
  }

  /** Delay before the next attempt, ms; counts that attempt as failed until success() is called. */
  next(): number {
    const n = this.#failures++;
    if (n < this.#o.immediate) return 0;
    const exp = Math.min(30, n - this.#o.immediate);
    const wait = Math.min(this.#o.maxMs, this.#o.baseMs * 2 ** exp);
    return Math.round(wait * (0.5 + 0.5 * this.#o.random()));
  }

  success(): void {
    this.#failures = 0;
  }
}
