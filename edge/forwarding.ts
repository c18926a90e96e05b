/**
 * One request the edge forwards statefully (RFC 3261 §16: a server transaction on the side it came
 * from, a client transaction on the side it goes to), and the indexes that find it again: by
 * server transaction (CANCEL), by core (failover when a core goes down) and by flow (the browser
 * went away).
 */
import type { SipRequest } from '../sip/message/model.js';
import type { ClientTransaction } from '../sip/transaction/client-transaction.js';
import type { ServerTransaction } from '../sip/transaction/server-transaction.js';
import type { CoreHealth } from './core-health.js';
import type { Flow } from './flow.js';
import type { ClientTransactionDelegate } from '../sip/transaction/client-transaction-delegate.js';

/** What a settled non-INVITE forwarding leaves its client transaction: nothing to call, nothing held. */
const DETACHED: ClientTransactionDelegate = Object.freeze({});

export class Forwarding {
  readonly server: ServerTransaction;
  /** 'to-core': a browser's request going up; 'to-flow': a core's request going down to a browser. */
  readonly direction: 'to-core' | 'to-flow';
  /** The browser's flow: where the request came from (to-core) or goes to (to-flow). */
  readonly flow: Flow;
  /** The request as it will be sent, without our Via: each attempt adds its own Via with a new branch. */
  template: SipRequest;
  client: ClientTransaction | undefined;
  core: CoreHealth | undefined;
  /** Cores this forwarding went to; undefined before the first. */
  tried: Set<CoreHealth> | undefined;
  /** Bumped per attempt; callbacks of an abandoned attempt see a stale number and do nothing. */
  attempt = 0;
  /** Any response (even 100) from the current attempt: from then on it may not be retried elsewhere. */
  responded = false;
  provisional = false;
  final = false;
  cancel: 'none' | 'wanted' | 'sent' = 'none';

  constructor(server: ServerTransaction, direction: 'to-core' | 'to-flow', flow: Flow, template: SipRequest) {
    this.server = server;
    this.direction = direction;
    this.flow = flow;
    this.template = template;
  }

  get method(): string {
    return this.template.method;
  }

  /**
   * The final response has gone out: nothing will be re-sent or cancelled any more. One of its
   * transactions still waits out Timer J, K, L or M (up to 64*T1) and keeps this object reachable
   * meanwhile; it should not keep the request with it.
   */
  settle(): void {
    if (this.#settled) return;
    this.#settled = true;
    this.template = this.template.skeleton();
    // An INVITE's client transaction still passes 2xx retransmissions up (RFC 6026 Accepted).
    if (this.method === 'INVITE') return;
    if (this.client) this.client.delegate = DETACHED;
    this.client = undefined;
  }

  #settled = false;
}

export class ForwardingIndex {
  /**
   * INVITE forwardings by their server transaction, for CANCEL (§9.2); entries leave in done(),
   * which the server transaction's end always reaches. A plain Map: a WeakMap's entries are
   * ephemerons, which every major collection has to trace specially.
   */
  readonly #invites = new Map<ServerTransaction, Forwarding>();
  readonly #byCore = new Map<CoreHealth, Set<Forwarding>>();
  /** A flow has one request in progress nearly always: the forwarding itself, a Set only for more. */
  readonly #byFlow = new Map<string, Forwarding | Set<Forwarding>>();

  add(f: Forwarding): void {
    if (f.server.kind === 'server-invite') this.#invites.set(f.server, f);
    const id = f.flow.id;
    const held = this.#byFlow.get(id);
    if (held === undefined) this.#byFlow.set(id, f);
    else if (held instanceof Set) held.add(f);
    else if (held !== f) this.#byFlow.set(id, new Set([held, f]));
  }

  forServer(tx: ServerTransaction): Forwarding | undefined {
    return this.#invites.get(tx);
  }

  atCore(f: Forwarding, core: CoreHealth | undefined): void {
    if (f.core) this.#byCore.get(f.core)?.delete(f);
    f.core = core;
    if (!core) return;
    let set = this.#byCore.get(core);
    if (!set) this.#byCore.set(core, (set = new Set()));
    set.add(f);
  }

  pendingAt(core: CoreHealth): Forwarding[] {
    return [...(this.#byCore.get(core) ?? [])];
  }

  onFlow(flowId: string): Forwarding[] {
    const held = this.#byFlow.get(flowId);
    if (held === undefined) return [];
    return held instanceof Set ? [...held] : [held];
  }

  /** The forwarding is over (final response passed or transactions gone). */
  done(f: Forwarding): void {
    if (f.core) this.#byCore.get(f.core)?.delete(f);
    if (this.#invites.get(f.server) === f) this.#invites.delete(f.server);
    const id = f.flow.id;
    const held = this.#byFlow.get(id);
    if (held === f) this.#byFlow.delete(id);
    else if (held instanceof Set) {
      held.delete(f);
      if (held.size === 0) this.#byFlow.delete(id);
    }
  }

  /** Forwardings whose final response has not passed yet (what a drain waits for). */
  get awaitingFinal(): number {
    let n = 0;
    for (const held of this.#byFlow.values()) {
      if (held instanceof Set) {
        for (const f of held) if (!f.final) n++;
      } else if (!held.final) n++;
    }
    return n;
  }

  get pending(): number {
    let n = 0;
    for (const held of this.#byFlow.values()) n += held instanceof Set ? held.size : 1;
    return n;
  }
}
