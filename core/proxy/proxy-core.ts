/**
 * The transaction user of a core node (RFC 3261 §16): validates, preprocesses routing, decides
 * targets (registrar, location service, GRUUs, flows it holds, rewritten contacts), forks, and
 * relays responses through a ResponseContext. REGISTER for our domains goes to the registrar.
 *
 * Cores never Record-Route: an in-dialog request can enter the cluster at any core. What makes
 * that work is in the URIs: edges and home cores put flow tokens into Path/Record-Route, and a
 * home core rewrites the Contact of a UA attached to it into a cluster URI (contact-rewrite.ts);
 * browsers use their GRUU as Contact. Any core resolves each of these without dialog state.
 */
import { randomBytesPooled } from '../../sip/message/random-pool.js';
import type { SipRequest, SipResponse } from '../../sip/message/model.js';
import { createResponse } from '../../sip/message/factory.js';
import { addVia, decrementMaxForwards } from '../../sip/message/proxy-helpers.js';
import { formatUri, parseUri, type SipUri } from '../../sip/grammar/uri.js';
import { parseNameAddr, formatNameAddr } from '../../sip/grammar/name-addr.js';
import { FlowTokenCodec } from '../../sip/outbound/flow-token.js';
import {
  buildCancel,
  serverKey,
  type ClientTransaction,
  type ServerInviteTransaction,
  type ServerTransaction,
  type TransactionLayer,
  type TransactionUser,
} from '../../sip/transaction/index.js';
import { isReliableProtocol, type ReceivedFrom, type TransportTarget } from '../../sip/transport/transport.js';
import { responseTarget } from '../../sip/transport/response-target.js';
import type { Logger } from '../../runtime/logger.js';
import type { LocationStore } from '../location/location-store.js';
import type { RegistrarService } from '../registrar/registrar-service.js';
import { TempGruuCodec } from '../registrar/gruu.js';
import type { Authorizer } from '../auth/authorizer.js';
import type { CoreMetrics } from '../core-metrics.js';
import { methodLabel, statusLabel } from '../core-metrics.js';
import { validateRequest, computeLoopHash, isSendable, type Rejection } from './request-validation.js';
import { groupByQ, targetsFromBindings, bindingsForPubGruu, bindingsForTempGruu, type Target } from './targets.js';
import { ResponseContext, type BranchEvents, type BranchHandle, type ForkTarget } from './response-context.js';
import { HomeFlows } from './home-flows.js';
import { originalContact, rewrittenContactUri } from './contact-rewrite.js';
import { uriToNextHop } from './next-hop.js';
import type { MediaAnchor } from '../media/media-anchor.js';
import { uriSide, type MediaSide } from '../media/media-policy.js';

export interface ProxyCoreDeps {
  layer: () => TransactionLayer;
  store: LocationStore;
  registrar: RegistrarService;
  authorizer: Authorizer | undefined;
  homeFlows: HomeFlows;
  tempGruus: TempGruuCodec;
  domain: string;
  isOurDomain(host: string, port?: number): boolean;
  metrics: CoreMetrics;
  log: Logger;
  /** Via transport for requests we send over each protocol. */
  viaFor(target: TransportTarget): { transport: string; host: string; port: number };
  timerCMs?: number;
  /** rtpengine control, when configured: WebRTC ⇄ RTP calls get their media anchored. */
  media?: MediaAnchor;
  /**
   * Why this core should get no new work (the location store is unreachable, the node is
   * draining), or undefined: health pings get 503 with it so edges go elsewhere.
   */
  unavailable?: () => string | undefined;
  /**
   * The address failed authentications are counted against (default: the sender's). Behind an
   * edge it must be the browser's, or one password guesser would lock out everybody on that edge.
   */
  clientIp?(request: SipRequest, source: ReceivedFrom): string;
}

/** Where one branch goes: a transport target plus how the request must look when it leaves. */
interface ForwardPlan extends ForkTarget {
  uri?: string;
  routes: string[];
  /** Set when the next hop is a UA on a flow this core holds (its responses' Contact gets rewritten). */
  direct?: ReceivedFromLike;
  /** The next hop is a strict router: it is the Request-URI, whatever Route now holds. */
  strict?: boolean;
  alternates: ForwardPlan[];
}

interface ReceivedFromLike {
  target: TransportTarget;
  token: string;
}

type Resolution = { kind: 'forward'; groups: ForwardPlan[][] } | { kind: 'reply'; status: number; reason?: string; headers?: [string, string][] } | { kind: 'handled' };

const DIALOG_CREATING = new Set(['INVITE', 'SUBSCRIBE', 'REFER', 'NOTIFY', 'UPDATE']);
/** Requests that create a dialog (when they carry no To tag): the home core record-routes those. */
const RECORD_ROUTED = new Set(['INVITE', 'SUBSCRIBE', 'REFER']);

