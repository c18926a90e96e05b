/**
 * The edge's proxy core: the transaction user that decides where each message goes.
 *
 * Browser → core: loose-route past our own Route entries, Path on REGISTER, double Record-Route on
 * dialog-creating requests, then a client transaction over UDP or TCP to the core chosen by Call-ID
 * (UDP needs the retransmissions a browser on a reliable transport will never send). A core that stays
 * silent or refuses the send gets the request taken away and re-sent, new branch, to the next core.
 *
 * Core → browser: our Route entries popped; the flow token in one of them names the connection. A
 * token that does not verify is refused (403), one for a flow that is gone gets 430 Flow Failed
 * (RFC 5626 §5.3). Everything that arrives from a core gets a server transaction, which absorbs the
 * core's retransmissions over UDP.
 */
import type { Logger } from 'pino';
import { createResponse } from '../sip/message/factory.js';
import { parseMessage, validateMessage } from '../sip/message/parser.js';
import type { SipMessage, SipRequest, SipResponse } from '../sip/message/model.js';
import { addVia, decrementMaxForwards, generateBranch, statelessBranchSeed } from '../sip/message/proxy-helpers.js';
import { FlowTokenCodec } from '../sip/outbound/flow-token.js';
import type { ClientTransaction } from '../sip/transaction/client-transaction.js';
import { buildCancel } from '../sip/transaction/request-builders.js';
import type { ServerInviteTransaction } from '../sip/transaction/server-invite-transaction.js';
import type { ServerTransaction } from '../sip/transaction/server-transaction.js';
import type { TimerSettings } from '../sip/transaction/timers.js';
import { TransactionLayer } from '../sip/transaction/transaction-layer.js';
import type { TransactionUser } from '../sip/transaction/transaction-user.js';
import type { ReceivedFrom, TransportTarget } from '../sip/transport/transport.js';
import type { CoreHealth } from './core-health.js';
import type { CorePool } from './core-pool.js';
import type { EdgeSender } from './edge-sender.js';
import {
  coreSideRecordRoute, isDialogCreating, namesThisEdge, pathUri, uriHost, wantsOutbound, wsSideRecordRoute, type EdgeIdentity, type Endpoint,
} from './edge-uris.js';
import type { Flow } from './flow.js';
import type { FlowTable } from './flow-table.js';
import { Forwarding, ForwardingIndex } from './forwarding.js';
import type { EdgeMetrics } from './metrics.js';

export interface EdgeProxyOptions {
  sender: EdgeSender;
  flows: FlowTable;
  cores: CorePool;
  codec: FlowTokenCodec;
  identity: EdgeIdentity;
  metrics: EdgeMetrics;
  log: Logger;
  /** Added to a Flow-Timer before an idle flow is closed, ms. */
  flowTimerGrace: number;
  /** Transaction timer overrides (tests shorten T1). */
  timers?: Partial<TimerSettings>;
  /** Timer C (RFC 3261 §16.6 step 11) for INVITEs that got a provisional and then nothing, ms. */
  timerC: number;
}

/** Our Route entries at the top of a request, popped; the flow token of the last one carrying one. */
interface PoppedRoutes {
  count: number;
  token: string | undefined;
}

export class EdgeProxy implements TransactionUser {
  readonly layer: TransactionLayer;
  readonly #o: EdgeProxyOptions;
  readonly #index = new ForwardingIndex();
  readonly #timersC = new Map<Forwarding, NodeJS.Timeout>();

  constructor(options: EdgeProxyOptions) {
    this.#o = options;
    this.layer = new TransactionLayer({
      transport: options.sender,
      user: this,
      ...(options.timers ? { timers: options.timers } : {}),
    });
  }

  get pendingForwardings(): number {
    return this.#index.pending;
  }

  /** Forwardings still waiting for their final response. */
  get awaitingFinal(): number {
    return this.#index.awaitingFinal;
  }

