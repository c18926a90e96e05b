/**
 * Digest authentication for a cluster of registrars/proxies (RFC 3261 §22, RFC 2617, RFC 8760):
 * builds challenges and checks credentials. Nonces are stateless (see stateless-nonce.ts): every
 * node that shares a secret knows a nonce of the cluster from a forged one, but only the node that
 * issued it accepts it, so that node's replay table (nonce-count-tracker.ts) sees all its uses.
 *
 * Pure apart from the injected clock and credential store: it parses strings and returns values;
 * the caller builds the SIP response (see `failureReply`).
 *
 * Calls must be made once per new server transaction: retransmissions are absorbed by the
 * transaction layer, otherwise a retransmitted request would be counted as an nc replay.
 */
import { authScheme, formatAuthParams, isDigest, parseAuthParams, type AuthParams, type FormattedParam } from './auth-params.js';
import {
  computeResponse,
  DIGEST_ALGORITHMS,
  digestHexLength,
  hexDigestEquals,
  parseDigestAlgorithm,
  type DigestAlgorithm,
} from './digest-hash.js';
import { NonceCountTracker } from './nonce-count-tracker.js';
import { digestUriMatches } from './request-uri-match.js';
import { StatelessNonce } from './stateless-nonce.js';
import type { VerifyFailureReason, VerifyResult } from './verify-result.js';

/** The registrar's store: HA1 for (username, realm, algorithm), lower-case hex, or undefined. */
export type LookupHa1 = (username: string, realm: string, algorithm: DigestAlgorithm) => Promise<string | undefined>;

export interface DigestAuthenticatorOptions {
  /** Default realm for `challenge` and `verify` when they are not given one. */
  realm?: string;
  /** Cluster secrets, at least 16 bytes each: the first signs, all verify. */
  secrets: string[];
  /** Default 300. */
  nonceLifetimeSeconds?: number;
  /** Tolerated clock difference between nodes for nonce issue times. Default 30. */
  maxClockSkewSeconds?: number;
  /**
   * Offered and accepted algorithms, in order of preference; one challenge per algorithm in this
   * order. Default ['SHA-256', 'MD5'] (RFC 8760: one header field per algorithm, most preferred first). NOTE: SIP.js 0.21
   * keeps only the LAST WWW-/Proxy-Authenticate header and gives up unless it says MD5, so a
   * realm that SIP.js clients must pass needs 'MD5' last (as in the default) or alone.
   */
  algorithms?: DigestAlgorithm[];
  /** Per-node replay table size. Default 50 000. */
  maxTrackedNonces?: number;
  /** Accept each nonce once per node, whatever its nc (every request pays a 401 round trip). */
  oneTimeNonces?: boolean;
  /**
   * Accept the RFC 2069 form (no qop, no nc, no cnonce). RFC 8760 made qop support required in
   * SIP, so default false. When true, such credentials are one-time per node.
   */
  allowNoQop?: boolean;
  /** This node's id, written into its nonces: nonces of other nodes get stale=true. Default ''. */
  issuer?: string;
  /** Milliseconds since the epoch. Default Date.now. */
  now?: () => number;
  /** For deterministic tests only. */
  randomBytes?: (size: number) => Buffer;
}

export interface ChallengeOptions {
  stale?: boolean;
  /** Bind the nonce to something about the client (e.g. its address); give it again to verify. */
  binding?: string;
}

export interface VerifyRequest {
  method: string;
  requestUri: string;
  /** Every Authorization (UAS) or Proxy-Authorization (proxy) value, one per header line. */
  headerValues: readonly string[];
  realm?: string;
  binding?: string;
}

const HEX = /^[0-9a-fA-F]+$/;
const NC = /^[0-9a-fA-F]{8}$/;

export class DigestAuthenticator {
  readonly #realm: string | undefined;
  readonly #algorithms: readonly DigestAlgorithm[];
  readonly #nonces: StatelessNonce;
  readonly #tracker: NonceCountTracker;
  readonly #oneTime: boolean;
  readonly #allowNoQop: boolean;

