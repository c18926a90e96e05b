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
  /**
   * Cells by label value, one Map level per label name (the last level holds the cells): a look-up
   * is one hash of each value, where a key built from all of them was a new string to flatten and
   * hash on every inc().
   */
  readonly #tree = new Map<unknown, unknown>();
  readonly #cells: Cell<T>[] = [];
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
    const values = labels as Record<string, unknown>;
    const cell = this.#level(values, false)?.get(this.#lastValue(values)) as Cell<T> | undefined;
    if (cell === undefined) return this.#first(labels, n);
    cell.n += n;
  }

  /** The first time a combination is seen prom-client checks its labels (and throws on a bad one). */
  #first(labels: LabelValues<T>, n: number): void {
    this.#promInc(labels, 0);
    const values = labels as Record<string, unknown>;
    const cell: Cell<T> = { labels: { ...labels }, n };
    this.#level(values, true)!.set(this.#lastValue(values), cell);
    this.#cells.push(cell);
  }

  /** The Map holding the cells of these values' combination; undefined when not seen yet, unless `create`. */
  #level(values: Record<string, unknown>, create: boolean): Map<unknown, unknown> | undefined {
    const names = this.#names;
    let level = this.#tree;
    for (let i = 0; i < names.length - 1; i++) {
      const value = values[names[i]!];
      let next = level.get(value) as Map<unknown, unknown> | undefined;
      if (next === undefined) {
        if (!create) return undefined;
        level.set(value, (next = new Map()));
      }
      level = next;
    }
    return level;
  }

  /** The value of the last label name: the key of a cell in its level. */
  #lastValue(values: Record<string, unknown>): unknown {
    const names = this.#names;
    return names.length === 0 ? undefined : values[names[names.length - 1]!];
  }

  /** Hands the counts taken since the last read to prom-client. */
  flush(): void {
    const u = this.#unlabelled;
    if (u.n > 0) {
      this.#promInc(u.n);
      u.n = 0;
    }
    for (const cell of this.#cells) {
      if (cell.n === 0) continue;
      this.#promInc(cell.labels, cell.n);
      cell.n = 0;
    }
  }

  override reset(): void {
    // prom-client's constructor resets too, before this class's fields exist.
    if (#cells in this) {
      for (const cell of this.#cells) cell.n = 0;
      this.#unlabelled.n = 0;
    }
    super.reset();
  }
}
