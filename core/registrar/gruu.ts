/**
 * RFC 5627 GRUUs that any core node can resolve without asking the core that minted them.
 *
 * pub-gruu is the AOR plus `;gr=<instance>`: derivable by anyone who knows both.
 *
 * temp-gruu must not reveal the AOR (§3.2), must be fresh on every registration, and must stay
 * valid while the registration that produced it lives — and die when the UA re-registers with a new
 * Call-ID (§4.2: "a temp-gruu remains valid ... until the registration expires or the UA reboots").
 * Instead of a GRUU table we encrypt (AOR, instance, hash(Call-ID)) with a random nonce under a key
 * derived from the cluster secret: any core decrypts it, then checks that a live binding of that
 * instance still carries that Call-ID. Nothing to store, nothing to expire, nothing to replicate.
 *
 * The AEAD is ChaCha20-Poly1305 (RFC 8439), sealed in JavaScript (runtime/chacha20-poly1305.ts:
 * one mint per REGISTER answered, and node:crypto's per-call cipher object cost more than the rest
 * of the registrar), opened with node:crypto. Tokens minted by earlier versions (AES-256-GCM, the
 * same layout: nonce, tag, ciphertext) still open, so an upgrade does not break the temp-GRUUs
 * UAs already hold.
 */
import { createDecipheriv, createHash, createHmac } from 'node:crypto';
import { ownCopy } from '../../sip/message/own-copy.js';
import { randomBytesPooled } from '../../sip/message/random-pool.js';
import { ChaCha20Poly1305Sealer, NONCE_BYTES, TAG_BYTES } from '../../runtime/chacha20-poly1305.js';

const TEMP_PREFIX = 'tgruu.';
/**
 * Both AEADs' nonce (IV) size: 96 random bits. A repeat under one key is what would hurt (it gives
 * away that pair's keystream and Poly1305 key); minting 10,000 a second for a year makes ~2^38, and
 * the chance that any two of those share a nonce is under one in a million (birthday bound).
 */
const IV_BYTES = NONCE_BYTES;

export function pubGruu(aor: string, instance: string): string {
  return `${aor};gr=${instance}`;
}

export interface TempGruuClaims {
  aor: string;
  instance: string;
  /** First 8 bytes of SHA-256(Call-ID), hex: ties the GRUU to one registration's Call-ID. */
  callIdHash: string;
}

// A UA refreshes with the same Call-ID every time: remember the last few thousand hashes.
const CALL_ID_HASHES = new Map<string, string>();
const CALL_ID_HASHES_MAX = 4096;

export function callIdHash(callId: string): string {
  let hash = CALL_ID_HASHES.get(callId);
  if (hash === undefined) {
    hash = createHash('sha256').update(callId).digest().subarray(0, 8).toString('hex');
    // Wholesale reset rather than LRU bookkeeping: a miss costs one hash, the map stays bounded.
    if (CALL_ID_HASHES.size >= CALL_ID_HASHES_MAX) CALL_ID_HASHES.clear();
    CALL_ID_HASHES.set(ownCopy(callId), hash);
  }
  return hash;
}

export class TempGruuCodec {
  /** ChaCha20-Poly1305 keys, newest secret first. */
  readonly #keys: Buffer[];
  /** AES-256-GCM keys of tokens minted before ChaCha20-Poly1305, opened only. */
  readonly #legacyKeys: Buffer[];
  readonly #sealer: ChaCha20Poly1305Sealer;

  /** @param secrets cluster secrets, newest first (same rotation rule as flow tokens). */
  constructor(secrets: readonly string[]) {
    if (secrets.length === 0) throw new TypeError('at least one GRUU secret is required');
    // One key per algorithm: a key is never used with two ciphers.
    this.#keys = secrets.map((s) => createHmac('sha256', s).update('sipflow-temp-gruu-chacha20-poly1305').digest());
    this.#legacyKeys = secrets.map((s) => createHmac('sha256', s).update('sipflow-temp-gruu').digest());
    this.#sealer = new ChaCha20Poly1305Sealer(this.#keys[0]!);
  }

  /** Returns the user part of a temp-gruu; the full URI is `sip:<user>@<domain>;gr`. */
  mint(claims: TempGruuClaims): string {
    const plain = Buffer.from(claims.aor + '\n' + claims.instance + '\n' + claims.callIdHash, 'utf8');
    // nonce | tag | ciphertext, as the AES-GCM tokens were laid out.
    const raw = Buffer.allocUnsafe(IV_BYTES + TAG_BYTES + plain.length);
    const nonce = randomBytesPooled(IV_BYTES);
    nonce.copy(raw, 0);
    this.#sealer.seal(nonce, plain, raw, IV_BYTES + TAG_BYTES, IV_BYTES);
    return TEMP_PREFIX + raw.toString('base64url');
  }

  /** Never throws; undefined for anything not minted by this cluster. */
  open(user: string): TempGruuClaims | undefined {
    if (!user.startsWith(TEMP_PREFIX) || user.length > 2048) return undefined;
    const raw = Buffer.from(user.slice(TEMP_PREFIX.length), 'base64url');
    if (raw.length <= IV_BYTES + TAG_BYTES) return undefined;
    const iv = raw.subarray(0, IV_BYTES);
    const tag = raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES);
    const body = raw.subarray(IV_BYTES + TAG_BYTES);
    const plain = openWith('chacha20-poly1305', this.#keys, iv, tag, body) ?? openWith('aes-256-gcm', this.#legacyKeys, iv, tag, body);
    if (plain === undefined) return undefined;
    const fields = plain.toString('utf8').split('\n');
    if (fields.length !== 3) return undefined;
    return { aor: fields[0]!, instance: fields[1]!, callIdHash: fields[2]! };
  }

  static looksLikeTempGruu(user: string | undefined): boolean {
    return user !== undefined && user.startsWith(TEMP_PREFIX);
  }
}

/** The plaintext under the first key that authenticates it; undefined when none does. */
function openWith(algorithm: 'chacha20-poly1305' | 'aes-256-gcm', keys: Buffer[], iv: Buffer, tag: Buffer, body: Buffer): Buffer | undefined {
  for (const key of keys) {
    try {
      const decipher = algorithm === 'aes-256-gcm' ? createDecipheriv(algorithm, key, iv) : createDecipheriv(algorithm, key, iv, { authTagLength: TAG_BYTES });
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(body), decipher.final()]);
    } catch {
      // wrong key or tampered: try the next secret
    }
  }
  return undefined;
}
