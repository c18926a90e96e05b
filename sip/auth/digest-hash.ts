/**
 * The Digest computations of RFC 2617 §3.2.2 as extended to SHA-256 by RFC 7616 §3.4 and
 * brought to SIP by RFC 8760. Pure functions, no state.
 *
 *   HA1      = H(username ":" realm ":" password)
 *   HA2      = H(method ":" digest-uri)                         (qop=auth or no qop)
 *   response = H(HA1 ":" nonce ":" nc ":" cnonce ":" qop ":" HA2) (qop=auth)
 *   response = H(HA1 ":" nonce ":" HA2)                          (no qop, RFC 2069 compatibility)
 *
 * The "-sess" variants and qop=auth-int are not implemented: we never offer them.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** The algorithms we offer, spelled as on the wire (IANA "Hash Algorithms for HTTP Digest Authentication", used by RFC 8760). */
export type DigestAlgorithm = 'SHA-256' | 'MD5';

export const DIGEST_ALGORITHMS: readonly DigestAlgorithm[] = ['SHA-256', 'MD5'];

const NODE_HASH: Record<DigestAlgorithm, string> = { 'SHA-256': 'sha256', MD5: 'md5' };
const HEX_LENGTH: Record<DigestAlgorithm, number> = { 'SHA-256': 64, MD5: 32 };

/**
 * The wire spelling of `algorithm` mapped to ours, or undefined. RFC 2617 §3.2.1: "If this is
 * not present it is assumed to be MD5"; the token is compared case-insensitively.
 */
export function parseDigestAlgorithm(value: string | undefined): DigestAlgorithm | undefined {
  if (value === undefined) return 'MD5';
  switch (value.toUpperCase()) {
    case 'MD5':
      return 'MD5';
    case 'SHA-256':
      return 'SHA-256';
    default:
      return undefined;
  }
}

/** Length of the lower-case hex digest ("response", HA1) for an algorithm. */
export function digestHexLength(algorithm: DigestAlgorithm): number {
  return HEX_LENGTH[algorithm];
}

/** H(data) as lower-case hex, data as UTF-8 (SIP text is UTF-8; RFC 7616 charset=UTF-8). */
export function digestHex(algorithm: DigestAlgorithm, data: string): string {
  return createHash(NODE_HASH[algorithm]).update(data, 'utf8').digest('hex');
}

/** HA1 = H(username:realm:password): what the registrar's store keeps instead of the password. */
export function computeHa1(username: string, realm: string, password: string, algorithm: DigestAlgorithm): string {
  return digestHex(algorithm, `${username}:${realm}:${password}`);
}

export interface ResponseInput {
  algorithm: DigestAlgorithm;
  /** Lower-case hex HA1 (upper-case is tolerated and folded). */
  ha1: string;
  nonce: string;
  method: string;
  /** The `uri` parameter exactly as the client sent it, not the Request-URI. */
  uri: string;
  /** 'auth', or undefined for the RFC 2069 form. */
  qop?: 'auth' | undefined;
  /** 8 hex digits exactly as sent (the string, not the number, goes into the hash). */
  nc?: string | undefined;
  cnonce?: string | undefined;
}

/** The "request-digest" of RFC 2617 §3.2.2.1. */
export function computeResponse(input: ResponseInput): string {
  const ha1 = input.ha1.toLowerCase();
  const ha2 = digestHex(input.algorithm, `${input.method}:${input.uri}`);
  if (input.qop === 'auth') {
    return digestHex(input.algorithm, `${ha1}:${input.nonce}:${input.nc ?? ''}:${input.cnonce ?? ''}:auth:${ha2}`);
  }
  return digestHex(input.algorithm, `${ha1}:${input.nonce}:${ha2}`);
}

/**
 * Compare two hex digests without leaking where they differ. Lengths are public (fixed by the
 * algorithm), so a length mismatch may return early.
 */
export function hexDigestEquals(a: string, b: string): boolean {
  const x = Buffer.from(a.toLowerCase(), 'utf8');
  const y = Buffer.from(b.toLowerCase(), 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}