  /** Where a message from this flow came from, for the transaction layer. */
  static sourceOf(flow: Flow, local: Endpoint): ReceivedFrom {
    return {
      protocol: flow.transport,
      remoteAddress: flow.ip,
      remotePort: flow.port,
      localAddress: local.host,
      localPort: local.port,
      connectionId: flow.id,
    };
  }

  // ---- TransactionUser -------------------------------------------------------------------------

  onRequest(request: SipRequest, tx: ServerTransaction): void {
    const source = tx.source;
    // Every header a proxy reads (Max-Forwards, Route, Record-Route, Contact ...) parses now or the
    // request is answered 400 here, not half-way through forwarding.
    const invalid = validateMessage(request);
    if (invalid) {
      this.#o.metrics.refuse('parse-error');
      const answer = errorResponse(request, 400, invalid.message);
      // Unanswerable (the broken header is one a response copies): end the transaction silently.
      if (answer) tx.respond(answer);
      else tx.dispose();
      return;
    }
    if (this.#o.log.isLevelEnabled('debug')) {
      this.#o.log.debug({ callId: request.callId, method: request.method, flow: source.connectionId, from: `${source.remoteAddress}:${source.remotePort}` }, 'request received');
    }
    if (source.protocol === 'ws' || source.protocol === 'wss') {
      const flow = source.connectionId !== undefined ? this.#o.flows.get(source.connectionId) : undefined;
      if (!flow?.open) return; // gone while we were parsing; nobody to answer
      this.#fromBrowser(request, tx, flow);
    } else {
      this.#fromCore(request, tx);
    }
  }

  onAck(ack: SipRequest, source: ReceivedFrom): void {
    // The ACK for a 2xx is end-to-end (RFC 3261 §13.2.2.4): a transaction-stateful proxy forwards
    // it statelessly, along its Route (§16.11).
    if (validateMessage(ack)) {
      this.#o.metrics.refuse('parse-error');
      return;
    }
    try {
      if (source.protocol === 'ws' || source.protocol === 'wss') this.#ackUp(ack);
      else this.#ackDown(ack);
    } catch (err) {
      this.#o.log.debug({ err, callId: safe(() => ack.callId), flow: source.connectionId }, 'ACK not forwarded');
    }
  }

  onStrayResponse(response: SipResponse, source: ReceivedFrom): void {
    // RFC 6026 §7.3: a response matching no transaction is not forwarded (the transactions that
    // could have wanted it are gone; 2xx retransmissions are covered by the Accepted state).
    this.#o.log.debug({ status: response.status, callId: safe(() => response.callId), flow: source.connectionId, from: `${source.remoteAddress}:${source.remotePort}` }, 'stray response dropped');
  }

  onMalformed(message: SipMessage, error: Error, source: ReceivedFrom): void {
    this.#o.metrics.refuse('parse-error');
    if (message.kind !== 'request' || message.method === 'ACK') return;
    const flow = source.connectionId !== undefined ? this.#o.flows.get(source.connectionId) : undefined;
    if (flow) this.replyToFlow(flow, message, 400, error.message.slice(0, 80));
  }

  // ---- browser → core --------------------------------------------------------------------------

