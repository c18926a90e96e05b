/** Latency samples in milliseconds: a growable Float64Array, bounded, cheap to move between threads. */

/** 4 M samples (32 MiB) at most; past that, samples are dropped and counted. */
const MAX_SAMPLES = 1 << 22;

export class LatencyRecorder {
  #samples = new Float64Array(4096);
  #n = 0;
  dropped = 0;

  add(ms: number): void {
    if (this.#n === this.#samples.length) {
      if (this.#n >= MAX_SAMPLES) {
        this.dropped++;
        return;
      }
      const bigger = new Float64Array(Math.min(this.#samples.length * 2, MAX_SAMPLES));
      bigger.set(this.#samples);
      this.#samples = bigger;
    }
    this.#samples[this.#n++] = ms;
  }

  get count(): number {
    return this.#n;
  }

  /** A copy of the samples (transferable). */
  snapshot(): Float64Array {
    return this.#samples.slice(0, this.#n);
  }

  reset(): void {
    this.#n = 0;
    this.dropped = 0;
  }
}

export interface LatencySummary {
  n: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentiles over one or more sample sets. */
export function summarize(parts: Float64Array[]): LatencySummary {
  const n = parts.reduce((s, p) => s + p.length, 0);
  if (n === 0) return { n: 0, p50: NaN, p99: NaN, max: NaN, mean: NaN };
  const all = new Float64Array(n);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  all.sort();
  let sum = 0;
  for (let i = 0; i < n; i++) sum += all[i]!;
  const rank = (q: number): number => all[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))]!;
  return { n, p50: rank(0.5), p99: rank(0.99), max: all[n - 1]!, mean: sum / n };
}
