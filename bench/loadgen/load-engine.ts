/**
 * The load generator's engine for one thread: UAs that register and refresh in a closed loop,
 * caller/callee pairs that set up and tear down calls in a closed loop, or flows that register
 * once and then sit idle.
 *
 * Strictness is the point of it: every message received is parsed with the project's parser
 * (sip/message/parser.ts) and matched. A response counts only when its top Via branch names a
 * transaction this engine has open AND its Call-ID and CSeq (number and method) are that
 * transaction's AND it came back on the connection the request left on; anything else is an
 * error, never a success. A request (the callee's INVITE, ACK, BYE) counts only when its Call-ID
 * is a call this engine placed and it arrived on the callee's own connection.
 *
 * Bounded: the run phase stops issuing after `durationMs`, then waits at most one transaction
 * timeout for the answers in flight; the setup phase has a deadline too.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { parseMessage } from '../../sip/message/parser.js';
import type { SipRequest as Request, SipResponse as Response } from '../../sip/message/model.js';
import { LatencyRecorder } from './latency.js';
import { contactUri, contactValueUri, inDialogRequest, inviteRequest, registerRequest, responseTo, type CallerDialog, type UaIdentity } from './sip-builder.js';
import { UdpEndpoint } from './udp-endpoint.js';
import { WsConnection, type Endpoint } from './ws-connection.js';

export type LoadMode = 'register' | 'calls' | 'idle';

export interface LoadPlan {
  mode: LoadMode;
  transport: 'ws' | 'udp';
  /**
   * Servers. WebSocket: register/idle spread the UAs over all of them; calls put callers on the
   * first and callees on the second (or the first when there is one). UDP: the first.
   */
  targets: Endpoint[];
  /** register: UAs; calls: caller/callee pairs; idle: flows. */
  count: number;
  /** Length of the closed-loop run phase (register, calls). */
  durationMs: number;
  /** SIP domain of the AORs and the REGISTER Request-URI. */
  domain: string;
  /** First UA number, so that several engines (worker threads) never share a name. Default 0. */
  idOffset?: number;
  /** UDP: local ports to bind on 127.0.0.1, UAs spread over them (the bench's assigned range). */
  udpPorts?: number[];
  /** WebSocket: local source addresses to connect from, UAs spread over them. */
  sourceAddresses?: string[];
  /** Setup: connections and first REGISTERs in flight at once. Default 200. */
  concurrency?: number;
  /** A transaction with no final answer after this long is a timeout error. Default 8000 ms. */
  transactionTimeoutMs?: number;
  /** Setup gives up after this long. Default 120 s. */
  setupTimeoutMs?: number;
  /** Contact expiry asked for. Default 600 s. */
  expires?: number;
}

export interface PhaseResult {
  /** register: REGISTER 2xx; calls: calls completed (BYE answered 200); setup: UAs registered. */
  ops: number;
  failures: Record<string, number>;
  errorSamples: string[];
  /**
   * Deviations a lenient UA lets pass and a strict one would refuse, by kind: counted apart from
   * the failures so the run still measures, and reported (e.g. an in-dialog request whose
   * Request-URI is not the callee's Contact, RFC 3261 §12.2.1.1).
   */
  warnings: Record<string, number>;
  /** Retransmitted answers to a transaction already finished (UDP): matched, but not counted. */
  duplicates: number;
  /** 2xx responses to INVITE the callee sent again because no ACK had come (RFC 3261 §13.3.1.4). */
  retransmits: number;
  /** From the start of the phase to the last answer. */
  elapsedMs: number;
  /** REGISTER → 2xx, or INVITE → 2xx (call setup), ms. Empty for setup. */
  latency: Float64Array;
  sent: number;
  received: number;
  /** WebSocket connections still open at the end of the phase. */
  openConnections: number;
}

interface Ua {
  id: number;
  identity: UaIdentity;
  target: Endpoint;
  conn?: WsConnection;
  udp?: UdpEndpoint;
  regCallId: string;
  regFromTag: string;
  cseq: number;
  dead: boolean;
}

interface Pair {
  caller: Ua;
  callee: Ua;
}

type Done = (response: Response | undefined, failure?: string) => void;

