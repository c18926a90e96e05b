/** Digest authentication (RFC 3261 §22, RFC 2617, RFC 8760) with stateless cluster nonces. */
export {
  DigestAuthenticator,
  type DigestAuthenticatorOptions,
  type ChallengeOptions,
  type VerifyRequest,
  type LookupHa1,
} from './digest-authenticator.js';
export {
  AUTH_HEADERS,
  failureReply,
  type AuthRole,
  type FailureReply,
  type VerifyFailureReason,
  type VerifyResult,
} from './verify-result.js';
export {
  computeHa1,
  computeResponse,
  parseDigestAlgorithm,
  DIGEST_ALGORITHMS,
  type DigestAlgorithm,
  type ResponseInput,
} from './digest-hash.js';
export {
  parseAuthParams,
  formatAuthParams,
  authScheme,
  isDigest,
  quoteString,
  type AuthParams,
  type AuthParamsError,
  type AuthParamsErrorCode,
  type AuthParamsResult,
  type FormattedParam,
} from './auth-params.js';
export { parseChallenge, pickChallenge, buildCredentials, type DigestChallenge, type CredentialsInput } from './digest-client.js';
export { StatelessNonce, type NonceCheck, type StatelessNonceOptions } from './stateless-nonce.js';
export { NonceCountTracker, type NonceUse } from './nonce-count-tracker.js';
export { digestUriMatches, normaliseDigestUri } from './request-uri-match.js';
