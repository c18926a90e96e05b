/**
 * Stateless nonces: any node of the cluster can check a nonce another node issued, because the
 * nonce carries its own issue time, its issuer and a signature made with a secret the cluster
 * shares.
 *
 *   nonce = base64url( issuedAt(8, ms, big-endian) || random(12) || issuer(4) || HMAC-SHA256(secret, signed) )
 *   signed = issuedAt || random || issuer || len(realm) || realm || len(binding) || binding   (len: uint32 BE)
 *
 * The lengths make realm/binding unambiguous ("ab"+"c" vs "a"+"bc"). The binding is optional
 * (e.g. the client's address, or an edge flow token) and must be given again when checking.
 *
 * `issuer` is the first 4 bytes of SHA-256 of the issuing node's id. Every node can tell a nonce
 * of the cluster from a forgery, and also whether it issued it: only the issuer accepts it, so
 * the issuer's replay table (nonce-count-tracker.ts) sees every use of it. Another node answers
 * a genuine digest over a foreign nonce with a fresh nonce and stale=true; the UA retries without
 * asking its user (RFC 2617 §3.2.1), which costs one round trip when a UA moves to another core.
 *
 * Rotation: `secrets[0]` signs, every secret in the list verifies. To rotate without a 401 storm:
 * append the new secret on every node, then move it to the front, then drop the old one after
 * one nonce lifetime.
 */
import { createHash, createHmac, randomBytes as nodeRandomBytes, timingSafeEqual } from 'node:crypto';

const TIME_BYTES = 8;
const RANDOM_BYTES = 12;
const ISSUER_BYTES = 4;
const HEAD_BYTES = TIME_BYTES + RANDOM_BYTES + ISSUER_BYTES;
const MAC_BYTES = 32;
const NONCE_BYTES = HEAD_BYTES + MAC_BYTES;
/** ceil(56 * 4 / 3): base64url without padding. */
const NONCE_CHARS = Math.ceil((NONCE_BYTES * 4) / 3);
const BASE64URL = /^[A-Za-z0-9_-]+$/;
/** A shorter secret would make the HMAC the weakest link; refuse it at configuration time. */
export const MIN_SECRET_BYTES = 16;

export interface StatelessNonceOptions {
  /** First signs, all verify. */
  secrets: readonly string[];
  lifetimeMs: number;
  /** How far in the future an issue time may be (clock differences between nodes). */
  maxClockSkewMs: number;
  now: () => number;
  /** This node's id: only nonces it issued are 'valid' or 'stale' here. Default '' (one node). */
  issuer?: string;
  randomBytes?: (size: number) => Buffer;
}

export type NonceCheck =
  | { status: 'valid'; issuedAt: number; expiresAt: number }
  /** Genuine (signature verified) but outside its lifetime: answer with stale=true. */
  | { status: 'stale'; issuedAt: number; expiresAt: number }
  /** Genuine, but issued by another node: answer with a nonce of ours and stale=true. */
  | { status: 'foreign' }
  /** Not ours: wrong length or alphabet, or no secret in the list produced this signature. */
  | { status: 'forged' };

export class StatelessNonce {
  #keys: Buffer[];
  readonly #lifetimeMs: number;
  readonly #maxClockSkewMs: number;
  readonly #now: () => number;
  readonly #random: (size: number) => Buffer;
  readonly #issuer: Buffer;

  constructor(opts: StatelessNonceOptions) {
    this.#keys = toKeys(opts.secrets);
    if (!(opts.lifetimeMs > 0)) throw new TypeError('nonce lifetime must be positive');
    this.#lifetimeMs = opts.lifetimeMs;
    this.#maxClockSkewMs = Math.max(0, opts.maxClockSkewMs);
    this.#now = opts.now;
    this.#random = opts.randomBytes ?? nodeRandomBytes;
    this.#issuer = createHash('sha256').update(opts.issuer ?? '', 'utf8').digest().subarray(0, ISSUER_BYTES);
  }

  /** Replace the secrets at run time (configuration reload); same rules as the constructor. */
  setSecrets(secrets: readonly string[]): void {
    this.#keys = toKeys(secrets);
  }

  get lifetimeMs(): number {
    return this.#lifetimeMs;
  }

  issue(realm: string, binding = ''): string {
    const head = Buffer.alloc(HEAD_BYTES);
    head.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(this.#now()))), 0);
    const random = this.#random(RANDOM_BYTES);
    if (random.length !== RANDOM_BYTES) throw new TypeError('randomBytes returned the wrong size');
    random.copy(head, TIME_BYTES);
    this.#issuer.copy(head, TIME_BYTES + RANDOM_BYTES);
    const mac = sign(this.#keys[0]!, head, realm, binding);
    return Buffer.concat([head, mac]).toString('base64url');
  }

  check(nonce: string, realm: string, binding = ''): NonceCheck {
    // Only the canonical encoding is ours: base64url decoders ignore stray bits and characters,
    // and two spellings of one nonce would be two keys for the replay tracker.
    if (typeof nonce !== 'string' || nonce.length !== NONCE_CHARS || !BASE64URL.test(nonce)) {
      return { status: 'forged' };
    }
    const raw = Buffer.from(nonce, 'base64url');
    if (raw.length !== NONCE_BYTES || raw.toString('base64url') !== nonce) return { status: 'forged' };
    const head = raw.subarray(0, HEAD_BYTES);
    const mac = raw.subarray(HEAD_BYTES);
    let genuine = false;
    // Try every key even after a match so the time taken does not tell which one signed.
    for (const key of this.#keys) {
      if (timingSafeEqual(sign(key, head, realm, binding), mac)) genuine = true;
    }
    if (!genuine) return { status: 'forged' };
    if (!head.subarray(TIME_BYTES + RANDOM_BYTES).equals(this.#issuer)) return { status: 'foreign' };

    const issuedAt = Number(raw.readBigUInt64BE(0));
    const expiresAt = issuedAt + this.#lifetimeMs;
    const now = this.#now();
    if (now > expiresAt || issuedAt - now > this.#maxClockSkewMs) {
      return { status: 'stale', issuedAt, expiresAt };
    }
    return { status: 'valid', issuedAt, expiresAt };
  }
}

function toKeys(secrets: readonly string[]): Buffer[] {
  if (!Array.isArray(secrets) || secrets.length === 0) throw new TypeError('at least one nonce secret is required');
  return secrets.map((s, i) => {
    const key = Buffer.from(String(s), 'utf8');
    if (key.length < MIN_SECRET_BYTES) throw new TypeError(`nonce secret #${i} is shorter than ${MIN_SECRET_BYTES} bytes`);
    return key;
  });
}

function sign(key: Buffer, head: Buffer, realm: string, binding: string): Buffer {
  const r = Buffer.from(realm, 'utf8');
  const b = Buffer.from(binding, 'utf8');
  const lengths = Buffer.alloc(8);
  lengths.writeUInt32BE(r.length, 0);
  lengths.writeUInt32BE(b.length, 4);
  return createHmac('sha256', key)
    .update(head)
    .update(lengths.subarray(0, 4))
    .update(r)
    .update(lengths.subarray(4))
    .update(b)
    .digest();
}