interface ClientTxn {
  branch: string;
  callId: string;
  cseq: number;
  method: string;
  sentAt: number;
  ua: Ua;
  done: Done;
}

interface Call {
  callId: string;
  pair: Pair;
  fromTag: string;
  invitedAt: number;
  /** The callee's final answer, resent if the INVITE comes again (UDP retransmission). */
  calleeFinal?: string;
  /** Timer of the callee's 2xx retransmissions, until the ACK arrives. */
  retransmitTimer?: NodeJS.Timeout;
  /** The caller's ACK, sent again for a retransmitted 2xx (RFC 3261 §13.2.2.4). */
  ack?: string;
  calleeByeOk?: string;
  calleeAcked: boolean;
  /** The caller is finished; the entry stays only until the callee sees its ACK. */
  finished: boolean;
}

const RECENT = 8192;
const SAMPLE_LIMIT = 8;

export class LoadEngine {
  readonly plan: Readonly<LoadPlan>;
  readonly #tag = randomBytes(4).toString('hex');
  readonly #uas: Ua[] = [];
  readonly #pairs: Pair[] = [];
  readonly #udp: UdpEndpoint[] = [];
  readonly #pending = new Map<string, ClientTxn>();
  readonly #calls = new Map<string, Call>();
  readonly #recent = new Set<string>();
  readonly #recentRing: string[] = new Array<string>(RECENT);
  #recentAt = 0;
  /** Calls finished lately: an ACK for one is the answer to a retransmitted 2xx, not an error. */
  readonly #recentCalls = new Set<string>();
  readonly #recentCallRing: string[] = new Array<string>(RECENT);
  #recentCallAt = 0;
  #seq = 0;
  #running = false;
  #sweeper: NodeJS.Timeout | undefined;
  #c = LoadEngine.#fresh();
  #latency = new LatencyRecorder();

  constructor(plan: LoadPlan) {
    if (plan.targets.length === 0) throw new TypeError('a load plan needs at least one target');
    if (plan.transport === 'udp' && !(plan.udpPorts && plan.udpPorts.length > 0)) throw new TypeError('a UDP load plan needs udpPorts');
    if (plan.transport === 'udp' && plan.mode === 'idle') throw new TypeError('idle flows are WebSocket connections');
    this.plan = plan;
  }

