/**
 * Per-node memory of which nonces were used, and the highest nonce-count (nc) seen for each.
 *
 * RFC 2617 §3.2.2: "The purpose of this directive is to allow the server to detect request
 * replays by maintaining its own copy of this count - if the same nc-value is seen twice, then
 * the request is a replay."
 *
 * Nonces are stateless and every node of the cluster can verify them, but this table is per node:
 * that is enough because a node accepts only the nonces it issued (stateless-nonce.ts), so every
 * accepted use of a nonce passes through its issuer's table. A request replayed to another node
 * gets a fresh challenge there, not a registration.
 *
 * Memory is bounded. Entries are kept in first-use order (a Map keeps insertion order), which
 * is close to issue order because clients use a nonce right after the 401 that carried it, so
 * expired entries are swept cheaply from the front. When the table is full the oldest entry is
 * evicted, and to stay safe we remember the newest issue time ever evicted while still live
 * (`#forgottenUpTo`): an untracked nonce issued at or before it might have been used already,
 * so it is reported as 'forgotten' and the caller sends a fresh nonce instead of accepting it.
 * Under memory pressure clients re-authenticate more often; replays never get through.
 */

export type NonceUse =
  /** First time, or nc above the highest seen: recorded. */
  | 'accepted'
  /** nc not above the highest seen (or a one-time nonce used again). */
  | 'replay'
  /** We may have evicted this nonce's entry; cannot tell: ask for a fresh nonce. */
  | 'forgotten';

export interface NonceCountTrackerOptions {
  maxEntries: number;
  now: () => number;
}

interface Entry {
  /** Highest nc accepted; Infinity for a one-time use (nothing can follow it). */
  nc: number;
  issuedAt: number;
  expiresAt: number;
}

/** How many entries one call may sweep: bounded work per request. */
const SWEEP_PER_CALL = 16;

export class NonceCountTracker {
  readonly #entries = new Map<string, Entry>();
  readonly #maxEntries: number;
  readonly #now: () => number;
  #forgottenUpTo = -Infinity;

  constructor(opts: NonceCountTrackerOptions) {
    if (!Number.isInteger(opts.maxEntries) || opts.maxEntries < 1) {
      throw new TypeError('maxEntries must be a positive integer');
    }
    this.#maxEntries = opts.maxEntries;
    this.#now = opts.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * Record a use of `nonce` with nonce-count `nc`, or `undefined` for a one-time use (no nc:
   * one-time-nonce mode, or the RFC 2069 form). Call it only after the response digest was
   * verified, so a forger cannot push a client's nc up and lock it out.
   */
  use(nonce: string, nc: number | undefined, issuedAt: number, expiresAt: number): NonceUse {
    const now = this.#now();
    this.#sweep(now);
    const seen = this.#entries.get(nonce);
    if (seen !== undefined && seen.expiresAt >= now) {
      if (nc === undefined || nc <= seen.nc) return 'replay';
      seen.nc = nc;
      return 'accepted';
    }
    if (seen !== undefined) this.#entries.delete(nonce);
    if (issuedAt <= this.#forgottenUpTo) return 'forgotten';

    while (this.#entries.size >= this.#maxEntries) this.#evictOldest(now);
    this.#entries.set(nonce, { nc: nc ?? Infinity, issuedAt, expiresAt });
    return 'accepted';
  }

  #sweep(now: number): void {
    let budget = SWEEP_PER_CALL;
    for (const [key, entry] of this.#entries) {
      if (budget-- === 0 || entry.expiresAt >= now) return;
      this.#entries.delete(key);
    }
  }

  #evictOldest(now: number): void {
    const first = this.#entries.entries().next();
    if (first.done === true) return;
    const [key, entry] = first.value;
    this.#entries.delete(key);
    // Dropping an expired entry loses nothing: its nonce is refused as stale before it gets here.
    if (entry.expiresAt >= now && entry.issuedAt > this.#forgottenUpTo) this.#forgottenUpTo = entry.issuedAt;
  }
}