export class ProxyCore implements TransactionUser {
  readonly #d: ProxyCoreDeps;
  readonly #contexts = new Map<ServerTransaction, ResponseContext<ForwardPlan>>();
  /** Keys (§17.2.3) of the REGISTERs being answered without a transaction. */
  readonly #statelessInFlight = new Set<string>();

  constructor(deps: ProxyCoreDeps) {
    this.#d = deps;
  }

  get activeContexts(): number {
    return this.#contexts.size;
  }

  // ---- TransactionUser ----------------------------------------------------------------------

  onRequest(request: SipRequest, tx: ServerTransaction): void {
    this.#d.metrics.messagesIn.inc({ kind: 'request', method: methodLabel(request.method) });
    if (this.#d.log.isLevelEnabled('debug')) {
      const s = tx.source;
      this.#d.log.debug({ callId: safe(() => request.callId), method: request.method, flow: s.connectionId ?? `${s.protocol}:${s.remoteAddress}:${s.remotePort}` }, 'request received');
    }
    this.#handle(request, tx).catch((err: Error) => {
      this.#d.log.error({ err, callId: safe(() => request.callId), method: request.method }, 'request handling failed');
      this.#reply(request, tx, 500, 'Server Internal Error');
    });
  }

  /**
   * A REGISTER for one of our domains that came over a reliable transport is answered without a
   * server transaction, as Kamailio's registrar answers (RFC 3261 §16.11 lets an element be
   * stateless; a registrar's answer depends on nothing but the request and the store). Over TCP
   * nothing retransmits, and Timer J is zero there (§17.2.2), so a transaction would end the
   * moment its response went out: all it would add is its bookkeeping, ~3 µs of the core's ~25
   * per REGISTER. A copy arriving while the first is still being answered (an edge failing over
   * on the same connection) is absorbed as a transaction would absorb it. Returns false, having
   * done nothing, for every request the stateful path must take: REGISTERs with a Route, for
   * another domain or a cluster URI, without an RFC 3261 branch, or over UDP.
   */
  receiveStateless(request: SipRequest, source: ReceivedFrom): boolean {
    if (request.method !== 'REGISTER' || !isReliableProtocol(source.protocol)) return false;
    const d = this.#d;
    let key: string | undefined;
    try {
      const uri = request.uri;
      if (request.routes.length || uri.user || !d.isOurDomain(uri.host, uri.port)) return false;
      key = serverKey(request.topVia, request.method);
    } catch {
      return false; // the stateful path answers what does not parse
    }
    if (key === undefined) return false;
    d.metrics.messagesIn.inc({ kind: 'request', method: 'REGISTER' });
    if (d.log.isLevelEnabled('debug')) {
      d.log.debug({ callId: safe(() => request.callId), method: 'REGISTER', flow: source.connectionId ?? `${source.protocol}:${source.remoteAddress}:${source.remotePort}`, stateless: true }, 'request received');
    }
    if (this.#statelessInFlight.has(key)) {
      d.metrics.retransmissions.inc({ direction: 'absorbed' });
      return true;
    }
    this.#statelessInFlight.add(key);
    const answer = (response: SipResponse | undefined): void => {
      this.#statelessInFlight.delete(key);
      if (!response) return;
      d.metrics.responsesOut.inc({ status: statusLabel(response.status), origin: 'local' });
      d.layer()
        .send(response, responseTarget(request.topVia!, source))
        .catch((err: Error) => d.log.debug({ err: err.message, callId: safe(() => request.callId) }, 'REGISTER answer not sent'));
    };
    const rejection = this.#validate(request);
    if (rejection) {
      answer(this.#buildReply(request, rejection.status, rejection.reason, rejection.headers));
      return true;
    }
    this.#register(request, source).then(answer, (err: Error) => {
      d.log.error({ err, callId: safe(() => request.callId), method: request.method }, 'request handling failed');
      answer(this.#buildReply(request, 500, 'Server Internal Error'));
    });
    return true;
  }

  onAck(ack: SipRequest, source: ReceivedFrom): void {
    this.#d.metrics.messagesIn.inc({ kind: 'request', method: 'ACK' });
    // The ACK for a 2xx is end-to-end (§13.2.2.4): route it like any request, statelessly.
    this.#forwardAck(ack, source).catch((err: Error) => this.#d.log.debug({ err, callId: safe(() => ack.callId) }, 'ACK not forwarded'));
  }

  onStrayResponse(response: SipResponse): void {
    // RFC 6026 §7.3: a proxy MUST NOT forward a response that matches no client transaction.
    this.#d.metrics.dropped.inc({ cause: 'stray-response' });
    this.#d.log.debug({ callId: safe(() => response.callId), status: response.status }, 'stray response dropped');
  }

  onMalformed(message: SipRequest | SipResponse, error: Error, source: ReceivedFrom): void {
    this.#d.metrics.dropped.inc({ cause: 'malformed' });
    if (message.kind === 'request' && message.method !== 'ACK') {
      try {
        const r = createResponse(message, 400, `Bad Request (${error.message})`.replace(/[\r\n]/g, ' ').slice(0, 120), { toTag: true });
        if (!isSendable(r)) return;
        void this.#d.layer().send(r, { protocol: source.protocol, host: source.remoteAddress, port: source.remotePort, ...(source.connectionId ? { connectionId: source.connectionId } : {}) }).catch(() => {});
      } catch {
        /* not even a response can be built: dropped */
      }
    }
  }

  // ---- request handling -------------------------------------------------------------------

  async #handle(request: SipRequest, tx: ServerTransaction): Promise<void> {
    const d = this.#d;
    if (request.method === 'CANCEL') return this.#cancel(request, tx);
    if (request.method === 'BYE' && d.media) this.#releaseMedia(request.callId);

    const rejection = this.#validate(request);
    if (rejection) return this.#reply(request, tx, rejection.status, rejection.reason, rejection.headers);

    const resolution = await this.#resolve(request, tx);
    if (resolution.kind === 'handled') return;
    if (resolution.kind === 'reply') return this.#reply(request, tx, resolution.status, resolution.reason, resolution.headers);
    this.#fork(request, tx, resolution.groups);
  }

  /** §16.3 request validation, counted when it refuses. */
  #validate(request: SipRequest): Rejection | undefined {
    const d = this.#d;
    const rejection = validateRequest(request, { isOwnVia: (h, p) => d.homeFlows.isSelf(h, p) });
    if (rejection) d.metrics.rejected.inc({ cause: String(rejection.status) });
    return rejection;
  }

  /** §16.4 route preprocessing and §16.5 target determination. */
  async #resolve(request: SipRequest, tx: ServerTransaction): Promise<Resolution> {
    const d = this.#d;
    const home = d.homeFlows;

    // §16.4: "If the Request-URI of the request contains a value this proxy previously placed into
    // a Record-Route header field ... the proxy MUST replace the Request-URI with the last value
    // from the Route header field" (a strict router upstream). Our Path URIs are such values.
    if (request.uri.user && request.routes.length && home.isOurUri(request.uri) && !request.uri.params.has('lr') && !originalContact(request.uri)) {
      const last = request.values('Route').pop()!;
      request.uri = parseNameAddr(last).uri;
      const all = request.values('Route').slice(0, -1);
      request.remove('Route');
      for (const r of all) request.append('Route', r);
    }

    // §16.4: "If the first value in the Route header field indicates this proxy, the proxy MUST
    // remove that value from the request." Ours may carry a flow token: the UA's flow.
    let flow: ReceivedFromLike | undefined;
    while (request.routes.length) {
      const top = request.routes[0]!;
      if (!home.isOurUri(top.uri)) break;
      request.removeFirstValue('Route');
      if (top.uri.user) {
        const decoded = home.decode(top.uri.user);
        if (!decoded.ok) {
          d.metrics.rejected.inc({ cause: 'flow-token' });
          return { kind: 'reply', status: 403, reason: decoded.error === 'other-node' ? 'Flow Token Of Another Node' : 'Invalid Flow Token' };
        }
        // Our Record-Route names a flow we hold. A request that came in on that very flow is the
        // UA's own, on its way out: keep routing it. Any other is for the UA: deliver on the flow.
        const r = decoded.ref;
        const source = tx.source;
        const fromThatFlow = r.flow ? r.flow === source.connectionId : r.host.replace(/^\[|\]$/g, '') === source.remoteAddress && r.port === source.remotePort;
        if (fromThatFlow) continue;
        flow = { target: HomeFlows.targetOf(r), token: top.uri.user };
        break;
      }
    }
    if (flow) {
      // Delivered through our Record-Route: a Request-URI that is the Contact we rewrote for this
      // UA goes back to the UA's own Contact, as when it arrives without a Route (below).
      const original = originalContact(request.uri);
      if (original && request.uri.user && FlowTokenCodec.peekNode(request.uri.user) === home.nodeId) request.uri = parseUri(original);
      return { kind: 'forward', groups: [[{ routes: [], direct: flow, alternates: [] }]] };
    }

    this.#dropStaleEdgeRoutes(request);
    if (request.routes.length && request.to.params.get('tag') && (request.uri.params.has('gr') || TempGruuCodec.looksLikeTempGruu(request.uri.user))) {
      await this.#followMovedUa(request);
    }

    // Local policy (RFC 3261 §16.4 leaves it to the proxy; Kamailio's reference configuration does
    // the same): a Route still left on a request that starts a dialog or stands alone was preloaded
    // by the sender, not recorded by us, and following it would make this core anybody's relay to
    // any address, before any authentication. Such a request is routed by its Request-URI instead,
    // under the domain and authentication rules below. Requests inside a dialog follow their route set.
    if (request.routes.length && !request.to.params.get('tag')) {
      request.remove('Route');
    }

    // §16.6 step 6 / loose routing: a remaining Route decides the next hop; the URI stays.
    if (request.routes.length) {
      if (!request.routes[0]!.uri.params.has('lr')) {
        // Strict-router compatibility (§16.6 step 6, "postprocessing routing information"): the
        // next hop expects its URI in the Request-URI and the old Request-URI at the end of Route.
        const route = request.removeFirstValue('Route')!;
        request.append('Route', `<${request.uriText}>`);
        request.uri = parseNameAddr(route).uri;
        return { kind: 'forward', groups: [[{ routes: [], alternates: [], strict: true }]] };
      }
      return { kind: 'forward', groups: [[{ routes: [], alternates: [] }]] };
    }

    const uri = request.uri;
    const ours = d.isOurDomain(uri.host, uri.port);
    if (!ours) {
      // In-dialog requests follow the route set the UAs agreed on; new requests to domains we do
      // not serve are not relayed (we are nobody's open relay).
      if (request.to.params.get('tag')) return { kind: 'forward', groups: [[{ routes: [], alternates: [] }]] };
      d.metrics.rejected.inc({ cause: 'foreign-domain' });
      return { kind: 'reply', status: 403, reason: 'Relaying Denied: Domain Not Served Here' };
    }

    // A Contact this cluster rewrote (home proxy of a directly attached UA).
    const original = originalContact(uri);
    if (original && uri.user) {
      const node = FlowTokenCodec.peekNode(uri.user);
      if (node === home.nodeId) {
        const decoded = home.decode(uri.user);
        if (!decoded.ok) return { kind: 'reply', status: 404, reason: 'Unknown Contact' };
        request.uri = parseUri(original);
        return { kind: 'forward', groups: [[{ routes: [], direct: { target: HomeFlows.targetOf(decoded.ref), token: uri.user }, alternates: [] }]] };
      }
      // Another node's URI: relay there only when the token really is that node's, otherwise
      // anyone could make this core send requests to an address of their choosing.
      const nodeTarget = node && home.verifiesFor(node, uri.user) ? HomeFlows.nodeTarget(node) : undefined;
      if (!nodeTarget) return { kind: 'reply', status: 404, reason: 'Unknown Contact' };
      return { kind: 'forward', groups: [[{ routes: [`<sip:${node};lr>`], alternates: [] }]] };
    }

    if (request.method === 'REGISTER') {
      this.#send(tx, await this.#register(request, tx.source), 'local');
      return { kind: 'handled' };
    }

    if (!uri.user && (request.method === 'OPTIONS' || request.maxForwards === 0)) {
      // OPTIONS to the core itself: health pings from edges and load balancers.
      const unavailable = d.unavailable?.();
      if (unavailable !== undefined) return { kind: 'reply', status: 503, reason: unavailable, headers: [['Retry-After', '5']] };
      return { kind: 'reply', status: 200, reason: 'OK', headers: [['Allow', 'INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER, INFO, UPDATE, PRACK, SUBSCRIBE, NOTIFY, REFER, MESSAGE'], ['Accept', 'application/sdp'], ['Supported', 'path, gruu, outbound']] };
    }

    // Digest for out-of-dialog requests from our own users (RFC 3261 §22.3, 407).
    if (d.authorizer && !request.to.params.get('tag') && request.method !== 'ACK' && d.isOurDomain(request.from.uri.host, request.from.uri.port)) {
      const auth = await d.authorizer.check(request, 'proxy', d.clientIp?.(request, tx.source) ?? tx.source.remoteAddress);
      if (!auth.ok) {
        this.#send(tx, auth.response, 'local');
        return { kind: 'handled' };
      }
      if (request.from.uri.user !== auth.username) return { kind: 'reply', status: 403, reason: 'From Does Not Match Credentials' };
      request.remove('Proxy-Authorization');
    }

    if (!uri.user) return { kind: 'reply', status: 404, reason: 'Not Found' };
    const aor = `sip:${uri.user}@${d.domain}`;
    let bindings;
    const started = performance.now();
    try {
      let user = uri.user;
      let tempClaims;
      if (TempGruuCodec.looksLikeTempGruu(user)) {
        tempClaims = d.tempGruus.open(user);
        if (!tempClaims) return { kind: 'reply', status: 404, reason: 'Unknown GRUU' };
        user = tempClaims.aor;
      }
      bindings = await d.store.lookup(tempClaims ? tempClaims.aor : aor);
      if (tempClaims) bindings = bindingsForTempGruu(bindings, tempClaims);
      else if (uri.params.has('gr')) {
        const instance = uri.params.get('gr');
        // A pub-gruu names exactly one instance (RFC 5627 §7): never fork to the AOR's others.
        bindings = instance ? bindingsForPubGruu(bindings, instance) : [];
      }
      d.metrics.lookups.inc({ outcome: bindings.length ? 'found' : 'empty' });
    } catch (err) {
      d.metrics.lookups.inc({ outcome: 'error' });
      d.metrics.storeErrors.inc({ operation: 'lookup' });
      d.log.warn({ err, callId: request.callId }, 'location lookup failed');
      return { kind: 'reply', status: 503, reason: 'Location Service Unavailable', headers: [['Retry-After', '5']] };
    } finally {
      d.metrics.lookupSeconds.observe((performance.now() - started) / 1000);
    }
    const targets = targetsFromBindings(bindings, Date.now());
    if (targets.length === 0) return { kind: 'reply', status: 480, reason: 'Temporarily Unavailable' };
    return { kind: 'forward', groups: groupByQ(targets).map((g) => g.map((t) => this.#planFor(t))) };
  }

  /**
   * A WebSocket-side edge Route (transport=ws/wss) at the top of a request reaching a core is
   * stale: it is the first entry of a browser's route set, and the browser has since moved to
   * another edge (which popped its own entries). A core can never send to a WebSocket side, so the
   * entry goes, with the UDP-side entry of the same edge after it (the token names that address).
   */
  #dropStaleEdgeRoutes(request: SipRequest): void {
    for (let guard = 0; guard < 8 && request.routes.length; guard++) {
      const top = request.routes[0]!.uri;
      const t = top.params.get('transport')?.toLowerCase();
      if (t !== 'ws' && t !== 'wss') return;
      request.removeFirstValue('Route');
      const node = top.user ? FlowTokenCodec.peekNode(top.user) : undefined;
      const next = request.routes[0]?.uri;
      if (node && next && !next.user && `${next.host}:${next.port ?? 5060}` === node) request.removeFirstValue('Route');
    }
  }

  /**
   * Calls survive an edge loss: the far end's route set still names the browser's old edge, but the
   * Request-URI is the browser's GRUU, so the current flow is one lookup away. When the instance's
   * live bindings no longer go through the edge the Route names, the Route entries up to that edge's
   * go, and the GRUU is resolved like any new request (RFC 5627 §7: a GRUU routes to its instance).
   */
  async #followMovedUa(request: SipRequest): Promise<void> {
    const routes = request.routes;
    const idx = routes.findIndex((r) => r.uri.user && FlowTokenCodec.peekNode(r.uri.user));
    if (idx < 0) return;
    const uri = request.uri;
    let instance: string | undefined;
    let aor: string;
    if (TempGruuCodec.looksLikeTempGruu(uri.user)) {
      const claims = this.#d.tempGruus.open(uri.user!);
      if (!claims) return;
      instance = claims.instance;
      aor = claims.aor;
    } else {
      instance = uri.params.get('gr') ?? undefined;
      aor = `sip:${uri.user}@${this.#d.domain}`;
    }
    if (!instance) return;
    let bindings;
    try {
      bindings = bindingsForPubGruu(await this.#d.store.lookup(aor), instance);
    } catch {
      return; // the Route set still works if the old edge does; nothing better to do without the store
    }
    if (bindings.length === 0) return;
    // Same flow token in the Route and in a live binding's Path: the UA is still on that flow.
    // A different token, even from the same edge, means the flow the dialog knew is gone (the UA
    // reconnected, RFC 5626 §4.2.1): follow the binding instead of collecting a 430.
    const routeToken = routes[idx]!.uri.user!;
    const tokens = bindings.map((b) => (b.path[0] ? pathToken(b.path[0]) : undefined));
    if (tokens.includes(routeToken)) return;
    for (let i = 0; i <= idx; i++) request.removeFirstValue('Route');
    this.#d.metrics.rerouted.inc();
  }

  #planFor(t: Target): ForwardPlan {
    return { uri: t.uri, routes: t.routes, alternates: t.alternates.map((a) => this.#planFor(a)) };
  }

  // ---- forking ------------------------------------------------------------------------------

  #fork(request: SipRequest, tx: ServerTransaction, groups: ForwardPlan[][]): void {
    const d = this.#d;
    const isInvite = request.method === 'INVITE';
    // The hooks read the request through the transaction: once it has answered, it keeps only the
    // request's skeleton (all a late generated response needs; no branch starts after the final
    // response), and the context, reachable from the branches for up to 64*T1, does not keep
    // the whole request alive. Made outside this method: a closure here that named `request`
    // would put it in the scope every hook below shares, and each of them would keep it.
    const original = tx.request === request ? readThrough(tx) : readFixed(request);
    const ctx = new ResponseContext<ForwardPlan>(
      {
        startBranch: (plan, events) => this.#startBranch(original(), tx, plan, events),
        relay: (response) => this.#send(tx, response, 'relayed'),
        generate: (status, reason, headers) => this.#reply(original(), tx, status, reason, headers),
        onDone: () => {
          this.#contexts.delete(tx);
          if (isInvite) d.metrics.callsActive.dec();
        },
      },
      groups,
      { isInvite, ...(d.timerCMs !== undefined ? { timerCMs: d.timerCMs } : {}) },
    );
    this.#contexts.set(tx, ctx);
    if (isInvite) d.metrics.callsActive.inc();
    ctx.start();
  }

  /**
   * §16.6 steps 1–7 for one target: copy, retarget, pre-load the binding's Path, decrement
   * Max-Forwards, and resolve the next hop. When the first route is this core's own Path entry,
   * this core is the target's home proxy: the hop is the flow in its token, not the network.
   */
  #prepare(original: SipRequest, plan: ForwardPlan): { kind: 'ok'; request: SipRequest; direct: ReceivedFromLike | undefined; target: TransportTarget | undefined } | { kind: 'bad-token' } {
    const home = this.#d.homeFlows;
    const request = original.clone();
    if (plan.uri) request.uri = parseUri(plan.uri);
    // §16.6 step 7: pre-loaded routes (the binding's Path) go on top, first element first.
    for (const r of [...plan.routes].reverse()) request.prepend('Route', r);
    // §16.6 step 3: "The proxy MUST decrement the Max-Forwards value by one" (or add it, 70).
    decrementMaxForwards(request);
    let direct = plan.direct;
    const top = request.routes[0];
    if (!direct && top && home.isOurUri(top.uri) && top.uri.user) {
      const decoded = home.decode(top.uri.user);
      request.removeFirstValue('Route');
      if (!decoded.ok) return { kind: 'bad-token' };
      direct = { target: HomeFlows.targetOf(decoded.ref), token: top.uri.user };
    }
    return { kind: 'ok', request, direct, target: direct?.target ?? this.#nextHop(request, plan.strict) };
  }

  #startBranch(original: SipRequest, serverTx: ServerTransaction, plan: ForwardPlan, events: BranchEvents): BranchHandle {
    const d = this.#d;
    const prepared = this.#prepare(original, plan);
    if (prepared.kind === 'bad-token') {
      queueMicrotask(() => events.onFailure('transport'));
      return { cancel() {} };
    }
    const { direct, target } = prepared;
    // Every closure below shares this scope, and the client transaction keeps them for up to
    // 64*T1 after the final response (RFC 6026 Accepted passes 2xx retransmissions up): after the
    // final response `request` becomes its skeleton (Call-ID, tags and method are all still read).
    let request = prepared.request;
    let skeletal = false;
    if (!target) {
      queueMicrotask(() => events.onResponse(createResponse(request, 404, 'No Route To Next Hop', { toTag: true })));
      return { cancel() {} };
    }

    // Seed's challenge 3: a UA that sent this to us directly gets a cluster-routable Contact.
    const fromAttachedUa = request.vias.length === 1;
    if (fromAttachedUa && DIALOG_CREATING.has(request.method)) this.#rewriteContact(request, serverTx.source);
    // RFC 3261 §16.6 step 4: as the home proxy of a UA attached here (it sent this to us, or we are
    // delivering to its flow), stay in the dialog's path with a Record-Route carrying its flow
    // token: the UA's in-dialog requests then come through us (media anchoring sees its
    // re-INVITEs and BYE), and the far end's reach its NAT pinhole here.
    // Both ends may hang off this core: the caller's entry goes first, the callee's on top, and the
    // direction check in #resolve picks the right one for each request.
    if (RECORD_ROUTED.has(request.method) && !request.to.params.get('tag')) {
      if (fromAttachedUa) request.prepend('Record-Route', `<${d.homeFlows.routeUri(d.homeFlows.tokenFor(serverTx.source))}>`);
      if (direct) request.prepend('Record-Route', `<${d.homeFlows.routeUri(direct.token)}>`);
    }

    const via = d.viaFor(target);
    addVia(request, { transport: via.transport, host: via.host, port: via.port, branch: `z9hG4bK${computeLoopHash(original)}.${randomBytesPooled(6).toString('base64url')}`, rport: true });

    let provisional = false;
    let cancelWanted = false;
    let abandoned = false;
    let tx: ClientTransaction | undefined;
    let final = false;
    let cancelGuard: ReturnType<typeof setTimeout> | undefined;
    const sendCancel = () => {
      try {
        d.layer().sendRequest(buildCancel(request), target, {});
      } catch (err) {
        d.log.debug({ err, callId: request.callId }, 'CANCEL not sent');
      }
      // §9.1: "If there is no final response for the original request in 64*T1 seconds ..., the
      // client SHOULD then consider the original transaction cancelled and SHOULD destroy the
      // client transaction handling the original request." Otherwise a callee that rang and then
      // ignored the CANCEL (Timer C, or a forking loser) would hold the caller and this branch forever.
      cancelGuard ??= setTimeout(() => {
        if (final) return;
        final = true;
        tx?.dispose();
        events.onFailure('timeout');
      }, 64 * d.layer().timers.t1);
      cancelGuard.unref?.();
    };
    // Responses of one branch are handled in order even when an answer waits for rtpengine.
    let chain: Promise<void> = Promise.resolve();
    let anchoredFor: MediaSide | undefined;
    const media = d.media;
    const send = () => {
      if (abandoned) {
        if (anchoredFor) this.#releaseMedia(request.callId);
        return;
      }
      try {
        tx = d.layer().sendRequest(request, target, {
          onResponse: (response) => {
            if (response.status >= 200) {
              final = true;
              clearTimeout(cancelGuard);
            }
            if (response.status < 200) {
              provisional = true;
              if (cancelWanted) {
                cancelWanted = false;
                sendCancel();
              }
            }
            response.removeFirstValue('Via');
            if (direct && request.method === 'INVITE' && response.status < 300 && response.has('Contact')) this.#rewriteContact(response, undefined, direct.token);
            chain = chain.then(async () => {
              if (anchoredFor && media) {
                if (response.status < 300) {
                  try {
                    await media.answer(request, response, anchoredFor);
                  } catch (err) {
                    d.log.warn({ err, callId: request.callId }, 'rtpengine answer failed');
                  }
                } else if (request.method === 'INVITE') this.#releaseMedia(request.callId);
              }
              events.onResponse(response);
            });
            if (final && !skeletal) {
              request = request.skeleton();
              skeletal = true;
            }
          },
          onTimeout: () => {
            if (final) return;
            final = true;
            clearTimeout(cancelGuard);
            events.onFailure('timeout');
          },
          onTransportError: () => {
            if (final) return;
            final = true;
            clearTimeout(cancelGuard);
            events.onFailure('transport');
          },
        });
        d.metrics.requestsForwarded.inc({ method: methodLabel(request.method) });
      } catch (err) {
        d.log.debug({ err, callId: request.callId }, 'branch not started');
        queueMicrotask(() => events.onFailure('transport'));
      }
    };
    if (media && (request.method === 'INVITE' || request.method === 'UPDATE')) {
      const side = uriSide(request.uri, request.routes.map((r) => r.uri));
      media
        .offer(request, side)
        .then((offerer) => {
          anchoredFor = offerer;
          send();
        })
        .catch((err: Error) => {
          d.log.warn({ err, callId: request.callId }, 'rtpengine offer failed');
          d.metrics.rejected.inc({ cause: 'media-relay' });
          // The call fails with a clear 5xx instead of hanging on a relay that does not answer.
          events.onResponse(createResponse(request, 500, 'Media Relay Unavailable', { toTag: true }));
        });
    } else send();
    return {
      cancel: () => {
        if (request.method !== 'INVITE') return;
        if (!tx) {
          // Not sent yet (waiting for rtpengine): never send it.
          abandoned = true;
          events.onResponse(createResponse(request, 487, 'Request Terminated', { toTag: true }));
          return;
        }
        // §9.1: "a CANCEL request SHOULD NOT be sent to cancel an INVITE until a provisional response is received".
        if (provisional) sendCancel();
        else cancelWanted = true;
      },
    };
  }

  #releaseMedia(callId: string): void {
    this.#d.media?.release(callId).catch((err: Error) => this.#d.log.debug({ err, callId }, 'rtpengine delete failed'));
  }

  #nextHop(request: SipRequest, strict = false): TransportTarget | undefined {
    const route = strict ? undefined : request.routes[0];
    const uri: SipUri = route ? route.uri : request.uri;
    const hop = uriToNextHop(uri);
    if (!hop) return undefined;
    if (hop.protocol !== 'udp' && hop.protocol !== 'tcp') return { ...hop, protocol: 'udp' };
    return hop;
  }

  /** Replaces Contact with a cluster URI carrying this core's flow token (contact-rewrite.ts). */
  #rewriteContact(message: SipRequest | SipResponse, source: ReceivedFrom | undefined, token?: string): void {
    const d = this.#d;
    let contacts;
    try {
      contacts = message.contacts;
    } catch {
      return;
    }
    if (contacts === '*' || contacts.length !== 1) return;
    const c = contacts[0]!;
    if (c.uri.params.has('gr') || originalContact(c.uri) || d.isOurDomain(c.uri.host, c.uri.port)) return;
    const flowToken = token ?? (source ? d.homeFlows.tokenFor(source) : undefined);
    if (!flowToken) return;
    const rewritten = { ...c, uri: parseUri(rewrittenContactUri(flowToken, d.domain, formatUri(c.uri))) };
    message.set('Contact', formatNameAddr(rewritten));
  }

  // ---- CANCEL and ACK -----------------------------------------------------------------------

  #cancel(cancel: SipRequest, tx: ServerTransaction): void {
    const invite: ServerInviteTransaction | undefined = this.#d.layer().findInviteForCancel(cancel);
    if (!invite) return this.#reply(cancel, tx, 481, 'Call/Transaction Does Not Exist');
    // §16.10: "the proxy MUST respond to the CANCEL (rather than forward it) ... with a 200 (OK)".
    this.#reply(cancel, tx, 200, 'OK');
    const ctx = this.#contexts.get(invite);
    if (ctx) ctx.cancel();
    else if (!invite.lastResponse || invite.lastResponse.status < 200) this.#reply(invite.request, invite, 487, 'Request Terminated');
  }

  async #forwardAck(ack: SipRequest, source: ReceivedFrom): Promise<void> {
    const d = this.#d;
    if (ack.maxForwards === 0) return;
    const fake = { source } as ServerTransaction;
    const resolution = await this.#resolve(ack, fake);
    if (resolution.kind !== 'forward') return;
    const plan = resolution.groups[0]?.[0];
    if (!plan) return;
    const prepared = this.#prepare(ack, plan);
    if (prepared.kind === 'bad-token' || !prepared.target) return;
    const { request, target } = prepared;
    const via = d.viaFor(target);
    addVia(request, { transport: via.transport, host: via.host, port: via.port, branch: `z9hG4bK${randomBytesPooled(9).toString('base64url')}`, rport: true });
    d.metrics.requestsForwarded.inc({ method: 'ACK' });
    await d.layer().send(request, target);
  }

  // ---- responses ----------------------------------------------------------------------------

  #reply(request: SipRequest, tx: ServerTransaction, status: number, reason?: string, headers?: [string, string][]): void {
    const response = this.#buildReply(request, status, reason, headers);
    if (response) this.#send(tx, response, 'local');
  }

  #buildReply(request: SipRequest, status: number, reason?: string, headers?: [string, string][]): SipResponse | undefined {
    try {
      return createResponse(request, status, reason, { toTag: true, ...(headers ? { headers } : {}) });
    } catch (err) {
      this.#d.log.debug({ err, callId: safe(() => request.callId) }, 'cannot build a response');
      return undefined;
    }
  }

  /** The registrar's answer to a REGISTER for our domain, from whichever path took it. */
  #register(request: SipRequest, source: ReceivedFrom): Promise<SipResponse> {
    const d = this.#d;
    return d.registrar.handle(request, {
      received: `${source.protocol}:${source.remoteAddress}:${source.remotePort}`,
      selfPath: (outbound) => d.homeFlows.pathFor(source, outbound),
      sourceIp: d.clientIp?.(request, source) ?? source.remoteAddress,
    });
  }

  #send(tx: ServerTransaction, response: SipResponse, origin: 'local' | 'relayed'): void {
    this.#d.metrics.responsesOut.inc({ status: statusLabel(response.status), origin });
    if (!tx.respond(response) && response.status >= 200 && response.status < 300 && tx.request.method === 'INVITE') {
      // RFC 6026: a 2xx from another fork branch after the transaction left Accepted still goes upstream.
      void this.#d.layer().send(response, tx.responseTarget).catch(() => {});
    }
  }
}

/** The server transaction's request, whatever it holds by the time it is asked. */
function readThrough(tx: ServerTransaction): () => SipRequest {
  return () => tx.request;
}

/** A request the TU changed from the transaction's: kept as it is. */
function readFixed(request: SipRequest): () => SipRequest {
  return () => request;
}

/** The flow token at the top of a stored Path. */
function pathToken(pathEntry: string): string | undefined {
  try {
    return parseNameAddr(pathEntry).uri.user;
  } catch {
    return undefined;
  }
}

function safe<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}
