/**
 * RFC 3261 §16.7 response processing for one forwarded request, independent of sockets: the
 * proxy core supplies `startBranch` (send the request towards a target through a client
 * transaction) and `sendUpstream` (answer through the server transaction), and this class decides
 * which branch to start next, which responses go upstream and when the fork is over.
 */
import type { SipResponse } from '../../sip/message/model.js';
import { chooseBestResponse, isFlowFailure, type BranchOutcome } from './response-selection.js';

/** What the core needs to know about a running branch. */
export interface BranchHandle {
  /** §16.10 / §9.1: send CANCEL once a provisional response has arrived (or as soon as one does). */
  cancel(): void;
}

export interface ForkTarget {
  /** Alternative flows of the same UA, tried in order when this one fails (RFC 5626 §5.3). */
  alternates: ForkTarget[];
}

export interface ResponseContextHooks<T extends ForkTarget> {
  startBranch(target: T, events: BranchEvents): BranchHandle;
  /** Provisional and 2xx responses are relayed as they come; the final non-2xx once chosen. */
  relay(response: SipResponse): void;
  /** Sends a locally generated final response upstream (408 when nobody answered, 487, ...). */
  generate(status: number, reason?: string, headers?: [string, string][]): void;
  /** Called once, when the context needs nothing more from the branches. */
  onDone?(): void;
  timers?: { set(fn: () => void, ms: number): unknown; clear(handle: unknown): void };
}

export interface BranchEvents {
  onResponse(response: SipResponse): void;
  /** Timer B/F fired or the transport failed: no response at all. */
  onFailure(kind: 'timeout' | 'transport'): void;
}

interface Branch<T> {
  target: T;
  handle?: BranchHandle;
  provisional: boolean;
  final?: number;
  timerC?: unknown;
}

/** §16.6 step 11: "Timer C MUST be set ... greater than 3 minutes". */
export const TIMER_C_MS = 181_000;

export class ResponseContext<T extends ForkTarget> {
  readonly #hooks: ResponseContextHooks<T>;
  readonly #groups: T[][];
  readonly #isInvite: boolean;
  readonly #timerCMs: number;
  readonly #branches: Branch<T>[] = [];
  readonly #outcomes: (BranchOutcome & { response?: SipResponse })[] = [];
  #groupIndex = 0;
  #finalSent = false;
  #cancelled = false;
  #done = false;

  constructor(hooks: ResponseContextHooks<T>, groups: T[][], opts: { isInvite: boolean; timerCMs?: number }) {
    this.#hooks = hooks;
    this.#groups = groups.filter((g) => g.length > 0);
    this.#isInvite = opts.isInvite;
    this.#timerCMs = opts.timerCMs ?? TIMER_C_MS;
  }

  get finalSent(): boolean {
    return this.#finalSent;
  }

  start(): void {
    if (this.#groups.length === 0) {
      this.#finish(480, 'Temporarily Unavailable');
      return;
    }
    this.#startGroup();
  }

  /**
   * §16.10: a CANCEL matching the server transaction: cancel every pending branch and answer the
   * INVITE with 487 unless a final response was already sent.
   */
  cancel(): void {
    if (this.#cancelled) return;
    this.#cancelled = true;
    this.#cancelPending();
    if (!this.#finalSent) {
      this.#finalSent = true;
      this.#hooks.generate(487, 'Request Terminated');
    }
    this.#maybeDone();
  }

  #startGroup(): void {
    const group = this.#groups[this.#groupIndex]!;
    for (const target of group) this.#startBranch(target);
  }

