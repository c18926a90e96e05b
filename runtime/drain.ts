/**
 * Waiting for a node to finish what is under way before it stops (SIGTERM). The node says what
 * still waits; this polls it, bounded by a deadline and cut short by an abort (a second signal).
 */
export interface DrainResult {
  /** True when nothing waited any more; false at the deadline or when cut short. */
  drained: boolean;
  /** What still waited at the end (forwarded requests without their answer). */
  waiting: number;
  ms: number;
}

/**
 * How long a node drains on SIGTERM unless told otherwise (--drain-timeout): an edge waits for the
 * answers to what its flows sent, a core for its transactions (a forked INVITE rings for a while).
 * Whatever stops a node (the local cluster, systemd, Kubernetes) must wait longer than this.
 */
export const DEFAULT_DRAIN_MS = { edge: 10_000, core: 20_000 } as const;

export interface DrainOptions {
  /** A second signal: stop waiting now. */
  signal?: AbortSignal;
  /** A further condition for "drained" once nothing waits (e.g. no message for a while). */
  quiet?: () => boolean;
  /** How often to look, ms. Default 50. */
  pollMs?: number;
}

/** Resolves once `waiting()` is 0 (and `quiet()` holds), at `timeoutMs`, or on abort. */
export async function drainWhile(waiting: () => number, timeoutMs: number, opts: DrainOptions = {}): Promise<DrainResult> {
  const started = performance.now();
  const poll = opts.pollMs ?? 50;
  for (;;) {
    const left = waiting();
    const elapsed = performance.now() - started;
    const done = left === 0 && (opts.quiet?.() ?? true);
    if (done || elapsed >= timeoutMs || opts.signal?.aborted === true) return { drained: done, waiting: left, ms: Math.round(elapsed) };
    await new Promise<void>((resolve) => {
      const timer = setTimeout(finish, Math.max(1, Math.min(poll, timeoutMs - elapsed)));
      function finish(): void {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', finish);
        resolve();
      }
      opts.signal?.addEventListener('abort', finish, { once: true });
    });
  }
}
