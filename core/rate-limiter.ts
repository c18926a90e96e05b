/**
 * Per-source token buckets for flood protection. The table is bounded: when full, the entry
 * touched longest ago is evicted (a Map keeps insertion order, and a touch re-inserts), so an
 * attacker spraying source ports costs a bounded amount of memory.
 */
export class RateLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #rate: number;
  readonly #burst: number;
  readonly #max: number;
  readonly #now: () => number;

  constructor(opts: { perSecond: number; burst?: number; maxSources?: number; now?: () => number }) {
    this.#rate = opts.perSecond;
    this.#burst = opts.burst ?? opts.perSecond * 2;
    this.#max = opts.maxSources ?? 50_000;
    this.#now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.#buckets.size;
  }

  /** True when the source may send one more message now. */
  take(source: string): boolean {
    const now = this.#now();
    let b = this.#buckets.get(source);
    if (b) {
      b.tokens = Math.min(this.#burst, b.tokens + ((now - b.at) / 1000) * this.#rate);
      b.at = now;
      this.#buckets.delete(source);
    } else {
      b = { tokens: this.#burst, at: now };
      if (this.#buckets.size >= this.#max) this.#buckets.delete(this.#buckets.keys().next().value!);
    }
    this.#buckets.set(source, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}
