/**
 * Digest authentication as the core applies it: 401 for REGISTER (registrar as UAS), 407 for
 * requests the proxy forwards. Credentials (HA1) come from the location store's subscribers.
 * Failures from one source are counted: past a limit within a window the source gets 403 without
 * a challenge until the window passes, so password guessing costs the attacker, not us.
 */
import {
  AUTH_HEADERS,
  DigestAuthenticator,
  failureReply,
  type AuthRole,
  type DigestAlgorithm,
} from '../../sip/auth/index.js';
import type { SipRequest, SipResponse } from '../../sip/message/model.js';
import { createResponse } from '../../sip/message/factory.js';
import type { LocationStore } from '../location/location-store.js';

export interface AuthorizerOptions {
  realm: string;
  secrets: string[];
  /** This core's id: its nonces are accepted here only (see stateless-nonce.ts). */
  nodeId?: string;
  store: LocationStore;
  /** Failed attempts per source IP tolerated within `failureWindowMs`. */
  maxFailures?: number;
  failureWindowMs?: number;
  algorithms?: DigestAlgorithm[];
  onFailure?(reason: string): void;
}

export type AuthOutcome = { ok: true; username: string } | { ok: false; response: SipResponse };

export class Authorizer {
  readonly #digest: DigestAuthenticator;
  readonly #opts: Required<Omit<AuthorizerOptions, 'onFailure' | 'algorithms' | 'nodeId'>> & Pick<AuthorizerOptions, 'onFailure'>;
  /** source ip → [failures, window start]; bounded by evicting the oldest entries. */
  readonly #failures = new Map<string, { count: number; since: number }>();

  constructor(opts: AuthorizerOptions) {
    this.#opts = { maxFailures: 10, failureWindowMs: 60_000, ...opts };
    // MD5 alone unless configured: SIP.js 0.21 reads only the LAST challenge, SIPp and baresip only
    // the FIRST, and each needs MD5 there (test/sip/auth and test/core/peers guard both).
    this.#digest = new DigestAuthenticator({
      realm: opts.realm,
      secrets: opts.secrets,
      algorithms: opts.algorithms ?? ['MD5'],
      ...(opts.nodeId !== undefined ? { issuer: opts.nodeId } : {}),
    });
  }

  get realm(): string {
    return this.#opts.realm;
  }

  async check(request: SipRequest, role: AuthRole, sourceIp: string): Promise<AuthOutcome> {
    const now = Date.now();
    const f = this.#failures.get(sourceIp);
    if (f && now - f.since < this.#opts.failureWindowMs && f.count >= this.#opts.maxFailures) {
      this.#opts.onFailure?.('rate-limited');
      return { ok: false, response: createResponse(request, 403, 'Too Many Failed Authentications', { toTag: true }) };
    }
    const headers = AUTH_HEADERS[role];
    let result;
    try {
      result = await this.#digest.verify(
        { method: request.method, requestUri: request.uriText, headerValues: request.getAll(headers.credentials), realm: this.#opts.realm },
        async (username, realm, algorithm) => {
          const s = await this.#opts.store.getSubscriber(username, realm);
          return algorithm === 'MD5' ? s?.ha1Md5 : s?.ha1Sha256;
        },
      );
    } catch {
      // The credential store failed: not the client's fault, and it may retry elsewhere.
      this.#opts.onFailure?.('store-unavailable');
      return { ok: false, response: createResponse(request, 503, 'Credential Store Unavailable', { toTag: true, headers: [['Retry-After', '5']] }) };
    }
    if (result.ok) return { ok: true, username: result.username };
    if (result.reason !== 'missing') {
      this.#opts.onFailure?.(result.reason);
      // The right password over another core's nonce is a UA that moved (failover), not a guess.
      if (result.reason !== 'foreign-nonce') this.#countFailure(sourceIp, now);
    }
    const reply = failureReply(result.reason, role);
    // A wrong password gets a fresh challenge, as UAs expect (then the per-source limit applies).
    if (reply.kind === 'challenge' || result.reason === 'bad-response' || result.reason === 'unknown-user') {
      const stale = reply.kind === 'challenge' && reply.stale;
      const challenges = this.#digest.challenge(this.#opts.realm, { stale });
      return { ok: false, response: createResponse(request, headers.status, undefined, { toTag: true, headers: challenges.map((c) => [headers.challenge, c] as [string, string]) }) };
    }
    return { ok: false, response: createResponse(request, reply.status, reply.reason, { toTag: true }) };
  }

  #countFailure(ip: string, now: number): void {
    const f = this.#failures.get(ip);
    if (!f || now - f.since >= this.#opts.failureWindowMs) {
      this.#failures.delete(ip);
      this.#failures.set(ip, { count: 1, since: now });
      if (this.#failures.size > 100_000) this.#failures.delete(this.#failures.keys().next().value!);
    } else f.count++;
  }
}
