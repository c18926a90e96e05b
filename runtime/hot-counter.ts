/**
 * A prom-client Counter for counts taken once per message. prom-client hashes the label object on
 * every inc() (a sorted key string, a label check, a dictionary look-up): at tens of thousands of
 * messages a second that was a few per cent of a node. This one keeps each label combination's
 * count in a plain number and adds it to the Counter when something reads it (a scrape, get());
 * what is exported is the same, only later.
 */
import { Counter, type CounterConfiguration, type LabelValues } from 'prom-client';

interface Cell<T extends string> {
  labels: LabelValues<T>;
  n: number;
}

/** prom-client's own inc(), which its constructor installs on the instance. */
type PromInc<T extends string> = (labels?: LabelValues<T> | number, value?: number) => void;

export class HotCounter<T extends string = string> extends Counter<T> {
  readonly #names: readonly string[];
  readonly #cells = new Map<string, Cell<T>>();
  readonly #unlabelled: Cell<T> = { labels: {}, n: 0 };
  readonly #promInc: PromInc<T>;

  constructor(config: CounterConfiguration<T>) {
    const own = config.collect;
    super({
      ...config,
      // prom-client calls this (as the metric) before every read.
      collect(this: Counter<T>) {
        (this as HotCounter<T>).flush();
        return own?.call(this);
      },
    });
    this.#names = [...(config.labelNames ?? [])];
    this.#promInc = (this.inc as PromInc<T>).bind(this);
    this.inc = ((labels?: LabelValues<T> | number, value?: number) => this.#count(labels, value)) as Counter<T>['inc'];
  }

  #count(labels: LabelValues<T> | number | undefined, value: number | undefined): void {
    if (labels === undefined || typeof labels === 'number') {
      const n = labels ?? 1;
      if (!Number.isFinite(n) || n < 0) return this.#promInc(n); // prom-client says what is wrong
      this.#unlabelled.n += n;
      return;
    }
    const n = value ?? 1;
    if (!Number.isFinite(n) || n < 0) return this.#promInc(labels, n);
    let key = '';
    for (const name of this.#names) key += String((labels as Record<string, unknown>)[name]) + '\0';
    let cell = this.#cells.get(key);
    if (cell === undefined) {
      // The first time a combination is seen prom-client checks its labels (and throws on a bad one).
      this.#promInc(labels, 0);
      cell = { labels: { ...labels }, n: 0 };
      this.#cells.set(key, cell);
    }
    cell.n += n;
  }

  /** Hands the counts taken since the last read to prom-client. */
  flush(): void {
    const u = this.#unlabelled;
    if (u.n > 0) {
      this.#promInc(u.n);
      u.n = 0;
    }
    for (const cell of this.#cells.values()) {
      if (cell.n === 0) continue;
      this.#promInc(cell.labels, cell.n);
      cell.n = 0;
    }
  }

  override reset(): void {
    // prom-client's constructor resets too, before this class's fields exist.
    if (#cells in this) {
      for (const cell of this.#cells.values()) cell.n = 0;
      this.#unlabelled.n = 0;
    }
    super.reset();
  }
}
