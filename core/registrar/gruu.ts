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
 *
 * The plaintext is binary when the instance is a urn:uuid and the hash is ours (what every UA
 * that registers with an instance sends): a marker byte, the hash's 8 bytes, the UUID's 16, then
 * the AOR: 38 bytes less than the text form (AOR, instance and hash joined by newlines, still
 * minted for anything else and still opened), so for a usual AOR one ChaCha20 block less to seal,
 * two or three Poly1305 blocks less, and a temp-GRUU 51 characters shorter in every 200 and dialog.
 */
import { createDecipheriv, createHash, createHmac } from 'node:crypto';
import { ownCopy } from '../../sip/message/own-copy.js';
import { randomFillPooled } from '../../sip/message/random-pool.js';
import { ChaCha20Poly1305Sealer, NONCE_BYTES, TAG_BYTES } from '../../runtime/chacha20-poly1305.js';

const TEMP_PREFIX = 'tgruu.';
/**
 * Both AEADs' nonce (IV) size: 96 random bits. A repeat under one key is what would hurt (it gives
 * away that pair's keystream and Poly1305 key); minting 10,000 a second for a year makes ~2^38, and
 * the chance that any two of those share a nonce is under one in a million (birthday bound).
 */
const IV_BYTES = NONCE_BYTES;
/** Where a token's claims (sealed: its ciphertext) start, after the nonce and the tag. */
const CLAIMS_AT = IV_BYTES + TAG_BYTES;

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
  /** Where a token is built and sealed: room for binary claims of any length binaryClaims() takes. */
  readonly #raw = Buffer.alloc(CLAIMS_AT + BINARY_MAX);

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
    // nonce | tag | ciphertext, as the AES-GCM tokens were laid out, built in one buffer kept for
    // every mint (the token leaves as a string): the claims are written where their ciphertext
    // goes and sealed in place.
    let raw = this.#raw;
    let length = binaryClaims(claims, raw, CLAIMS_AT);
    if (length < 0) {
      const text = claims.aor + '\n' + claims.instance + '\n' + claims.callIdHash;
      length = Buffer.byteLength(text, 'utf8');
      if (CLAIMS_AT + length > raw.length) raw = Buffer.allocUnsafe(CLAIMS_AT + length);
      raw.write(text, CLAIMS_AT, 'utf8');
    }
    randomFillPooled(raw, 0, IV_BYTES);
    this.#sealer.sealInPlace(raw, 0, CLAIMS_AT, length, IV_BYTES);
    return TEMP_PREFIX + raw.toString('base64url', 0, CLAIMS_AT + length);
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
    if (plain[0] === BINARY_MARKER) return readBinaryClaims(plain);
    const fields = plain.toString('utf8').split('\n');
    if (fields.length !== 3) return undefined;
    return { aor: fields[0]!, instance: fields[1]!, callIdHash: fields[2]! };
  }

  static looksLikeTempGruu(user: string | undefined): boolean {
    return user !== undefined && user.startsWith(TEMP_PREFIX);
  }
}

/** First byte of binary claims; text claims start with their AOR, a printable character. */
const BINARY_MARKER = 0x01;
const HASH_BYTES = 8;
const UUID_BYTES = 16;
const URN_UUID = 'urn:uuid:';
/** A UUID's groups of hex digits (RFC 4122 §3). */
const UUID_GROUPS: readonly number[] = [8, 4, 4, 4, 12];
/** Binary claims past this (an AOR of ~200 bytes) are minted as text. */
const BINARY_MAX = 256;

/**
 * Claims as marker | hash | UUID | AOR, written into `out` at `at`; their length, or −1 (nothing
 * to rely on written) when the instance is not a lower-case urn:uuid, the hash not 16 lower-case
 * hex digits, or the whole longer than BINARY_MAX: those are minted as text.
 */
function binaryClaims(claims: TempGruuClaims, out: Buffer, at: number): number {
  const { instance, callIdHash: hash, aor } = claims;
  if (hash.length !== 2 * HASH_BYTES || instance.length !== URN_UUID.length + 36 || !instance.startsWith(URN_UUID)) return -1;
  const aorAt = at + 1 + HASH_BYTES + UUID_BYTES;
  const end = writeAor(aor, out, aorAt, at + BINARY_MAX);
  if (end < 0) return -1;
  out[at] = BINARY_MARKER;
  if (!hexInto(hash, 0, hash.length, out, at + 1)) return -1;
  // 8-4-4-4-12: the dashes where RFC 4122 puts them, hex everywhere else.
  let to = at + 1 + HASH_BYTES;
  let from = URN_UUID.length;
  for (const digits of UUID_GROUPS) {
    if (from > URN_UUID.length && instance.charCodeAt(from++) !== 0x2d) return -1;
    if (!hexInto(instance, from, from + digits, out, to)) return -1;
    to += digits / 2;
    from += digits;
  }
  return end - at;
}

/**
 * The AOR as UTF-8 into `out` from `at`, stopping short of `limit`; where it ends, or −1 when it
 * does not fit. ASCII (every AOR this registrar makes from a SIP URI's user and its domain, unless
 * the user part was escaped into something else) is copied char by char: a Buffer write is a trip
 * into C++ that costs more than the copy.
 */
function writeAor(aor: string, out: Buffer, at: number, limit: number): number {
  if (at + aor.length > limit) return -1;
  for (let i = 0; i < aor.length; i++) {
    const c = aor.charCodeAt(i);
    if (c >= 0x80) {
      const bytes = Buffer.byteLength(aor, 'utf8');
      if (at + bytes > limit) return -1;
      return at + out.write(aor, at, bytes, 'utf8');
    }
    out[at + i] = c;
  }
  return at + aor.length;
}

/** Lower-case hex digits text[start..end) as bytes into out at `at`; false on anything else. */
function hexInto(text: string, start: number, end: number, out: Buffer, at: number): boolean {
  for (let i = start; i < end; i += 2) {
    const hi = lowerHexValue(text.charCodeAt(i));
    const lo = lowerHexValue(text.charCodeAt(i + 1));
    if (hi < 0 || lo < 0) return false;
    out[at++] = (hi << 4) | lo;
  }
  return true;
}

/**
 * Not sip/grammar/chars.ts's hexValue: that one takes upper case too, and an upper-case digit
 * would come back lower-case from the binary form, so those claims must go as text.
 */
function lowerHexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

function readBinaryClaims(plain: Buffer): TempGruuClaims | undefined {
  const aorAt = 1 + HASH_BYTES + UUID_BYTES;
  if (plain.length <= aorAt) return undefined;
  const u = plain.toString('hex', 1 + HASH_BYTES, aorAt);
  return {
    aor: plain.toString('utf8', aorAt),
    instance: `${URN_UUID}${u.slice(0, 8)}-${u.slice(8, 12)}-${u.slice(12, 16)}-${u.slice(16, 20)}-${u.slice(20)}`,
    callIdHash: plain.toString('hex', 1, 1 + HASH_BYTES),
  };
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
