/**
 * The outcome of checking credentials, and the one table that turns a failure into a reply,
 * in the manner of Kamailio's registrar error enum: callers do not each invent their own mapping.
 */
import type { DigestAlgorithm } from './digest-hash.js';

export type VerifyFailureReason =
  /** No Digest credentials at all (first request): challenge. */
  | 'missing'
  /** Unparseable credentials or a required parameter absent / ill-formed. */
  | 'malformed'
  /** Digest credentials present, none for our realm (RFC 3261 §22.3: another proxy's). */
  | 'wrong-realm'
  | 'unknown-user'
  | 'bad-response'
  /** Genuine nonce, correct digest, but expired (or we may have forgotten its use). */
  | 'stale'
  /** nc not above the highest seen for this nonce on this node, or a one-time nonce reused. */
  | 'replay'
  /** Not a nonce this cluster signed for this realm (and binding), or a retired secret. */
  | 'bad-nonce'
  /** Correct digest over a nonce another node of the cluster issued: only its issuer accepts it. */
  | 'foreign-nonce'
  /** An algorithm or qop we do not offer (MD5-sess, SHA-512-256, auth-int, ...). */
  | 'algorithm'
  /** `uri` does not name the Request-URI. */
  | 'uri-mismatch';

export type VerifyResult =
  | { ok: true; username: string; realm: string; algorithm: DigestAlgorithm }
  | { ok: false; reason: VerifyFailureReason };

/** Registrar / UAS uses 401 + WWW-Authenticate; a proxy uses 407 + Proxy-Authenticate. */
export type AuthRole = 'uas' | 'proxy';

export const AUTH_HEADERS = {
  uas: { status: 401, challenge: 'WWW-Authenticate', credentials: 'Authorization' },
  proxy: { status: 407, challenge: 'Proxy-Authenticate', credentials: 'Proxy-Authorization' },
} as const;

export type FailureReply =
  /** Answer `status` (401/407) with fresh challenges; `stale` goes into them. */
  | { kind: 'challenge'; status: 401 | 407; stale: boolean }
  | { kind: 'reject'; status: 400 | 403; reason: string };

/**
 * What to answer for each failure.
 * - 'stale': RFC 2617 §3.2.1 "The server should only set stale to TRUE if it receives a request
 *   for which the nonce is invalid but with a valid digest for that nonce".
 * - 'replay' also re-challenges with stale=true: the digest was right, so the sender knows the
 *   password or replays a captured request; a fresh nonce serves the first and stops the second,
 *   and UAs that lost track of nc recover without a prompt.
 * - 'foreign-nonce': the UA moved to another core (failover, a new core list); it gets this
 *   node's nonce and retries without a prompt, and the nonce's own issuer keeps counting its uses.
 * - 'unknown-user' and 'bad-response' get the same 403 so usernames cannot be probed.
 * - 'uri-mismatch': RFC 2617 §3.2.2.5 "the server SHOULD return a 400 Bad Request error".
 */
export function failureReply(reason: VerifyFailureReason, role: AuthRole): FailureReply {
  const status = AUTH_HEADERS[role].status;
  switch (reason) {
    case 'missing':
    case 'wrong-realm':
    case 'bad-nonce':
    case 'algorithm':
      return { kind: 'challenge', status, stale: false };
    case 'stale':
    case 'replay':
    case 'foreign-nonce':
      return { kind: 'challenge', status, stale: true };
    case 'unknown-user':
    case 'bad-response':
      return { kind: 'reject', status: 403, reason: 'Forbidden' };
    case 'malformed':
    case 'uri-mismatch':
      return { kind: 'reject', status: 400, reason: 'Bad Request' };
  }
}