  constructor(opts: DigestAuthenticatorOptions) {
    const now = opts.now ?? Date.now;
    this.#realm = opts.realm;
    const algorithms = opts.algorithms ?? [...DIGEST_ALGORITHMS];
    if (algorithms.length === 0 || algorithms.some((a) => !DIGEST_ALGORITHMS.includes(a))) {
      throw new TypeError(`algorithms must be a non-empty subset of ${DIGEST_ALGORITHMS.join(', ')}`);
    }
    this.#algorithms = [...new Set(algorithms)];
    this.#nonces = new StatelessNonce({
      secrets: opts.secrets,
      lifetimeMs: (opts.nonceLifetimeSeconds ?? 300) * 1000,
      maxClockSkewMs: (opts.maxClockSkewSeconds ?? 30) * 1000,
      now,
      ...(opts.issuer !== undefined ? { issuer: opts.issuer } : {}),
      ...(opts.randomBytes ? { randomBytes: opts.randomBytes } : {}),
    });
    this.#tracker = new NonceCountTracker({ maxEntries: opts.maxTrackedNonces ?? 50_000, now });
    this.#oneTime = opts.oneTimeNonces ?? false;
    this.#allowNoQop = opts.allowNoQop ?? false;
  }

  /**
   * Rotate without losing this node's replay table: `secrets[0]` signs from now on, all verify.
   * Procedure: append the new secret everywhere, then move it first, then drop the old one
   * once a nonce lifetime has passed.
   */
  setSecrets(secrets: string[]): void {
    this.#nonces.setSecrets(secrets);
  }

  /** Entries in this node's replay table (for metrics and tests). */
  get trackedNonces(): number {
    return this.#tracker.size;
  }

  /**
   * One WWW-Authenticate / Proxy-Authenticate value per algorithm, in preference order, all
   * carrying the same fresh nonce. RFC 8760: the UAS adds one header field per supported
   * algorithm, most preferred first. Only qop="auth" is offered.
   */
  challenge(realm?: string, opts: ChallengeOptions = {}): string[] {
    const r = this.#realmOrThrow(realm);
    const nonce = this.#nonces.issue(r, opts.binding ?? '');
    return this.#algorithms.map((algorithm) => {
      const params: FormattedParam[] = [
        ['realm', r, 'quoted'],
        ['nonce', nonce, 'quoted'],
        ['algorithm', algorithm, 'token'],
        ['qop', 'auth', 'quoted'],
      ];
      // RFC 2617 §3.2.1: stale = "stale" "=" ( "true" | "false" ); omitted means false.
      if (opts.stale === true) params.push(['stale', 'true', 'token']);
      return formatAuthParams('Digest', params);
    });
  }

  async verify(request: VerifyRequest, lookupHa1: LookupHa1): Promise<VerifyResult> {
    const realm = this.#realmOrThrow(request.realm);
    const picked = this.#pick(request.headerValues, realm);
    if ('reason' in picked) return fail(picked.reason);
    const { params } = picked;

    const username = params.get('username');
    const nonce = params.get('nonce');
    const uri = params.get('uri');
    const response = params.get('response');
    if (username === undefined || nonce === undefined || uri === undefined || response === undefined) {
      return fail('malformed');
    }
    const algorithm = picked.algorithm;
    if (response.length !== digestHexLength(algorithm) || !HEX.test(response)) return fail('malformed');

    // RFC 2617 §3.2.2: qop, cnonce and nc go together; without qop it is the RFC 2069 form.
    const qop = params.get('qop');
    let nc: number | undefined;
    const ncText = params.get('nc');
    const cnonce = params.get('cnonce');
    if (qop === undefined) {
      // We always offer qop="auth", and RFC 2617 §3.2.2 says the client "MUST" then use it.
      if (!this.#allowNoQop) return fail('malformed');
    } else {
      if (qop.toLowerCase() !== 'auth') return fail('algorithm');
      if (ncText === undefined || cnonce === undefined || !NC.test(ncText) || cnonce.length === 0) {
        return fail('malformed');
      }
      nc = parseInt(ncText, 16);
      if (nc === 0) return fail('malformed');
    }

    if (!digestUriMatches(uri, request.requestUri)) return fail('uri-mismatch');

    // Check our signature before touching the store: forged nonces cost one HMAC, no lookup.
    const check = this.#nonces.check(nonce, realm, request.binding ?? '');
    if (check.status === 'forged') return fail('bad-nonce');

    const ha1 = await lookupHa1(username, realm, algorithm);
    if (ha1 === undefined) return fail('unknown-user');
    const expected = computeResponse({
      algorithm,
      ha1,
      nonce,
      method: request.method,
      uri,
      qop: qop === undefined ? undefined : 'auth',
      nc: ncText,
      cnonce,
    });
    if (!hexDigestEquals(expected, response)) return fail('bad-response');

    // RFC 2617 §3.2.1: stale only "with a valid digest for that nonce", hence after the digest.
    if (check.status === 'stale') return fail('stale');
    if (check.status === 'foreign') return fail('foreign-nonce');

    const oneTime = this.#oneTime || nc === undefined;
    const use = this.#tracker.use(nonce, oneTime ? undefined : nc, check.issuedAt, check.expiresAt);
    if (use === 'replay') return fail('replay');
    if (use === 'forgotten') return fail('stale');
    return { ok: true, username, realm, algorithm };
  }

  /**
   * RFC 3261 §22.3: a proxy "MUST attempt to parse all Proxy-Authorization header field values
   * to determine whether one of them has what the proxy server considers to be valid
   * credentials" — the others may be for proxies further on. We take the first Digest value for
   * our realm whose algorithm we accept (RFC 8760 allows one per algorithm).
   */
  #pick(
    values: readonly string[],
    realm: string,
  ): { params: Map<string, string>; algorithm: DigestAlgorithm } | { reason: VerifyFailureReason } {
    let sawDigest = false;
    let sawMalformed = false;
    let sawOursWithOtherAlgorithm = false;
    const list = Array.isArray(values) ? values : [];
    for (const value of list) {
      const text = typeof value === 'string' ? value : '';
      const parsed = parseAuthParams(text);
      if (!parsed.ok) {
        // Another scheme's credentials need not follow the auth-param grammar (RFC 7235
        // token68); only a broken Digest value, or one without a readable scheme, is ours.
        const scheme = authScheme(text);
        if (scheme === undefined || scheme.toLowerCase() === 'digest') sawMalformed = true;
        continue;
      }
      const p: AuthParams = parsed.value;
      if (!isDigest(p)) continue;
      sawDigest = true;
      if (p.params.get('realm') !== realm) continue;
      const algorithmText = p.params.get('algorithm');
      const algorithm = parseDigestAlgorithm(algorithmText);
      if (algorithm === undefined || !this.#algorithms.includes(algorithm)) {
        sawOursWithOtherAlgorithm = true;
        continue;
      }
      return { params: p.params, algorithm };
    }
    if (sawOursWithOtherAlgorithm) return { reason: 'algorithm' };
    if (sawMalformed) return { reason: 'malformed' };
    if (sawDigest) return { reason: 'wrong-realm' };
    return { reason: 'missing' };
  }

  #realmOrThrow(realm: string | undefined): string {
    const r = realm ?? this.#realm;
    if (typeof r !== 'string' || r.length === 0) throw new TypeError('no realm given and no default realm configured');
    return r;
  }
}

function fail(reason: VerifyFailureReason): VerifyResult {
  return { ok: false, reason };
}
