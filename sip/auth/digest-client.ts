/**
 * The client side: answer a challenge with credentials. Used by our own UAC roles (a registrar
 * client toward a trunk, test agents) and by tests to play the peer. RFC 8760 has the UAC use
 * the topmost challenge whose algorithm it supports: `pickChallenge` does that.
 */
import { formatAuthParams, isDigest, parseAuthParams, type FormattedParam } from './auth-params.js';
import { computeHa1, computeResponse, parseDigestAlgorithm, type DigestAlgorithm } from './digest-hash.js';

export interface DigestChallenge {
  realm: string;
  nonce: string;
  algorithm: DigestAlgorithm;
  /** Offered qop values, lower-cased; empty for an RFC 2069 challenge. */
  qop: string[];
  stale: boolean;
  opaque?: string;
}

export type ChallengeParse = { ok: true; value: DigestChallenge } | { ok: false; reason: 'malformed' | 'algorithm' };

export function parseChallenge(value: string): ChallengeParse {
  const parsed = parseAuthParams(value);
  if (!parsed.ok || !isDigest(parsed.value)) return { ok: false, reason: 'malformed' };
  const p = parsed.value.params;
  const realm = p.get('realm');
  const nonce = p.get('nonce');
  if (realm === undefined || nonce === undefined) return { ok: false, reason: 'malformed' };
  const algorithm = parseDigestAlgorithm(p.get('algorithm'));
  if (algorithm === undefined) return { ok: false, reason: 'algorithm' };
  const qop = (p.get('qop') ?? '')
    .split(',')
    .map((q) => q.trim().toLowerCase())
    .filter((q) => q.length > 0);
  const opaque = p.get('opaque');
  return {
    ok: true,
    value: {
      realm,
      nonce,
      algorithm,
      qop,
      stale: (p.get('stale') ?? '').toLowerCase() === 'true',
      ...(opaque !== undefined ? { opaque } : {}),
    },
  };
}

/** The first challenge (in header order) whose algorithm we support, for `realm` if given. */
export function pickChallenge(
  values: readonly string[],
  supported: readonly DigestAlgorithm[] = ['SHA-256', 'MD5'],
  realm?: string,
): DigestChallenge | undefined {
  for (const v of values) {
    const c = parseChallenge(v);
    if (c.ok && supported.includes(c.value.algorithm) && (realm === undefined || c.value.realm === realm)) return c.value;
  }
  return undefined;
}

export interface CredentialsInput {
  challenge: DigestChallenge;
  username: string;
  /** Either the password or a precomputed HA1 for the challenge's algorithm. */
  password?: string;
  ha1?: string;
  method: string;
  uri: string;
  cnonce: string;
  /** Nonce-count, starting at 1 for a nonce's first use. */
  nc: number;
}

/** An Authorization / Proxy-Authorization value; qop=auth when offered, else the RFC 2069 form. */
export function buildCredentials(input: CredentialsInput): string {
  const { challenge: c } = input;
  const ha1 = input.ha1 ?? computeHa1(input.username, c.realm, input.password ?? '', c.algorithm);
  const useQop = c.qop.includes('auth');
  if (!useQop && c.qop.length > 0) throw new TypeError('challenge offers no qop we support (only auth)');
  const ncText = input.nc.toString(16).padStart(8, '0');
  const response = computeResponse({
    algorithm: c.algorithm,
    ha1,
    nonce: c.nonce,
    method: input.method,
    uri: input.uri,
    ...(useQop ? { qop: 'auth' as const, nc: ncText, cnonce: input.cnonce } : {}),
  });
  const params: FormattedParam[] = [
    ['username', input.username, 'quoted'],
    ['realm', c.realm, 'quoted'],
    ['nonce', c.nonce, 'quoted'],
    ['uri', input.uri, 'quoted'],
    ['response', response, 'quoted'],
    ['algorithm', c.algorithm, 'token'],
  ];
  if (useQop) params.push(['qop', 'auth', 'token'], ['nc', ncText, 'token'], ['cnonce', input.cnonce, 'quoted']);
  if (c.opaque !== undefined) params.push(['opaque', c.opaque, 'quoted']);
  return formatAuthParams('Digest', params);
}
