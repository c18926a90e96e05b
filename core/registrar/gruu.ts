/**
 * RFC 5627 GRUUs that any core node can resolve without asking the core that minted them.
 *
 * pub-gruu is the AOR plus `;gr=<instance>`: derivable by anyone who knows both.
 *
 * temp-gruu must not reveal the AOR (§3.2), must be fresh on every registration, and must stay
 * valid while the registration that produced it lives — and die when the UA re-registers with a new
 * Call-ID (§4.2: "a temp-gruu remains valid ... until the registration expires or the UA reboots").
 * Instead of a GRUU table we encrypt (AOR, instance, hash(Call-ID), random) under a key derived
 * from the cluster secret: any core decrypts it, then checks that a live binding of that instance
 * still carries that Call-ID. Nothing to store, nothing to expire, nothing to replicate.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac } from 'node:crypto';
import { ownCopy } from '../../sip/message/own-copy.js';
import { randomBytesPooled } from '../../sip/message/random-pool.js';

const TEMP_PREFIX = 'tgruu.';
const IV_BYTES = 12;
const TAG_BYTES = 16;

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
  readonly #keys: Buffer[];

  /** @param secrets cluster secrets, newest first (same rotation rule as flow tokens). */
  constructor(secrets: readonly string[]) {
    if (secrets.length === 0) throw new TypeError('at least one GRUU secret is required');
    this.#keys = secrets.map((s) => createHmac('sha256', s).update('sipflow-temp-gruu').digest());
  }

  /** Returns the user part of a temp-gruu; the full URI is `sip:<user>@<domain>;gr`. */
  mint(claims: TempGruuClaims): string {
    const iv = randomBytesPooled(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#keys[0]!, iv);
    const plain = Buffer.from([claims.aor, claims.instance, claims.callIdHash].join('\n'), 'utf8');
    const body = Buffer.concat([cipher.update(plain), cipher.final()]);
    return TEMP_PREFIX + Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
  }

  /** Never throws; undefined for anything not minted by this cluster. */
  open(user: string): TempGruuClaims | undefined {
    if (!user.startsWith(TEMP_PREFIX) || user.length > 2048) return undefined;
    const raw = Buffer.from(user.slice(TEMP_PREFIX.length), 'base64url');
    if (raw.length <= IV_BYTES + TAG_BYTES) return undefined;
    const iv = raw.subarray(0, IV_BYTES);
    const tag = raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES);
    const body = raw.subarray(IV_BYTES + TAG_BYTES);
    for (const key of this.#keys) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, iv);
        decipher.setAuthTag(tag);
        const fields = Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8').split('\n');
        if (fields.length !== 3) return undefined;
        return { aor: fields[0]!, instance: fields[1]!, callIdHash: fields[2]! };
      } catch {
        // wrong key or tampered: try the next secret
      }
    }
    return undefined;
  }

  static looksLikeTempGruu(user: string | undefined): boolean {
    return user !== undefined && user.startsWith(TEMP_PREFIX);
  }
}
