/**
 * Which core gets a request. Rendezvous (highest-random-weight) hashing of the Call-ID over the
 * usable cores: every request of a call, and every retransmission, lands on the same core while it
 * is healthy, and when one core goes down only its calls move, each to its own next-best core
 * (so a retry after a failure is also deterministic). Probing runs on one interval timer.
 */
import { CoreHealth, type CoreAddress, type CoreHealthState } from './core-health.js';

export interface CorePoolOptions {
  /** Milliseconds between OPTIONS rounds. */
  probeInterval: number;
  /** Failures in a row that mark a core down. */
  failureThreshold: number;
}

/** Sends one probe; resolves true on any response, false on timeout or transport error. Never rejects. */
export type CoreProbe = (core: CoreHealth) => Promise<boolean>;

export class CorePool {
  #cores: readonly CoreHealth[];
  readonly #options: CorePoolOptions;
  readonly #onChange: ((core: CoreHealth, from: CoreHealthState) => void) | undefined;
  readonly #probe: CoreProbe;
  #timer: NodeJS.Timeout | undefined;
  readonly #inFlight = new Set<CoreHealth>();

  constructor(addresses: readonly CoreAddress[], options: CorePoolOptions, probe: CoreProbe,
    onChange?: (core: CoreHealth, from: CoreHealthState) => void) {
    if (addresses.length === 0) throw new TypeError('at least one core is required');
    this.#options = options;
    this.#probe = probe;
    this.#onChange = onChange;
    this.#cores = addresses.map((a) => new CoreHealth(a, options.failureThreshold, onChange));
  }

  get cores(): readonly CoreHealth[] {
    return this.#cores;
  }

  /**
   * SIGHUP: a new list of cores. Cores still listed keep their health and their calls; new ones
   * start as unknown and are probed at once; removed ones take no new requests (transactions
   * already with them finish or fail over as usual).
   */
  setAddresses(addresses: readonly CoreAddress[]): void {
    if (addresses.length === 0) throw new TypeError('at least one core is required');
    const key = (a: CoreAddress) => `${a.host.toLowerCase()}:${a.port}`;
    const old = new Map(this.#cores.map((c) => [key(c.address), c]));
    this.#cores = addresses.map((a) => old.get(key(a)) ?? new CoreHealth(a, this.#options.failureThreshold, this.#onChange));
    if (this.#timer) this.probeAll();
  }

  get healthyCount(): number {
    let n = 0;
    for (const c of this.cores) if (c.state === 'up') n++;
    return n;
  }

  /** The best usable core for `key` not in `exclude`; undefined when none is left. */
  pick(key: string, exclude?: ReadonlySet<CoreHealth>): CoreHealth | undefined {
    let best: CoreHealth | undefined;
    let bestWeight = -1;
    for (const core of this.cores) {
      if (!core.usable || exclude?.has(core)) continue;
      const w = weight(key, core.id);
      if (w > bestWeight) {
        best = core;
        bestWeight = w;
      }
    }
    return best;
  }

  /** The core at this address (for a Route that names a core, or the source of a UDP request). */
  find(host: string, port?: number): CoreHealth | undefined {
    const h = host.toLowerCase();
    return this.cores.find((c) => c.address.host.toLowerCase() === h && (port === undefined || c.address.port === port));
  }

  start(): void {
    if (this.#timer) return;
    this.probeAll();
    this.#timer = setInterval(() => this.probeAll(), this.#options.probeInterval);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One probe round; a core whose previous probe has not finished is skipped, not probed twice. */
  probeAll(): void {
    for (const core of this.cores) {
      if (this.#inFlight.has(core)) continue;
      this.#inFlight.add(core);
      void this.#probe(core).then(
        (ok) => {
          this.#inFlight.delete(core);
          if (this.#timer === undefined) return;
          if (ok) core.success();
          else core.failure();
        },
        () => {
          this.#inFlight.delete(core);
          if (this.#timer !== undefined) core.failure();
        },
      );
    }
  }
}

/** FNV-1a over key and core id, then a murmur3 finaliser so close ids spread well. */
function weight(key: string, coreId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= 0x7c;
  for (let i = 0; i < coreId.length; i++) {
    h ^= coreId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