  #startBranch(target: T): void {
    const branch: Branch<T> = { target, provisional: false };
    this.#branches.push(branch);
    branch.handle = this.#hooks.startBranch(target, {
      onResponse: (r) => this.#onResponse(branch, r),
      onFailure: (kind) => this.#onBranchFinal(branch, kind === 'timeout' ? 408 : 503, undefined),
    });
    if (this.#isInvite) this.#armTimerC(branch);
  }

  #armTimerC(branch: Branch<T>): void {
    const timers = this.#hooks.timers ?? defaultTimers;
    if (branch.timerC !== undefined) timers.clear(branch.timerC);
    branch.timerC = timers.set(() => {
      // §16.8: "If timer C should fire, the proxy MUST either reset the timer ... or terminate the
      // client transaction. If the client transaction has received a provisional response, the
      // proxy MUST generate a CANCEL ... If the client transaction has not received a provisional
      // response, the proxy MUST behave as if the transaction received a 408".
      if (branch.final !== undefined) return;
      if (branch.provisional) branch.handle?.cancel();
      else this.#onBranchFinal(branch, 408, undefined);
    }, this.#timerCMs);
  }

  #onResponse(branch: Branch<T>, response: SipResponse): void {
    const status = response.status;
    if (status < 200) {
      if (branch.final !== undefined) return;
      branch.provisional = true;
      // §16.7 step 2: "When a provisional response is received, the proxy MUST reset Timer C".
      if (this.#isInvite) this.#armTimerC(branch);
      // §16.7 step 5: "Any provisional response other than a 100 (Trying) MUST be forwarded
      // immediately" — unless the request is already finished upstream.
      if (status !== 100 && !this.#finalSent) this.#hooks.relay(response);
      return;
    }
    if (status < 300) {
      // §16.7 step 5: "Any 2xx response to an INVITE request MUST be forwarded immediately",
      // including the 2xx of other branches and retransmissions (the UAC must ACK each).
      const first = branch.final === undefined;
      if (first) this.#settle(branch, status);
      this.#hooks.relay(response);
      this.#finalSent = true;
      // §16.7 step 10: "the proxy SHOULD cancel all client transactions associated with this
      // response context" once a 2xx has been forwarded.
      this.#cancelPending();
      this.#maybeDone();
      return;
    }
    this.#onBranchFinal(branch, status, response);
  }

  #onBranchFinal(branch: Branch<T>, status: number, response: SipResponse | undefined): void {
    if (branch.final !== undefined) return;
    this.#settle(branch, status);
    // RFC 5626 §5.3: "if the proxy receives a 430 ... it SHOULD try another flow" of the same instance.
    if (isFlowFailure(status) && branch.target.alternates.length > 0 && !this.#finalSent && !this.#cancelled) {
      const [next, ...rest] = branch.target.alternates as T[];
      next!.alternates = rest;
      this.#startBranch(next!);
      return;
    }
    const challenges: { name: string; value: string }[] = [];
    if (response && (status === 401 || status === 407)) {
      for (const name of ['WWW-Authenticate', 'Proxy-Authenticate']) for (const value of response.getAll(name)) challenges.push({ name, value });
    }
    this.#outcomes.push({ status, challenges, ...(response ? { response } : {}) });
    if (status >= 600 && !this.#finalSent) {
      // §16.7 step 5 (6xx): "the proxy SHOULD cancel all client pending transactions" and the 6xx wins.
      this.#cancelPending();
    }
    this.#advance();
  }

  #settle(branch: Branch<T>, status: number): void {
    branch.final = status;
    if (branch.timerC !== undefined) (this.#hooks.timers ?? defaultTimers).clear(branch.timerC);
    // A cleared Node timer is still an object; the branch lives on for 2xx retransmissions.
    branch.timerC = undefined;
  }

  /** When every branch of the current group is final: next q group, or the best response upstream. */
  #advance(): void {
    if (this.#branches.some((b) => b.final === undefined)) return;
    const sawSix = this.#outcomes.some((o) => o.status >= 600);
    if (!this.#finalSent && !this.#cancelled && !sawSix && this.#groupIndex + 1 < this.#groups.length) {
      this.#groupIndex++;
      this.#startGroup();
      return;
    }
    if (!this.#finalSent) {
      const best = chooseBestResponse(this.#outcomes);
      const chosen = this.#outcomes.find((o) => o.status === best.status && o.response);
      if (best.aggregateChallenges) {
        // §16.7 step 7: collect every WWW-Authenticate / Proxy-Authenticate into the one response.
        const headers = this.#outcomes.flatMap((o) => (o.challenges ?? []).map((c) => [c.name, c.value] as [string, string]));
        this.#finalSent = true;
        this.#hooks.generate(best.status, undefined, headers);
      } else if (chosen?.response && chosen.status === best.status) {
        this.#finalSent = true;
        this.#hooks.relay(chosen.response);
      } else {
        this.#finish(best.status);
      }
    }
    this.#maybeDone();
  }

  #finish(status: number, reason?: string): void {
    if (this.#finalSent) return;
    this.#finalSent = true;
    this.#hooks.generate(status, reason);
    this.#maybeDone();
  }

  #cancelPending(): void {
    for (const b of this.#branches) if (b.final === undefined) b.handle?.cancel();
  }

  #maybeDone(): void {
    if (this.#done || !this.#finalSent) return;
    if (this.#branches.some((b) => b.final === undefined)) return;
    this.#done = true;
    // The branches' transactions may outlive us by 64*T1 (RFC 6026 Accepted) and keep this object
    // reachable; the responses collected for choosing the best one (a 2xx with its SDP ...) are
    // not needed any more.
    this.#outcomes.length = 0;
    this.#hooks.onDone?.();
  }
}

const defaultTimers = {
  set: (fn: () => void, ms: number) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clear: (h: unknown) => clearTimeout(h as NodeJS.Timeout),
};
