/**
 * The registrar's I/O shell around `decideRegister`: authenticate, read the AOR's bindings,
 * decide, write, answer. Store failures become 503 with Retry-After (never a hang: the store
 * has timeouts on every call).
 */
import type { SipRequest, SipResponse } from '../../sip/message/model.js';
import { createResponse } from '../../sip/message/factory.js';
import { LocationStoreError, type LocationStore } from '../location/location-store.js';
import { REGISTRAR_ERROR_RESPONSES, type RegistrarError } from './registrar-error.js';
import { contactsForReply, decideRegister, type FirstHop, type RegistrarPolicy } from './registration.js';
import type { TempGruuCodec } from './gruu.js';
import type { Authorizer } from '../auth/authorizer.js';

export interface RegistrarServiceDeps {
  store: LocationStore;
  policy: RegistrarPolicy;
  tempGruus: TempGruuCodec;
  /** Canonical domain and the aliases that mean it (e.g. the core's own IP). */
  domain: string;
  isOurDomain(host: string, port?: number): boolean;
  authorizer: Authorizer | undefined;
  /**
   * Whether a Path entry may be stored (RFC 3327 §5.3 leaves the trust to the registrar); absent:
   * every Path is believed.
   */
  isTrustedPath?(entry: string): boolean;
  now?: () => number;
  onRegistration?(event: { outcome: 'ok' | RegistrarError | 'auth'; ms: number; writes: number }): void;
}

export interface RegisterContext {
  /** 'udp:ip:port' as the binding's received. */
  received: string;
  /** The Path entry this core adds when it is the UA's first hop (home proxy), without <>. */
  selfPath(outbound: boolean): string;
  /** Source IP, for auth failure accounting. */
  sourceIp: string;
}

const SUPPORTED = new Set(['path', 'gruu', 'outbound']);

export class RegistrarService {
  readonly #d: RegistrarServiceDeps;

  constructor(deps: RegistrarServiceDeps) {
    this.#d = deps;
  }