  #fromBrowser(request: SipRequest, tx: ServerTransaction, flow: Flow): void {
    if (request.method === 'CANCEL') return this.#cancel(request, tx);
    const out = this.#copyToForward(request, tx);
    if (!out) return;
    // RFC 3261 §16.4: a Route naming us is ours to remove (loose routing). A browser in a dialog
    // sends both our Record-Route URIs of its side of the dialog; both name this edge.
    this.#popTraversal(out, 'browser');
    if (this.#nextRouteIsUs(out) && out.to.params.has('tag')) {
      // Both ends are browsers on this edge and nothing between them record-routed: the dialog's
      // route set goes out of our UDP side and straight back in. Take the second pass here, as a
      // request arriving from the core side. Only inside a dialog: a request that would start
      // one always goes to a core, whatever Route a browser preloads.
      this.#toFlow(request, out, tx);
      return;
    }
    if (out.method === 'REGISTER') {
      // RFC 3327 §5.2 / RFC 5626 §5.2: a Path naming this flow, so requests for the registration
      // come back through this edge and onto this connection.
      out.prepend('Path', pathUri(this.tokenFor(flow), this.#o.identity, wantsOutbound(request)));
      if (!out.values('Supported').some((s) => s.trim().toLowerCase() === 'path')) out.append('Supported', 'path');
    } else if (isDialogCreating(out)) {
      // Two Record-Route entries (RFC 5658 style): the browser's route set starts with the
      // WebSocket-side URI, the far end's with the UDP side. Prepending puts the core side on top.
      out.prepend('Record-Route', wsSideRecordRoute(this.tokenFor(flow), flow.transport, this.#wsEndpoint(flow)));
      out.prepend('Record-Route', coreSideRecordRoute(this.#o.identity));
    }
    const f = new Forwarding(tx, 'to-core', flow, out);
    this.#index.add(f);
    tx.delegate = {
      onTerminated: () => this.#finish(f),
      onTransportError: () => this.#browserGone(f),
    };
    this.#toCore(f);
  }

  /**
   * Sends (or re-sends) a forwarding to the best core it has not tried yet. With none left, the
   * browser gets what the last attempt amounted to (RFC 3261 §16.7: a timeout counts as 408), or
   * 503 when there was no core to try at all.
   */
  #toCore(f: Forwarding, lastOutcome?: 408 | 503): void {
    const core = this.#chooseCore(f);
    if (!core) {
      this.#index.atCore(f, undefined);
      if (f.tried === undefined) this.#o.metrics.refuse('no-core');
      if (lastOutcome === 408) this.#respondFinal(f, 408);
      else this.#respondFinal(f, 503, [['Retry-After', '5']]);
      return;
    }
    (f.tried ??= new Set()).add(core);
    this.#index.atCore(f, core);
    const attempt = ++f.attempt;
    f.responded = false;
    f.provisional = false;
    const request = f.template.clone();
    const { udp, coreTransport = 'udp' } = this.#o.identity;
    // rport (RFC 3581) only over UDP: over TCP the answer comes back on the connection.
    addVia(request, { transport: coreTransport.toUpperCase(), host: uriHost(udp.host), port: udp.port, branch: generateBranch(), rport: coreTransport === 'udp' });
    const target: TransportTarget = { protocol: coreTransport, host: core.address.host, port: core.address.port };
    f.client = this.#startClient(f, request, target, attempt);
  }

  #chooseCore(f: Forwarding): CoreHealth | undefined {
    const cores = this.#o.cores;
    if (f.tried === undefined) {
      // A request in a dialog carries the core's Record-Route as its next Route: keep it there.
      const next = safe(() => f.template.routes[0]);
      const named = next ? cores.find(bareHost(next.uri.host), next.uri.port ?? 5060) : undefined;
      if (named?.usable) return named;
    }
    return cores.pick(safe(() => f.template.callId) ?? '', f.tried);
  }

  /**
   * RFC 3261 §16.6 steps 1 and 3: the copy that is forwarded, Max-Forwards decremented; undefined
   * when it reached zero and 483 has been answered.
   */
  #copyToForward(request: SipRequest, tx: ServerTransaction): SipRequest | undefined {
    const out = request.clone();
    if (decrementMaxForwards(out) !== null) return out;
    this.#o.metrics.refuse('too-many-hops');
    tx.respond(createResponse(request, 483, undefined, { toTag: true }));
    return undefined;
  }

  // ---- core → browser --------------------------------------------------------------------------

  #fromCore(request: SipRequest, tx: ServerTransaction): void {
    if (request.method === 'CANCEL') return this.#cancel(request, tx);
    const out = this.#copyToForward(request, tx);
    if (!out) return;
    this.#toFlow(request, out, tx);
  }

  /** Pops the core-side traversal of this edge and delivers on the flow its token names. */
  #toFlow(request: SipRequest, out: SipRequest, tx: ServerTransaction): void {
    const popped = this.#popTraversal(out, 'core');
    if (popped.token === undefined) {
      if (out.method === 'OPTIONS' && popped.count === 0 && out.routes.length === 0 && namesThisEdge(out.uri, this.#o.identity)) {
        // A core's keepalive probe of this edge.
        tx.respond(createResponse(request, 200, undefined, { toTag: true, headers: [['Allow', 'INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, SUBSCRIBE, NOTIFY, REFER, MESSAGE, INFO, UPDATE, PRACK']] }));
        return;
      }
      this.#o.metrics.refuse('no-flow');
      tx.respond(createResponse(request, 404, 'No Flow Named', { toTag: true }));
      return;
    }
    const flow = this.#flowForToken(popped.token);
    if (flow.ok === false) {
      tx.respond(createResponse(request, flow.status, flow.reason, { toTag: true }));
      return;
    }
    if (isDialogCreating(out)) {
      // The browser is the UAS here: its route set is the Record-Route list as it arrives, so the
      // WebSocket-side URI goes on top and the core side under it.
      out.prepend('Record-Route', coreSideRecordRoute(this.#o.identity));
      out.prepend('Record-Route', wsSideRecordRoute(this.tokenFor(flow.flow), flow.flow.transport, this.#wsEndpoint(flow.flow)));
    }
    const f = new Forwarding(tx, 'to-flow', flow.flow, out);
    this.#index.add(f);
    tx.delegate = { onTerminated: () => this.#finish(f) };
    const attempt = ++f.attempt;
    const request2 = out.clone();
    const ws = this.#wsEndpoint(flow.flow);
    addVia(request2, { transport: flow.flow.transport.toUpperCase(), host: uriHost(ws.host), port: ws.port, branch: generateBranch() });
    f.client = this.#startClient(f, request2, this.#flowTarget(flow.flow), attempt);
  }

  /** Verifies a token and finds its open flow, or says how to refuse. */
  #flowForToken(token: string): { ok: true; flow: Flow } | { ok: false; status: number; reason: string } {
    const decoded = this.#o.codec.decode(token);
    if (!decoded.ok) {
      if (decoded.error === 'other-node') {
        this.#o.metrics.refuse('other-node-token');
        return { ok: false, status: 403, reason: 'Flow Token Of Another Edge' };
      }
      this.#o.metrics.refuse('forged-token');
      return { ok: false, status: 403, reason: 'Invalid Flow Token' };
    }
    const flow = this.#o.flows.get(decoded.ref.flow);
    if (!flow?.open || flow.ip !== decoded.ref.host) {
      // RFC 5626 §5.3: "if the flow token is invalid or the flow has failed, the proxy SHOULD send
      // a 430 (Flow Failed) response to the request."
      this.#o.metrics.refuse('flow-failed');
      return { ok: false, status: 430, reason: 'Flow Failed' };
    }
    return { ok: true, flow };
  }

  #flowTarget(flow: Flow): TransportTarget {
    return { protocol: flow.transport, host: flow.ip, port: flow.port, connectionId: flow.id, noConnect: true };
  }

  // ---- the client side of a forwarding -----------------------------------------------------------

  #startClient(f: Forwarding, request: SipRequest, target: TransportTarget, attempt: number): ClientTransaction | undefined {
    try {
      return this.layer.sendRequest(request, target, {
        onResponse: (response) => {
          if (attempt === f.attempt) this.#response(f, response);
        },
        onTimeout: () => {
          if (attempt === f.attempt) this.#attemptFailed(f, 'timeout');
        },
        onTransportError: (err) => {
          if (attempt === f.attempt) this.#attemptFailed(f, 'transport', err);
        },
      });
    } catch (err) {
      this.#o.log.warn({ err, callId: safe(() => f.template.callId), flow: f.flow?.id }, 'could not start a client transaction');
      this.#respondFinal(f, 500);
      return undefined;
    }
  }

  #response(f: Forwarding, response: SipResponse): void {
    f.responded = true;
    const status = response.status;
    if (status < 200) f.provisional = true;
    if (f.cancel === 'wanted' && f.provisional) this.#sendCancel(f);
    // RFC 3261 §16.7 step 3: "The proxy removes the topmost Via header field value from the response."
    response.removeFirstValue('Via');
    if (response.values('Via').length === 0) return; // it was addressed to us alone
    if (status === 100) return; // hop-by-hop: our server transaction sent its own
    if (status >= 200) {
      f.final = true;
      this.#stopTimerC(f);
      this.#index.atCore(f, undefined);
      if (f.direction === 'to-core' && f.method === 'REGISTER' && status < 300) this.#applyFlowTimer(f.flow, response);
    } else if (f.method === 'INVITE') {
      this.#startTimerC(f);
    }
    f.server.respond(response);
    if (f.final) f.settle();
  }

  /**
   * RFC 5626 §4.4.1 / §5.4: the registrar's Flow-Timer says how often the UA will send keepalives;
   * a flow silent for longer (plus a grace for network delay) is dead, and is closed.
   */
  #applyFlowTimer(flow: Flow, response: SipResponse): void {
    const text = response.get('Flow-Timer');
    if (text === undefined) return;
    const seconds = Number(text.trim());
    if (!Number.isInteger(seconds) || seconds <= 0 || seconds > 86400) return;
    flow.idleLimit = seconds * 1000 + this.#o.flowTimerGrace;
  }

  /**
   * Timer B/F fired or the transport refused the send. RFC 3261 §16.7/§16.8 treat these as a 408
   * or 503 from that branch; before any response arrived the request is safely re-sent elsewhere
   * (an INVITE only while it has no provisional, which "before any response" implies).
   */
  #attemptFailed(f: Forwarding, why: 'timeout' | 'transport', err?: Error): void {
    if (f.final) return;
    if (f.direction === 'to-flow') {
      if (why === 'transport') this.#o.metrics.refuse('flow-failed');
      this.#respondFinal(f, why === 'transport' ? 430 : 408);
      return;
    }
    if (why === 'transport') {
      const attempt = f.attempt;
      f.core?.failure();
      // That failure may have marked the core down, and coreDown() already moved this request on.
      if (f.attempt !== attempt || f.final) return;
    }
    if (!f.responded && f.cancel === 'none') {
      this.#o.log.debug({ core: f.core?.id, why, err: err?.message, callId: safe(() => f.template.callId), flow: f.flow?.id }, 'core attempt failed; trying the next core');
      if (this.#o.cores.pick(safe(() => f.template.callId) ?? '', f.tried)) this.#o.metrics.coreRetries.inc();
      this.#toCore(f, why === 'timeout' ? 408 : 503);
      return;
    }
    this.#respondFinal(f, why === 'transport' ? 503 : 408);
  }

  /**
   * A core went down: take back every request sent to it that has not been answered at all. One
   * it had answered provisionally (an INVITE with 100 or 180) must not go elsewhere (the core may
   * have forked it), but nothing can answer it any more either: every response would come back
   * through the dead core. The browser gets 408 now rather than after Timer C (§16.7: a branch
   * that cannot answer counts as a timeout).
   */
  coreDown(core: CoreHealth): void {
    for (const f of this.#index.pendingAt(core)) {
      if (f.final) continue;
      if (f.responded) {
        f.attempt++;
        f.client?.dispose();
        this.#o.metrics.refuse('core-lost');
        this.#respondFinal(f, 408);
        continue;
      }
      if (f.cancel !== 'none') continue;
      const old = f.client;
      f.attempt++; // silences the old attempt's callbacks
      old?.dispose();
      this.#o.metrics.coreRetries.inc();
      this.#toCore(f);
    }
  }

  /** The browser's connection is gone: cancel what it had started, fail what was going to it. */
  flowClosed(flow: Flow): void {
    for (const f of this.#index.onFlow(flow.id)) {
      if (f.final) continue;
      if (f.direction === 'to-flow') {
        const old = f.client;
        f.attempt++;
        old?.dispose();
        this.#o.metrics.refuse('flow-failed');
        this.#respondFinal(f, 430);
      } else if (f.method === 'INVITE') {
        f.cancel = 'wanted';
        if (f.provisional) this.#sendCancel(f);
      }
    }
  }

  #browserGone(f: Forwarding): void {
    if (f.direction === 'to-core' && f.method === 'INVITE' && !f.final) {
      f.cancel = 'wanted';
      if (f.provisional) this.#sendCancel(f);
    }
  }

