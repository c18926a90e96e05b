/**
 * A prom-client Histogram without labels for values observed once per message (a core observes
 * every REGISTER's duration). prom-client's observe() costs ~0.4 µs on this machine: a closure,
 * a label object checked and hashed, the bucket looked up by key in a plain object. This one counts
 * in an array by bucket and hands the counts to the Histogram when something reads it (a scrape,
 * get()), as HotCounter does for counters: what is exported is the same, only later.
 *
 * prom-client has no public way to add many observations at once, so the hand-over writes into
 * the Histogram's own record of its buckets (`hashMap`, one entry for a histogram without labels:
 * `bucketValues` by upper bound, `sum`, `count`), as its observe() does. The constructor checks that
 * record has that shape; when a prom-client version keeps it otherwise, every value goes through
 * prom-client's observe() instead: slower, never wrong.
 */
import { Histogram, type HistogramConfiguration } from 'prom-client';

/** The record prom-client 15 keeps for one label combination of a histogram. */
interface BucketRecord {
  bucketValues: Record<string, number>;
  sum: number;
  count: number;
}

/** What of prom-client's Histogram the hand-over reads and writes (not in its typings). */
interface HistogramInternals {
  upperBounds?: unknown;
  hashMap?: Record<string, BucketRecord | undefined>;
}

type PromObserve = (labels: unknown, value?: number) => void;

export class HotHistogram extends Histogram<never> {
  /** Upper bounds in prom-client's order (ascending); empty when values go straight to prom-client. */
  readonly #bounds: number[];
  /** Observations since the last hand-over, by bucket; values past the last bound only in #count. */
  readonly #counts: Float64Array;
  #sum = 0;
  #count = 0;
  readonly #promObserve: PromObserve;

  constructor(config: HistogramConfiguration<never>) {
    if (config.labelNames !== undefined && config.labelNames.length > 0) throw new TypeError(`HotHistogram ${config.name} takes no labels`);
    const own = config.collect;
    super({
      ...config,
      // prom-client calls this (as the metric) before every read.
      collect(this: Histogram<never>) {
        (this as HotHistogram).flush();
        return own?.call(this);
      },
    });
    this.#bounds = HotHistogram.#boundsOf(this as unknown as HistogramInternals);
    this.#counts = new Float64Array(this.#bounds.length);
    this.#promObserve = (this.observe as PromObserve).bind(this);
    this.observe = ((labelsOrValue?: unknown, value?: number) => this.#observe(labelsOrValue, value)) as Histogram<never>['observe'];
  }

  /** prom-client's bounds when its record has the shape the hand-over writes into, else none. */
  static #boundsOf(internals: HistogramInternals): number[] {
    const bounds = internals.upperBounds;
    const record = internals.hashMap?.[''];
    if (!Array.isArray(bounds) || record === undefined || typeof record.sum !== 'number' || typeof record.count !== 'number') return [];
    for (let i = 0; i < bounds.length; i++) {
      if (typeof bounds[i] !== 'number' || typeof record.bucketValues?.[String(bounds[i])] !== 'number' || (i > 0 && bounds[i] <= bounds[i - 1])) return [];
    }
    return [...(bounds as number[])];
  }

  #observe(labelsOrValue: unknown, value: number | undefined): void {
    const bounds = this.#bounds;
    // Anything but a plain finite number (labels, NaN, a histogram prom-client keeps otherwise)
    // goes to prom-client, which records it or says what is wrong.
    if (typeof labelsOrValue !== 'number' || value !== undefined || !Number.isFinite(labelsOrValue) || bounds.length === 0) {
      return this.#promObserve(labelsOrValue, value);
    }
    this.#sum += labelsOrValue;
    this.#count++;
    for (let i = 0; i < bounds.length; i++) {
      if (labelsOrValue <= bounds[i]!) {
        this.#counts[i]!++;
        return;
      }
    }
  }

  /** Hands the observations made since the last read to prom-client's record. */
  flush(): void {
    if (this.#count === 0) return;
    const internals = this as unknown as HistogramInternals;
    // reset() empties prom-client's records; zero() makes the one without labels again.
    if (internals.hashMap?.[''] === undefined) this.zero({});
    const record = internals.hashMap!['']!;
    record.sum += this.#sum;
    record.count += this.#count;
    const bounds = this.#bounds;
    for (let i = 0; i < bounds.length; i++) {
      const n = this.#counts[i]!;
      if (n > 0) record.bucketValues[String(bounds[i])]! += n;
    }
    this.#clear();
  }

  #clear(): void {
    this.#counts.fill(0);
    this.#sum = 0;
    this.#count = 0;
  }

  override reset(): void {
    // prom-client's constructor resets too, before this class's fields exist.
    if (#counts in this) this.#clear();
    super.reset();
  }
}