  static #fresh() {
    return { ops: 0, failures: {} as Record<string, number>, warnings: {} as Record<string, number>, samples: [] as string[], duplicates: 0, retransmits: 0, sent: 0, received: 0, lastAt: 0 };
  }

  // ---- phases ------------------------------------------------------------------------------------

  /** Opens every connection (or UDP socket) and registers every UA once. */
  async prepare(): Promise<PhaseResult> {
    const p = this.plan;
    const started = performance.now();
    this.#c = LoadEngine.#fresh();
    this.#latency.reset();
    this.#sweeper ??= setInterval(() => this.#sweep(), 250);
    if (p.transport === 'udp') {
      for (const port of p.udpPorts!) {
        const ep = await UdpEndpoint.bind('127.0.0.1', port);
        ep.onMessage = (data, from) => this.#onData(data, undefined, from);
        this.#udp.push(ep);
      }
    }
    this.#createUas();
    const deadline = started + (p.setupTimeoutMs ?? 120_000);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < this.#uas.length && performance.now() < deadline) {
        const ua = this.#uas[next++]!;
        try {
          if (p.transport === 'ws') await this.#connect(ua);
          const res = await new Promise<Response | undefined>((resolve) => this.#register(ua, (r) => resolve(r)));
          if (res && res.status >= 200 && res.status < 300) this.#c.ops++;
        } catch (err) {
          ua.dead = true;
          this.#fail(`connect: ${(err as Error).message}`);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(p.concurrency ?? 200, this.#uas.length) }, worker));
    if (next < this.#uas.length) this.#fail('setup deadline passed', this.#uas.length - next);
    return this.#result(started, false);
  }

  /**
   * The closed loop for `durationMs` (default: the plan's), then waits for the answers in flight.
   * May be called again: a first short run warms the servers' JIT and caches up.
   */
  async run(durationMs = this.plan.durationMs): Promise<PhaseResult> {
    const p = this.plan;
    if (p.mode === 'idle') throw new Error('idle flows have no run phase');
    this.#c = LoadEngine.#fresh();
    this.#latency.reset();
    const started = performance.now();
    this.#c.lastAt = started;
    this.#running = true;
    let busy = 0;
    let resolveIdle: () => void = () => {};
    const idle = new Promise<void>((r) => (resolveIdle = r));
    const loopEnded = (): void => {
      if (--busy === 0 && !this.#running) resolveIdle();
    };
    if (p.mode === 'register') {
      for (const ua of this.#uas) {
        if (ua.dead) continue;
        busy++;
        this.#registerLoop(ua, loopEnded);
      }
    } else {
      for (const pair of this.#pairs) {
        if (pair.caller.dead || pair.callee.dead) continue;
        busy++;
        this.#callLoop(pair, loopEnded);
      }
    }
    await new Promise((r) => setTimeout(r, durationMs));
    this.#running = false;
    if (busy > 0) {
      const drain = (p.transactionTimeoutMs ?? 8000) + 1000;
      await Promise.race([idle, new Promise((r) => setTimeout(r, drain))]);
    }
    // Calls whose callee never saw the ACK by now lost it.
    let unacked = 0;
    for (const call of this.#calls.values()) if (call.finished && !call.calleeAcked) unacked++;
    if (unacked) this.#fail('ACK never reached the callee', unacked);
    return this.#result(started, true);
  }

  /** WebSocket connections still open. */
  get openConnections(): number {
    let n = 0;
    for (const ua of this.#uas) if (ua.conn && !ua.conn.closed) n++;
    return n;
  }

  /** Tears everything down; WebSockets are reset (no TIME_WAIT), UDP sockets closed. */
  close(): void {
    this.#running = false;
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    for (const ua of this.#uas) ua.conn?.reset();
    for (const ep of this.#udp) ep.close();
    for (const call of this.#calls.values()) clearTimeout(call.retransmitTimer);
    this.#pending.clear();
    this.#calls.clear();
  }

  // ---- UAs ---------------------------------------------------------------------------------------

  #createUas(): void {
    const p = this.plan;
    const base = p.idOffset ?? 0;
    const make = (id: number, prefix: string, target: Endpoint, i: number): Ua => {
      const identity: UaIdentity =
        p.transport === 'ws'
          ? { user: `${prefix}${id}`, domain: p.domain, transport: 'ws', host: `${this.#tag}${id.toString(36)}.invalid`, instance: randomUUID() }
          : { user: `${prefix}${id}`, domain: p.domain, transport: 'udp', host: '127.0.0.1', port: this.#udp[i % this.#udp.length]!.port };
      const ua: Ua = { id, identity, target, regCallId: `${this.#tag}-${prefix}${id}`, regFromTag: `${this.#tag}${id.toString(36)}`, cseq: 0, dead: false };
      if (p.transport === 'udp') ua.udp = this.#udp[i % this.#udp.length];
      return ua;
    };
    if (p.mode === 'calls') {
      const callerTarget = p.targets[0]!;
      const calleeTarget = p.targets[p.transport === 'ws' && p.targets.length > 1 ? 1 : 0]!;
      for (let i = 0; i < p.count; i++) {
        const caller = make(base + i, 'a', callerTarget, 2 * i);
        const callee = make(base + i, 'b', calleeTarget, 2 * i + 1);
        this.#uas.push(caller, callee);
        this.#pairs.push({ caller, callee });
      }
    } else {
      for (let i = 0; i < p.count; i++) {
        const target = p.transport === 'ws' ? p.targets[(base + i) % p.targets.length]! : p.targets[0]!;
        this.#uas.push(make(base + i, 'u', target, i));
      }
    }
  }

  async #connect(ua: Ua): Promise<void> {
    const src = this.plan.sourceAddresses;
    const conn = await WsConnection.open(ua.target, src && src.length ? { localAddress: src[ua.id % src.length]! } : {});
    conn.owner = ua;
    conn.onMessage = (data, c) => this.#onData(data, c, undefined);
    conn.onClose = (_c, reason) => {
      ua.dead = true;
      this.#fail(`connection closed (${reason})`);
    };
    ua.conn = conn;
  }

  #send(ua: Ua, text: string): void {
    this.#c.sent++;
    if (ua.conn) ua.conn.send(text);
    else ua.udp!.send(text, ua.target);
  }

  #branch(): string {
    return `z9hG4bK${this.#tag}${(++this.#seq).toString(36)}`;
  }

  #transaction(ua: Ua, method: string, callId: string, cseq: number, text: string, branch: string, done: Done): void {
    this.#pending.set(branch, { branch, callId, cseq, method, sentAt: performance.now(), ua, done });
    this.#send(ua, text);
  }

  #register(ua: Ua, done: Done): void {
    if (ua.dead) return done(undefined, 'UA is gone');
    const branch = this.#branch();
    const cseq = ++ua.cseq;
    const text = registerRequest(ua.identity, { callId: ua.regCallId, cseq, branch, fromTag: ua.regFromTag, expires: this.plan.expires ?? 600 });
    this.#transaction(ua, 'REGISTER', ua.regCallId, cseq, text, branch, (res, failure) => {
      if (res && (res.status < 200 || res.status >= 300)) this.#fail(`REGISTER answered ${res.status} ${res.reason}`);
      done(res, failure);
    });
  }

  /** Each UA: REGISTER → 2xx → the next REGISTER with CSeq + 1, until the run ends. */
  #registerLoop(ua: Ua, ended: () => void): void {
    const sentAt = performance.now();
    this.#register(ua, (res) => {
      const ok = res !== undefined && res.status >= 200 && res.status < 300;
      if (ok) {
        const now = performance.now();
        this.#c.ops++;
        this.#c.lastAt = now;
        this.#latency.add(now - sentAt);
      }
      if (!this.#running || ua.dead) return ended();
      // After an error, pause a little so a refusing server is not spun against.
      if (ok) this.#registerLoop(ua, ended);
      else setTimeout(() => (this.#running && !ua.dead ? this.#registerLoop(ua, ended) : ended()), 20);
    });
  }

  // ---- calls -------------------------------------------------------------------------------------

  /** Each pair: INVITE → 1xx/2xx, ACK, BYE → 2xx, then the next call, until the run ends. */
  #callLoop(pair: Pair, ended: () => void): void {
    const { caller, callee } = pair;
    const callId = `${this.#tag}-c${(++this.#seq).toString(36)}`;
    const fromTag = `${this.#tag}f${this.#seq.toString(36)}`;
    const call: Call = { callId, pair, fromTag, invitedAt: performance.now(), calleeAcked: false, finished: false };
    this.#calls.set(callId, call);
    const next = (ok: boolean): void => {
      call.finished = true;
      if (call.calleeAcked || !ok) this.#forgetCall(call);
      if (ok) {
        this.#c.ops++;
        this.#c.lastAt = performance.now();
      }
      if (!this.#running || caller.dead || callee.dead) return ended();
      if (ok) this.#callLoop(pair, ended);
      else setTimeout(() => (this.#running && !caller.dead && !callee.dead ? this.#callLoop(pair, ended) : ended()), 20);
    };
    const branch = this.#branch();
    const invite = inviteRequest(caller.identity, callee.identity, { callId, branch, fromTag });
    this.#transaction(caller, 'INVITE', callId, 1, invite, branch, (res) => {
      if (!res) return next(false);
      if (res.status < 200 || res.status >= 300) {
        this.#fail(`INVITE answered ${res.status} ${res.reason}`);
        // RFC 3261 §17.1.1.3: the client transaction ACKs a non-2xx final response itself.
        this.#send(caller, inDialogRequest('ACK', caller.identity, { callId, remoteTarget: `sip:${callee.identity.user}@${callee.identity.domain}`, routes: [], from: res.get('From') ?? '', to: res.get('To') ?? '' }, { cseq: 1, branch }));
        return next(false);
      }
      this.#latency.add(performance.now() - call.invitedAt);
      let dialog: CallerDialog;
      try {
        const target = contactValueUri(res.get('Contact') ?? '');
        if (!target) throw new Error('2xx without Contact');
        dialog = { callId, remoteTarget: target, routes: res.values('Record-Route').reverse(), from: res.get('From') ?? '', to: res.get('To') ?? '' };
      } catch (err) {
        this.#fail(`unusable INVITE 2xx: ${(err as Error).message}`);
        return next(false);
      }
      call.ack = inDialogRequest('ACK', caller.identity, dialog, { cseq: 1, branch: this.#branch() });
      this.#send(caller, call.ack);
      const byeBranch = this.#branch();
      this.#transaction(caller, 'BYE', callId, 2, inDialogRequest('BYE', caller.identity, dialog, { cseq: 2, branch: byeBranch }), byeBranch, (bye) => {
        if (!bye) return next(false);
        if (bye.status < 200 || bye.status >= 300) {
          this.#fail(`BYE answered ${bye.status} ${bye.reason}`);
          return next(false);
        }
        next(true);
      });
    });
  }

  /** The callee's side: answer INVITE with 180 and 200, take the ACK, answer BYE with 200. */
  #onRequest(req: Request, conn: WsConnection | undefined, udp: UdpEndpoint | undefined): void {
    const method = req.method;
    const call = this.#calls.get(req.callId);
    if (!call) {
      if (method === 'ACK' && this.#recentCalls.has(req.callId)) {
        this.#c.duplicates++;
        return;
      }
      return this.#fail(`unexpected ${method} (no such call)`, 1, req.callId);
    }
    const callee = call.pair.callee;
    const onCalleeFlow = conn ? conn === callee.conn : udp === callee.udp;
    if (!onCalleeFlow) return this.#fail(`${method} reached the wrong UA or connection`, 1, req.callId);
    // RFC 3261 §12.2.1.1: "The UAC uses the remote target and route set to build the Request-URI"
    // — the remote target being the callee's Contact, which is what must arrive; the initial
    // INVITE must arrive addressed to the registered Contact (lookup retargeting).
    if (req.uri.user !== callee.identity.user) this.#c.warnings[`${method} arrived with a Request-URI that is not the callee's Contact`] = (this.#c.warnings[`${method} arrived with a Request-URI that is not the callee's Contact`] ?? 0) + 1;
    const cseq = req.cseq;
    switch (method) {
      case 'INVITE': {
        if (call.calleeFinal) {
          this.#c.duplicates++;
          return this.#send(callee, call.calleeFinal);
        }
        const toTag = `${this.#tag}t${(++this.#seq).toString(36)}`;
        const contact = contactUri(callee.identity);
        this.#send(callee, responseTo(req, 180, 'Ringing', { toTag, contact }));
        call.calleeFinal = responseTo(req, 200, 'OK', { toTag, contact, sdp: true });
        this.#send(callee, call.calleeFinal);
        return this.#retransmitUntilAcked(call, 500, performance.now());
      }
      case 'ACK':
        if (cseq.seq !== 1) return this.#fail('ACK with a wrong CSeq', 1, req.callId);
        call.calleeAcked = true;
        clearTimeout(call.retransmitTimer);
        if (call.finished) this.#forgetCall(call);
        return;
      case 'BYE':
        if (call.calleeByeOk) this.#c.duplicates++;
        else call.calleeByeOk = responseTo(req, 200, 'OK');
        return this.#send(callee, call.calleeByeOk);
      default:
        return this.#fail(`unexpected ${method} in a call`, 1, req.callId);
    }
  }

  #forgetCall(call: Call): void {
    clearTimeout(call.retransmitTimer);
    this.#calls.delete(call.callId);
    const old = this.#recentCallRing[this.#recentCallAt];
    if (old !== undefined) this.#recentCalls.delete(old);
    this.#recentCallRing[this.#recentCallAt] = call.callId;
    this.#recentCalls.add(call.callId);
    this.#recentCallAt = (this.#recentCallAt + 1) % RECENT;
  }

  /**
   * RFC 3261 §13.3.1.4: "The server retransmits the 2xx response periodically until it receives
   * an ACK", every T1 doubling up to T2, for 64*T1. A browser does this over its WebSocket too: a
   * 2xx that a UDP hop inside the server lost is recovered only this way.
   */
  #retransmitUntilAcked(call: Call, interval: number, since: number): void {
    call.retransmitTimer = setTimeout(() => {
      if (call.calleeAcked || !this.#calls.has(call.callId) || call.pair.callee.dead) return;
      if (performance.now() - since > 32_000) return;
      this.#c.retransmits++;
      this.#send(call.pair.callee, call.calleeFinal!);
      this.#retransmitUntilAcked(call, Math.min(interval * 2, 4000), since);
    }, interval);
  }

  // ---- receiving ---------------------------------------------------------------------------------

  #onData(data: Buffer, conn: WsConnection | undefined, udp: UdpEndpoint | undefined): void {
    this.#c.received++;
    const parsed = parseMessage(data);
    if (!parsed.ok) {
      return this.#fail(`unparsable message (${parsed.error.message})`, 1, data.subarray(0, 60).toString('latin1'));
    }
    const message = parsed.message;
    try {
      if (message.kind === 'request') return this.#onRequest(message, conn, udp);
      this.#onResponse(message, conn, udp);
    } catch (err) {
      this.#fail(`malformed ${message.kind} (${(err as Error).message})`);
    }
  }

  #onResponse(res: Response, conn: WsConnection | undefined, udp: UdpEndpoint | undefined): void {
    const branch = res.topVia?.params.get('branch') ?? '';
    const t = this.#pending.get(branch);
    if (!t) {
      if (this.#recent.has(branch)) {
        this.#c.duplicates++;
        // A 2xx to an INVITE again: our ACK was lost, send it again (RFC 3261 §13.2.2.4).
        const call = res.status >= 200 && res.status < 300 && res.cseq.method === 'INVITE' ? this.#calls.get(res.callId) : undefined;
        if (call?.ack) this.#send(call.pair.caller, call.ack);
        return;
      }
      return this.#fail('response matching no open transaction', 1, `${res.status} ${res.cseq.method} ${res.callId}`);
    }
    const cseq = res.cseq;
    if (res.callId !== t.callId || cseq.seq !== t.cseq || cseq.method !== t.method) {
      this.#finish(t);
      this.#fail('response with the branch of a transaction but another Call-ID or CSeq', 1, `${res.callId} ${cseq.seq} ${cseq.method}`);
      return t.done(undefined, 'mismatch');
    }
    if (conn ? conn !== t.ua.conn : udp !== t.ua.udp) {
      this.#finish(t);
      this.#fail('response arrived on another connection than its request');
      return t.done(undefined, 'wrong flow');
    }
    if (res.status < 200) return;
    this.#finish(t);
    t.done(res);
  }

  #finish(t: ClientTxn): void {
    this.#pending.delete(t.branch);
    const old = this.#recentRing[this.#recentAt];
    if (old !== undefined) this.#recent.delete(old);
    this.#recentRing[this.#recentAt] = t.branch;
    this.#recent.add(t.branch);
    this.#recentAt = (this.#recentAt + 1) % RECENT;
  }

  /** Transactions are kept in send order, so the sweep stops at the first one still in time. */
  #sweep(): void {
    const limit = performance.now() - (this.plan.transactionTimeoutMs ?? 8000);
    for (const t of this.#pending.values()) {
      if (t.sentAt > limit) break;
      this.#finish(t);
      this.#fail(`${t.method} timed out`);
      t.done(undefined, 'timeout');
    }
  }

  #fail(kind: string, n = 1, detail?: string): void {
    this.#c.failures[kind] = (this.#c.failures[kind] ?? 0) + n;
    if (this.#c.samples.length < SAMPLE_LIMIT) this.#c.samples.push(detail ? `${kind}: ${detail}` : kind);
  }

  #result(started: number, useLast: boolean): PhaseResult {
    const end = useLast && this.#c.ops > 0 ? this.#c.lastAt : performance.now();
    return {
      ops: this.#c.ops,
      failures: { ...this.#c.failures },
      warnings: { ...this.#c.warnings },
      errorSamples: [...this.#c.samples],
      duplicates: this.#c.duplicates,
      retransmits: this.#c.retransmits,
      elapsedMs: end - started,
      latency: this.#latency.snapshot(),
      sent: this.#c.sent,
      received: this.#c.received,
      openConnections: this.openConnections,
    };
  }
}