  #respondFinal(f: Forwarding, status: number, headers?: Array<[string, string]>): void {
    if (f.final) return;
    f.final = true;
    this.#stopTimerC(f);
    this.#index.atCore(f, undefined);
    const st = f.server.state;
    if (st === 'proceeding' || st === 'trying') {
      f.server.respond(createResponse(f.server.request, status, undefined, { toTag: true, ...(headers ? { headers } : {}) }));
    }
    f.settle();
  }

  #finish(f: Forwarding): void {
    this.#stopTimerC(f);
    this.#index.done(f);
  }

  // ---- CANCEL ------------------------------------------------------------------------------------

  /**
   * RFC 3261 §16.10: "A stateful proxy MAY generate a CANCEL to any other request it has generated
   * at any time [...] the proxy MUST respond to the CANCEL [...] with a 200 (OK)", then cancel
   * the pending client transactions of the matching INVITE. CANCEL is hop-by-hop.
   */
  #cancel(request: SipRequest, tx: ServerTransaction): void {
    const invite = this.layer.findInviteForCancel(request);
    if (!invite) {
      tx.respond(createResponse(request, 481, undefined, { toTag: true }));
      return;
    }
    tx.respond(createResponse(request, 200, undefined, { toTag: true }));
    const f = this.#index.forServer(invite as ServerInviteTransaction);
    if (!f || f.final || f.cancel !== 'none') return;
    f.cancel = 'wanted';
    // §9.1: "If no provisional response has been received, the CANCEL request MUST NOT be sent;
    // rather, the client transaction MUST wait for the arrival of a provisional response".
    if (f.provisional) this.#sendCancel(f);
  }

  #sendCancel(f: Forwarding): void {
    const client = f.client;
    if (f.cancel !== 'wanted' || !client || client.terminated) return;
    f.cancel = 'sent';
    try {
      this.layer.sendRequest(buildCancel(client.request), client.target, {});
    } catch (err) {
      this.#o.log.debug({ err, callId: safe(() => client.request.callId), flow: f.flow?.id }, 'CANCEL not sent');
    }
  }

  /**
   * RFC 3261 §16.6 step 11: "If the client transaction receives a provisional response, Timer C
   * MUST be reset [...] When timer C fires, the proxy MUST either reset the timer with any value it
   * chooses, or terminate the client transaction" — we cancel it, and answer 408 if nothing comes.
   */
  #startTimerC(f: Forwarding): void {
    this.#stopTimerC(f);
    const t = setTimeout(() => {
      this.#timersC.delete(f);
      if (f.final) return;
      f.cancel = 'wanted';
      this.#sendCancel(f);
      this.#respondFinal(f, 408);
    }, this.#o.timerC);
    t.unref();
    this.#timersC.set(f, t);
  }

  #stopTimerC(f: Forwarding): void {
    const t = this.#timersC.get(f);
    if (t) clearTimeout(t);
    this.#timersC.delete(f);
  }

  // ---- ACK for 2xx -------------------------------------------------------------------------------

  #ackUp(ack: SipRequest): void {
    if (decrementMaxForwards(ack) === null) return;
    this.#popTraversal(ack, 'browser');
    if (this.#nextRouteIsUs(ack)) return this.#ackToFlow(ack);
    const next = safe(() => ack.routes[0]);
    const named = next ? this.#o.cores.find(bareHost(next.uri.host), next.uri.port ?? 5060) : undefined;
    const core = named?.usable ? named : this.#o.cores.pick(ack.callId);
    if (!core) return;
    const seed = statelessBranchSeed(ack);
    const { udp, coreTransport = 'udp' } = this.#o.identity;
    addVia(ack, { transport: coreTransport.toUpperCase(), host: uriHost(udp.host), port: udp.port, branch: generateBranch(seed), rport: coreTransport === 'udp' });
    this.layer.send(ack, { protocol: coreTransport, host: core.address.host, port: core.address.port }).catch(() => undefined);
  }

  #ackDown(ack: SipRequest): void {
    if (decrementMaxForwards(ack) === null) return;
    this.#ackToFlow(ack);
  }

  #ackToFlow(ack: SipRequest): void {
    const popped = this.#popTraversal(ack, 'core');
    if (popped.token === undefined) return;
    const found = this.#flowForToken(popped.token);
    if (!found.ok) return;
    const seed = statelessBranchSeed(ack);
    const ws = this.#wsEndpoint(found.flow);
    addVia(ack, { transport: found.flow.transport.toUpperCase(), host: uriHost(ws.host), port: ws.port, branch: generateBranch(seed) });
    this.layer.send(ack, this.#flowTarget(found.flow)).catch(() => undefined);
  }

  // ---- helpers -----------------------------------------------------------------------------------

  /**
   * Removes this edge's Route entries for one pass through it (loose routing, RFC 3261 §16.4).
   * A request from a browser came in on the WebSocket side, so its pass ends with our core-facing
   * (UDP) URI; a request from a core came in on the UDP side, so its pass ends with the entry that
   * carries a flow token (the WebSocket-side Record-Route or the Path). When two browsers on this
   * edge share a dialog, their route set holds both passes: the second one is left in place.
   */
  #popTraversal(request: SipRequest, from: 'browser' | 'core'): PoppedRoutes {
    const id = this.#o.identity;
    const result: PoppedRoutes = { count: 0, token: undefined };
    for (let i = 0; i < 4; i++) {
      const top = request.routes[0];
      if (!top || !namesThisEdge(top.uri, id)) break;
      request.removeFirstValue('Route');
      result.count++;
      const token = top.uri.user !== undefined && top.uri.user.length > 0 ? top.uri.user : undefined;
      if (token !== undefined) result.token = token;
      if (from === 'browser' && namesThisEdge(top.uri, { udp: id.udp })) break;
      if (from === 'core' && (token !== undefined || !namesThisEdge(top.uri, { udp: id.udp }))) break;
    }
    return result;
  }

  #nextRouteIsUs(request: SipRequest): boolean {
    const next = request.routes[0];
    return next !== undefined && namesThisEdge(next.uri, this.#o.identity);
  }

  /** The signed flow token this edge writes into Path and Record-Route for a flow (minted once per flow). */
  tokenFor(flow: Flow): string {
    flow.token ??= this.#o.codec.encode({ transport: flow.transport, host: flow.ip, port: flow.port, flow: flow.id });
    return flow.token;
  }

  #wsEndpoint(flow: Flow): Endpoint {
    const id = this.#o.identity;
    return (flow.transport === 'wss' ? id.wss ?? id.ws : id.ws ?? id.wss) ?? id.udp;
  }

  /** A stateless answer on a flow (400 to a request we could not take into a transaction). */
  replyToFlow(flow: Flow, request: SipRequest, status: number, reason?: string): void {
    if (!flow.open) return;
    const response = errorResponse(request, status, reason);
    // A request too broken to answer is dropped (already counted).
    if (response) void Promise.resolve(this.#o.sender.send(response, this.#flowTarget(flow))).catch(() => undefined);
  }

  close(): void {
    for (const t of this.#timersC.values()) clearTimeout(t);
    this.#timersC.clear();
    this.layer.close();
  }
}

/**
 * An error response to a broken request, or undefined when none can be built that parses: RFC 3261
 * §8.2.6.2 copies Via, From, To, Call-ID and CSeq, so when one of those is what was broken the
 * answer would be just as broken (a fuzzer found such 400s) and nobody could match it anyway.
 */
function errorResponse(request: SipRequest, status: number, reason?: string): SipResponse | undefined {
  try {
    const response = createResponse(request, status, reason?.replace(/[\r\n]/g, ' '), { toTag: true });
    return parseMessage(response.toBuffer(), undefined, { validate: true }).ok ? response : undefined;
  } catch {
    return undefined;
  }
}

function safe<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

function bareHost(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}
