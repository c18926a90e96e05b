/**
 * RFC 3261 §17 timers (Table 4) and the clock they run on. Timer values depend on whether the
 * transport is reliable: retransmission timers (A, E, G) run only on unreliable transports, and the
 * wait states (Timers D, I, J, K) last zero seconds on reliable ones. The clock is injected so
 * state machines run on a ManualClock in tests.
 */

/** Opaque handle returned by Clock.setTimer. */
export type TimerHandle = { readonly __timerHandle?: never } | object;

export interface Clock {
  /** Monotonic milliseconds. */
  now(): number;
  setTimer(callback: () => void, delayMs: number): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

/**
 * The real clock. Timers are unref'd: transaction timers alone never keep a process alive (sockets
 * do), so a CLI that sends one request exits without waiting out Timer K.
 */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimer(callback, delayMs) {
    const t = setTimeout(callback, delayMs);
    t.unref();
    return t;
  },
  clearTimer(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};

export interface TimerSettings {
  /** RTT estimate, default 500 ms. */
  t1: number;
  /** Maximum retransmit interval for non-INVITE requests and INVITE responses, default 4 s. */
  t2: number;
  /** Maximum duration a message remains in the network, default 5 s. */
  t4: number;
  /** Timer D on unreliable transports: "at least 32 seconds", default 32 s. */
  d: number;
}

export const DEFAULT_TIMER_SETTINGS: Readonly<TimerSettings> = Object.freeze({ t1: 500, t2: 4000, t4: 5000, d: 32000 });

export function resolveTimerSettings(partial: Partial<TimerSettings> = {}): TimerSettings {
  const s = { ...DEFAULT_TIMER_SETTINGS, ...partial };
  for (const [name, v] of Object.entries(s)) {
    if (!Number.isFinite(v) || v < 0) throw new TypeError(`timer ${name} must be a non-negative number, got ${v}`);
  }
  if (s.t2 < s.t1) throw new TypeError(`T2 (${s.t2}) must not be smaller than T1 (${s.t1})`);
  return s;
}

/** Initial values of Timers A–M in ms for one transport kind; undefined = the timer is not used. */
export interface TimerValues {
  /** INVITE request retransmit, doubles each time (unreliable only). */
  A: number | undefined;
  /** INVITE transaction timeout: 64*T1. */
  B: number;
  /** Wait for response retransmits: ≥ 32 s unreliable, 0 reliable. */
  D: number;
  /** Non-INVITE request retransmit, doubles up to T2 (unreliable only). */
  E: number | undefined;
  /** Non-INVITE transaction timeout: 64*T1. */
  F: number;
  /** INVITE response retransmit, doubles up to T2 (unreliable only). */
  G: number | undefined;
  /** Wait for ACK receipt: 64*T1. */
  H: number;
  /** Wait for ACK retransmits: T4 unreliable, 0 reliable. */
  I: number;
  /** Wait for non-INVITE request retransmits: 64*T1 unreliable, 0 reliable. */
  J: number;
  /** Wait for non-INVITE response retransmits: T4 unreliable, 0 reliable. */
  K: number;
  /** RFC 6026: server Accepted state, wait for 2xx retransmissions from the TU: 64*T1. */
  L: number;
  /** RFC 6026: client Accepted state, wait for 2xx retransmissions: 64*T1. */
  M: number;
}

const valuesCache = new WeakMap<TimerSettings, [unreliable: TimerValues, reliable: TimerValues]>();

/**
 * The values for one settings object, computed once per settings object and transport kind and
 * shared (frozen): every transaction asks, and a proxy creates thousands per second.
 */
export function timerValues(s: TimerSettings, reliable: boolean): TimerValues {
  let pair = valuesCache.get(s);
  if (pair === undefined || !sameSettings(pair[0], s)) {
    pair = [Object.freeze(computeTimerValues(s, false)), Object.freeze(computeTimerValues(s, true))];
    valuesCache.set(s, pair);
  }
  return pair[reliable ? 1 : 0];
}

/** Settings objects are plain and could be changed in place after a first use. */
function sameSettings(v: TimerValues, s: TimerSettings): boolean {
  return v.B === 64 * s.t1 && v.K === s.t4 && v.D === s.d && v.E === s.t1;
}

function computeTimerValues(s: TimerSettings, reliable: boolean): TimerValues {
  const t64 = 64 * s.t1;
  return {
    A: reliable ? undefined : s.t1,
    B: t64,
    D: reliable ? 0 : s.d,
    E: reliable ? undefined : s.t1,
    F: t64,
    G: reliable ? undefined : s.t1,
    H: t64,
    I: reliable ? 0 : s.t4,
    J: reliable ? 0 : t64,
    K: reliable ? 0 : s.t4,
    L: t64,
    M: t64,
  };
}

/** Next interval of a doubling timer capped at T2 (Timers E and G): MIN(2*previous, T2). */
export function backoff(previous: number, t2: number): number {
  return Math.min(2 * previous, t2);
}