  async handle(request: SipRequest, ctx: RegisterContext): Promise<SipResponse> {
    const started = Date.now();
    const d = this.#d;
    const now = (d.now ?? Date.now)();
    const fail = (error: RegistrarError, extra: [string, string][] = []): SipResponse => {
      d.onRegistration?.({ outcome: error, ms: Date.now() - started, writes: 0 });
      const r = REGISTRAR_ERROR_RESPONSES[error];
      return createResponse(request, r.status, r.reason, { toTag: true, headers: extra });
    };

    // RFC 3261 §10.3 step 1: the Request-URI names the domain whose registrations we keep.
    if (!d.isOurDomain(request.uri.host, request.uri.port)) return fail('not-our-domain');
    // Step 2: "the registrar MUST process any Require header field values as described for UASs".
    if (request.has('Require')) {
      const unsupported = request.values('Require').map((v) => v.trim().toLowerCase()).filter((v) => v && !SUPPORTED.has(v));
      if (unsupported.length) return createResponse(request, 420, 'Bad Extension', { toTag: true, headers: [['Unsupported', unsupported.join(', ')]] });
    }

    const to = request.to.uri;
    if ((to.scheme !== 'sip' && to.scheme !== 'sips') || !to.user || !d.isOurDomain(to.host, to.port)) return fail('not-our-domain');
    const aor = `sip:${to.user}@${d.domain}`;

    // Step 3 + RFC 3261 §22: authenticate, then "the registrar determines if the authenticated
    // user is authorized to modify registrations for this address-of-record" (§10.3 step 3).
    if (d.authorizer) {
      const auth = await d.authorizer.check(request, 'uas', ctx.sourceIp);
      if (!auth.ok) {
        d.onRegistration?.({ outcome: 'auth', ms: Date.now() - started, writes: 0 });
        return auth.response;
      }
      if (auth.username !== to.user) return fail('forbidden-aor');
    }

    const pathValues = request.values('Path');
    let firstHop: FirstHop;
    let path: string[];
    if (pathValues.length > 0) {
      if (d.isTrustedPath && !pathValues.every((p) => d.isTrustedPath!(p))) return fail('untrusted-path');
      // RFC 5626 §6: the edge that added the first Path entry supports outbound iff it put `ob` there.
      firstHop = /;\s*ob(\s*[;>]|\s*$)/i.test(pathValues[0]!) ? 'outbound-edge' : 'plain-edge';
      path = pathValues.map((v) => v.trim());
    } else {
      firstHop = 'self';
      const outbound = request.values('Contact').some((c) => /;\s*reg-id\s*=/i.test(c));
      path = [`<${ctx.selfPath(outbound)}>`];
    }

    let existing;
    try {
      existing = await d.store.lookup(aor);
    } catch (err) {
      return this.#storeFailure(request, err, started);
    }
    const decision = decideRegister({
      request,
      aor,
      domain: d.domain,
      now,
      policy: d.policy,
      firstHop,
      path,
      received: ctx.received,
      existing,
      tempGruus: d.tempGruus,
    });
    if (!decision.ok) {
      return fail(decision.error, decision.minExpires !== undefined ? [['Min-Expires', String(decision.minExpires)]] : []);
    }
    if (decision.upsert.length || decision.removeKeys.length) {
      try {
        await d.store.update(aor, decision.upsert, decision.removeKeys);
      } catch (err) {
        return this.#storeFailure(request, err, started);
      }
    }

    const supported = optionTags(request);
    const headers: [string, string][] = [];
    // RFC 3327 §5.3: "the registrar MUST ... copy the Path header field values ... into the 200 OK"
    // when the UA indicated support for path.
    if (supported.path && decision.current.length) for (const p of path) headers.push(['Path', p]);
    for (const c of contactsForReply(decision.current, { now, domain: d.domain, gruu: supported.gruu, tempGruus: d.tempGruus })) {
      headers.push(['Contact', c]);
    }
    if (decision.outbound) {
      // RFC 5626 §6: "the registrar MUST include the 'outbound' option tag in a Require header".
      headers.push(['Require', 'outbound']);
      // §5.4: Flow-Timer tells the UA how often to send keepalives; only meaningful when the
      // first hop (an outbound edge, or this core) watches the flow.
      headers.push(['Flow-Timer', String(d.policy.flowTimer)]);
    }
    headers.push(['Supported', 'path, gruu, outbound']);
    headers.push(['Date', httpDate(now)]);
    d.onRegistration?.({ outcome: 'ok', ms: Date.now() - started, writes: decision.upsert.length + decision.removeKeys.length });
    return createResponse(request, 200, 'OK', { toTag: true, headers });
  }

  #storeFailure(request: SipRequest, err: unknown, started: number): SipResponse {
    const retry = err instanceof LocationStoreError ? err.retryAfterSeconds : 5;
    this.#d.onRegistration?.({ outcome: 'store-unavailable', ms: Date.now() - started, writes: 0 });
    const r = REGISTRAR_ERROR_RESPONSES['store-unavailable'];
    return createResponse(request, r.status, r.reason, { toTag: true, headers: [['Retry-After', String(retry)]] });
  }
}

/** RFC 3261 §20.17 Date (RFC 1123 form); one string per second, not one per REGISTER. */
let dateSecond = -1;
let dateText = '';
function httpDate(now: number): string {
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(second * 1000).toUTCString();
  }
  return dateText;
}

/** The option tags of Supported this registrar answers to, read without building a list of all of them. */
function optionTags(request: SipRequest): { path: boolean; gruu: boolean } {
  const out = { path: false, gruu: false };
  for (const v of request.values('Supported')) {
    const tag = v.trim().toLowerCase();
    if (tag === 'path') out.path = true;
    else if (tag === 'gruu') out.gruu = true;
  }
  return out;
}
