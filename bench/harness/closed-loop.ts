/**
 * What the in-process harnesses (bench/core/register-harness.ts, bench/edge/register-harness.ts)
 * share: a closed loop of UAs whose rounds measure this process's CPU per answered request, the
 * harness's environment settings, and loading the node of another checkout's build to compare with.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const ROUND_TIMEOUT_MS = 120_000;

/**
 * `uas` requests in flight, one per UA; each answer sends that UA's next. Subclasses write the
 * requests (`send`) and report each matched answer (`answered`) or a wrong one (`fail`).
 */
export abstract class ClosedLoop {
  readonly uas: number;
  #answered = 0;
  #sent = 0;
  #target = 0;
  #done: ((err?: Error) => void) | undefined;

  protected constructor(uas: number) {
    this.uas = uas;
  }

  /** CPU of this process per request (µs) over `n` answered requests. */
  async round(n: number): Promise<number> {
    this.#target = this.#answered + n;
    const finished = new Promise<void>((resolve, reject) => (this.#done = (err) => (err ? reject(err) : resolve())));
    const timer = setTimeout(() => this.fail(new Error(`the round did not finish in ${ROUND_TIMEOUT_MS / 1000} s`)), ROUND_TIMEOUT_MS);
    const before = process.cpuUsage();
    for (let ua = 0; ua < this.uas && this.#sent < this.#target; ua++) this.#next(ua);
    try {
      await finished;
    } finally {
      clearTimeout(timer);
      this.#done = undefined;
    }
    const cpu = process.cpuUsage(before);
    return (cpu.user + cpu.system) / n;
  }

  abstract close(): void;

  /** Writes UA `ua`'s next request. */
  protected abstract send(ua: number): void;

  /** UA `ua`'s request was answered as it should be: its next one goes out while the round lasts. */
  protected answered(ua: number): void {
    this.#answered++;
    if (this.#answered >= this.#target) this.#done?.();
    else if (this.#sent < this.#target) this.#next(ua);
  }

  /** Ends the round in error: an answer that does not match is never counted as done. */
  protected fail(err: Error): void {
    this.#done?.(err);
  }

  #next(ua: number): void {
    this.#sent++;
    this.send(ua);
  }
}

/** A positive integer from the environment, or `fallback`. */
export function envCount(name: string, fallback: number): number {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${name} must be a positive integer, not ${process.env[name]}`);
  return v;
}

/** The middle element of a sorted list. */
export function median(sorted: number[]): number {
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** A module of another checkout's build (its dist/ directory), with what to do when it is not there. */
export async function importBuild(dist: string, file: string): Promise<Record<string, unknown>> {
  try {
    return (await import(pathToFileURL(join(dist, file)).href)) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`cannot load the baseline's ${file} from ${dist} (${(err as Error).message}); build that checkout first (npx tsc -p tsconfig.build.json)`);
  }
}

/** Every round's figures of a node (sorted, µs per request) and what it costs above the floor. */
export interface FloorComparison {
  /** This build's node, every round, sorted. */
  mine: number[];
  /** The floor (the same sockets and clients, no SIP), every round, sorted. */
  floor: number[];
  /** Median of `mine` − median of `floor`: the node's SIP work per request. */
  work: number;
  /** With a baseline build: its figures, its SIP work, and the median of (mine − baseline) per round. */
  baseline?: { mine: number[]; work: number; difference: number };
}

/**
 * Rounds of `count` requests against each target: this build's node, a baseline build's (when
 * given) and the floor, after an unmeasured warm-up of each. The two nodes swap places every round
 * and the floor closes each, so each node follows the floor as often as the other (whatever ran
 * just before leaves the CPU caches and V8's inline caches tuned to itself; a fixed order measured
 * the second node up to 10 µs slower), and their difference is taken within each round, so a drift
 * of the machine during the run cancels out.
 */
export async function compareWithFloor(
  targets: { mine: ClosedLoop; baseline?: ClosedLoop | undefined; floor: ClosedLoop },
  o: { runs: number; count: number; warmup: { node: number; floor: number } },
): Promise<FloorComparison> {
  type Name = 'mine' | 'baseline' | 'floor';
  const names = (['mine', 'baseline', 'floor'] as const).filter((n) => targets[n] !== undefined);
  for (const n of names) await targets[n]!.round(n === 'floor' ? o.warmup.floor : o.warmup.node);
  const figures: Record<Name, number[]> = { mine: [], baseline: [], floor: [] };
  const differences: number[] = [];
  for (let i = 0; i < o.runs; i++) {
    const order: Name[] = i % 2 === 0 ? ['mine', 'baseline', 'floor'] : ['baseline', 'mine', 'floor'];
    for (const name of order) {
      const loop = targets[name];
      if (loop !== undefined) figures[name].push(await loop.round(o.count));
    }
    if (targets.baseline) differences.push(figures.mine[i]! - figures.baseline[i]!);
  }
  const round2 = (v: number): number => Math.round(v * 100) / 100;
  const sorted = (v: number[]): number[] => [...v].sort((a, b) => a - b);
  const floorMedian = median(sorted(figures.floor));
  return {
    mine: sorted(figures.mine).map(round2),
    floor: sorted(figures.floor).map(round2),
    work: round2(median(sorted(figures.mine)) - floorMedian),
    ...(targets.baseline
      ? { baseline: { mine: sorted(figures.baseline).map(round2), work: round2(median(sorted(figures.baseline)) - floorMedian), difference: round2(median(sorted(differences))) } }
      : {}),
  };
}
