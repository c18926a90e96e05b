/**
 * The location store in process memory: for a single core, unit tests, and as the reference the
 * Cassandra store is tested against (both run test/core/location/store-suite.ts). Expiry works like
 * the Cassandra TTLs: reads filter expired bindings, and a coarse, unref()ed timer sweeps a bounded
 * number of AORs per tick so memory is reclaimed without ever blocking the event loop for long.
 */
import { ownCopy } from '../../sip/message/own-copy.js';
import { LocationStoreError, type Binding, type LocationStore, type Subscriber } from './location-store.js';

export interface MemoryLocationStoreOptions {
  /** Clock, ms since the epoch; tests may inject one. */
  now?: () => number;
  /** How often the sweeper runs; default 30 s. 0 disables it. */
  sweepIntervalMs?: number;
  /** At most this many AORs examined per sweep tick; default 10,000. */
  sweepBatch?: number;
}

function copyBinding(b: Binding): Binding {
  return { ...b, path: [...b.path] };
}

/**
 * What the store keeps: its own copy, holding no part of the request it was made from. A refresh
 * mostly repeats what the binding it replaces holds: those strings are the store's already.
 */
function storedBinding(b: Binding, old: Binding | undefined): Binding {
  const own = (s: string, before: string | undefined): string => (s === before ? before : ownCopy(s));
  const out: Binding = {
    ...b,
    aor: own(b.aor, old?.aor),
    key: own(b.key, old?.key),
    contact: own(b.contact, old?.contact),
    path: b.path.map((p, i) => own(p, old?.path[i])),
    callId: own(b.callId, old?.callId),
  };
  if (b.instance !== undefined) out.instance = own(b.instance, old?.instance);
  if (b.received !== undefined) out.received = own(b.received, old?.received);
  if (b.userAgent !== undefined) out.userAgent = own(b.userAgent, old?.userAgent);
  return out;
}

export class MemoryLocationStore implements LocationStore {
  readonly #now: () => number;
  /** Bindings per AOR. An array, not a Map: almost every AOR has one or two, and a Map costs more than they do. */
  readonly #bindings = new Map<string, Binding[]>();
  readonly #subscribers = new Map<string, Subscriber>();
  readonly #sweepBatch: number;
  #sweepTimer: NodeJS.Timeout | undefined;
  /** Where the previous sweep stopped, so successive ticks walk the whole map. */
  #sweepCursor: IterableIterator<[string, Binding[]]> | undefined;
  #closed = false;

  constructor(options: MemoryLocationStoreOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#sweepBatch = options.sweepBatch ?? 10_000;
    const interval = options.sweepIntervalMs ?? 30_000;
    if (interval > 0) {
      this.#sweepTimer = setInterval(() => this.sweep(), interval);
      this.#sweepTimer.unref();
    }
  }

  #open(): void {
    if (this.#closed) throw new LocationStoreError('memory location store is closed');
  }

  async lookup(aor: string): Promise<Binding[]> {
    this.#open();
    const now = this.#now();
    const row = this.#bindings.get(aor);
    if (!row) return [];
    const out: Binding[] = [];
    for (const b of row) if (b.expiresAt > now) out.push(copyBinding(b));
    return out;
  }

  async update(aor: string, upsert: Binding[], removeKeys: string[]): Promise<void> {
    this.#open();
    // Checked before anything changes: an update is applied whole or not at all, as in Cassandra.
    for (const b of upsert) if (b.aor !== aor) throw new TypeError(`binding of ${b.aor} passed to update(${aor})`);
    const now = this.#now();
    const row = this.#bindings.get(aor);
    const kept: Binding[] = [];
    if (row) for (const b of row) if (!removeKeys.includes(b.key) && !upsert.some((u) => u.key === b.key)) kept.push(b);
    // Like a TTL of zero in Cassandra: a binding that is already expired is simply not kept.
    for (const b of upsert) if (b.expiresAt > now) kept.push(storedBinding(b, row?.find((o) => o.key === b.key)));
    // An existing entry keeps its key string; a new one gets a copy of its own.
    if (kept.length > 0) this.#bindings.set(row ? aor : ownCopy(aor), kept);
    else this.#bindings.delete(aor);
  }

  async removeAll(aor: string): Promise<void> {
    this.#open();
    this.#bindings.delete(aor);
  }

  async getSubscriber(user: string, domain: string): Promise<Subscriber | undefined> {
    this.#open();
    const s = this.#subscribers.get(`${domain}\n${user}`);
    return s ? { ...s } : undefined;
  }

  async putSubscriber(subscriber: Subscriber): Promise<void> {
    this.#open();
    this.#subscribers.set(`${subscriber.domain}\n${subscriber.user}`, { ...subscriber });
  }

  async ping(): Promise<void> {
    this.#open();
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#sweepTimer) clearInterval(this.#sweepTimer);
    this.#sweepTimer = undefined;
  }

  /** Number of AORs with at least one stored (possibly expired, not yet swept) binding. */
  get aorCount(): number {
    return this.#bindings.size;
  }

  /** Drops expired bindings of at most `sweepBatch` AORs; returns how many bindings it dropped. */
  sweep(): number {
    const now = this.#now();
    let dropped = 0;
    this.#sweepCursor ??= this.#bindings.entries();
    for (let i = 0; i < this.#sweepBatch; i++) {
      const next = this.#sweepCursor.next();
      if (next.done) {
        this.#sweepCursor = undefined;
        break;
      }
      const [aor, row] = next.value;
      const live = row.filter((b) => b.expiresAt > now);
      dropped += row.length - live.length;
      // Changing or deleting the current entry while iterating a Map is safe in JavaScript.
      if (live.length === 0) this.#bindings.delete(aor);
      else if (live.length < row.length) this.#bindings.set(aor, live);
    }
    return dropped;
  }
}
