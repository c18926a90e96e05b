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
