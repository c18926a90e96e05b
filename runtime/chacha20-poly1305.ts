/**
 * AEAD_CHACHA20_POLY1305 (RFC 8439 §2.8), sealing only, in JavaScript.
 *
 * Why not node:crypto: a registrar mints a temp-GRUU for every REGISTER it answers, and each
 * createCipheriv() builds a native cipher object and crosses into C++ four times (init, update,
 * final, getAuthTag): 3–6 µs per mint on this machine, and a core answering REGISTERs with a
 * constant temp-GRUU instead spent a quarter less CPU per REGISTER (bench/core/register-harness.ts).
 * The same AEAD in plain JavaScript costs ~1.4 µs for the ~100-byte plaintexts a temp-GRUU holds. Opening stays with node:crypto (`chacha20-poly1305`):
 * it is rare (an in-dialog request to a temp-GRUU), and it checks every token this code seals
 * against OpenSSL's implementation of the same RFC (test/runtime/chacha20-poly1305.test.ts
 * compares the two on random inputs and on RFC 8439's test vectors).
 *
 * No associated data: the token has none. ChaCha20 is add-rotate-xor on 32-bit words, and the
 * Poly1305 arithmetic below takes no branch on secret data (the final reduction selects by
 * arithmetic), so neither leaks timing.
 */

export const KEY_BYTES = 32;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;

const SIGMA: readonly number[] = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574];

export class ChaCha20Poly1305Sealer {
  /** The key as eight little-endian words, read once. */
  readonly #key: Uint32Array;
  /** One ChaCha20 block of output, reused. */
  readonly #block = new Uint8Array(64);
  readonly #blockWords = new Uint32Array(16);
  readonly #poly = new Poly1305();
  readonly #lengths = new Uint8Array(16);

  constructor(key: Uint8Array) {
    if (key.length !== KEY_BYTES) throw new RangeError(`a ChaCha20-Poly1305 key has ${KEY_BYTES} bytes, not ${key.length}`);
    this.#key = new Uint32Array(8);
    for (let i = 0; i < 8; i++) this.#key[i] = readLe32(key, i * 4);
  }

  /**
   * Encrypts `plaintext` into `out` at `ctOffset` (same length) and writes the 16-byte tag at
   * `tagOffset`. `nonce` must never repeat under this key (RFC 8439 §4): callers use 96 random bits.
   */
  seal(nonce: Uint8Array, plaintext: Uint8Array, out: Uint8Array, ctOffset: number, tagOffset: number): void {
    if (nonce.length !== NONCE_BYTES) throw new RangeError(`a ChaCha20-Poly1305 nonce has ${NONCE_BYTES} bytes, not ${nonce.length}`);
    this.#seal(nonce, 0, plaintext, 0, plaintext.length, out, ctOffset, tagOffset);
  }

  /**
   * seal() for a token that carries its nonce and is built in one buffer: the nonce is read from
   * `out` at `nonceAt`, and the `length` bytes at `ctOffset` are encrypted in place (ChaCha20 is an
   * XOR with its keystream, byte by byte). Neither the nonce nor the tag may overlap those bytes.
   */
  sealInPlace(out: Uint8Array, nonceAt: number, ctOffset: number, length: number, tagOffset: number): void {
    if (nonceAt < 0 || nonceAt + NONCE_BYTES > out.length) throw new RangeError(`no ${NONCE_BYTES}-byte nonce at ${nonceAt} of ${out.length} bytes`);
    if (ctOffset < 0 || length < 0 || ctOffset + length > out.length) throw new RangeError(`no ${length} bytes at ${ctOffset} of ${out.length} to seal`);
    if (tagOffset < 0 || tagOffset + TAG_BYTES > out.length) throw new RangeError(`no room for the ${TAG_BYTES}-byte tag at ${tagOffset} of ${out.length} bytes`);
    this.#seal(out, nonceAt, out, ctOffset, length, out, ctOffset, tagOffset);
  }

  #seal(nonce: Uint8Array, nonceAt: number, plaintext: Uint8Array, ptOffset: number, length: number, out: Uint8Array, ctOffset: number, tagOffset: number): void {
    const n0 = readLe32(nonce, nonceAt);
    const n1 = readLe32(nonce, nonceAt + 4);
    const n2 = readLe32(nonce, nonceAt + 8);
    // §2.6: the Poly1305 one-time key is the first 32 bytes of block 0.
    this.#chachaBlock(0, n0, n1, n2);
    const poly = this.#poly;
    poly.init(this.#block);
    // §2.4: the plaintext is encrypted from block 1 on.
    for (let at = 0, counter = 1; at < length; at += 64, counter++) {
      this.#chachaBlock(counter, n0, n1, n2);
      const block = this.#block;
      const end = Math.min(64, length - at);
      for (let i = 0; i < end; i++) out[ctOffset + at + i] = plaintext[ptOffset + at + i]! ^ block[i]!;
    }
    // §2.8: mac_data = AAD (none) || ciphertext || pad16 || le64(0) || le64(length).
    poly.update(out, ctOffset, length);
    const lengths = this.#lengths;
    writeLe32(lengths, 8, length);
    poly.update(lengths, 0, 16);
    poly.finish(out, tagOffset);
  }

  /** §2.3: the ChaCha20 block function, into #block. */
  #chachaBlock(counter: number, n0: number, n1: number, n2: number): void {
    const k = this.#key;
    const j0 = SIGMA[0]! | 0, j1 = SIGMA[1]! | 0, j2 = SIGMA[2]! | 0, j3 = SIGMA[3]! | 0;
    const j4 = k[0]! | 0, j5 = k[1]! | 0, j6 = k[2]! | 0, j7 = k[3]! | 0, j8 = k[4]! | 0, j9 = k[5]! | 0, j10 = k[6]! | 0, j11 = k[7]! | 0;
    const j12 = counter | 0, j13 = n0 | 0, j14 = n1 | 0, j15 = n2 | 0;
    let x0 = j0, x1 = j1, x2 = j2, x3 = j3, x4 = j4, x5 = j5, x6 = j6, x7 = j7;
    let x8 = j8, x9 = j9, x10 = j10, x11 = j11, x12 = j12, x13 = j13, x14 = j14, x15 = j15;
    for (let round = 0; round < 20; round += 2) {
      // Column rounds.
      x0 = (x0 + x4) | 0; x12 ^= x0; x12 = (x12 << 16) | (x12 >>> 16);
      x8 = (x8 + x12) | 0; x4 ^= x8; x4 = (x4 << 12) | (x4 >>> 20);
      x0 = (x0 + x4) | 0; x12 ^= x0; x12 = (x12 << 8) | (x12 >>> 24);
      x8 = (x8 + x12) | 0; x4 ^= x8; x4 = (x4 << 7) | (x4 >>> 25);
      x1 = (x1 + x5) | 0; x13 ^= x1; x13 = (x13 << 16) | (x13 >>> 16);
      x9 = (x9 + x13) | 0; x5 ^= x9; x5 = (x5 << 12) | (x5 >>> 20);
      x1 = (x1 + x5) | 0; x13 ^= x1; x13 = (x13 << 8) | (x13 >>> 24);
      x9 = (x9 + x13) | 0; x5 ^= x9; x5 = (x5 << 7) | (x5 >>> 25);
      x2 = (x2 + x6) | 0; x14 ^= x2; x14 = (x14 << 16) | (x14 >>> 16);
      x10 = (x10 + x14) | 0; x6 ^= x10; x6 = (x6 << 12) | (x6 >>> 20);
      x2 = (x2 + x6) | 0; x14 ^= x2; x14 = (x14 << 8) | (x14 >>> 24);
      x10 = (x10 + x14) | 0; x6 ^= x10; x6 = (x6 << 7) | (x6 >>> 25);
      x3 = (x3 + x7) | 0; x15 ^= x3; x15 = (x15 << 16) | (x15 >>> 16);
      x11 = (x11 + x15) | 0; x7 ^= x11; x7 = (x7 << 12) | (x7 >>> 20);
      x3 = (x3 + x7) | 0; x15 ^= x3; x15 = (x15 << 8) | (x15 >>> 24);
      x11 = (x11 + x15) | 0; x7 ^= x11; x7 = (x7 << 7) | (x7 >>> 25);
      // Diagonal rounds.
      x0 = (x0 + x5) | 0; x15 ^= x0; x15 = (x15 << 16) | (x15 >>> 16);
      x10 = (x10 + x15) | 0; x5 ^= x10; x5 = (x5 << 12) | (x5 >>> 20);
      x0 = (x0 + x5) | 0; x15 ^= x0; x15 = (x15 << 8) | (x15 >>> 24);
      x10 = (x10 + x15) | 0; x5 ^= x10; x5 = (x5 << 7) | (x5 >>> 25);
      x1 = (x1 + x6) | 0; x12 ^= x1; x12 = (x12 << 16) | (x12 >>> 16);
      x11 = (x11 + x12) | 0; x6 ^= x11; x6 = (x6 << 12) | (x6 >>> 20);
      x1 = (x1 + x6) | 0; x12 ^= x1; x12 = (x12 << 8) | (x12 >>> 24);
      x11 = (x11 + x12) | 0; x6 ^= x11; x6 = (x6 << 7) | (x6 >>> 25);
      x2 = (x2 + x7) | 0; x13 ^= x2; x13 = (x13 << 16) | (x13 >>> 16);
      x8 = (x8 + x13) | 0; x7 ^= x8; x7 = (x7 << 12) | (x7 >>> 20);
      x2 = (x2 + x7) | 0; x13 ^= x2; x13 = (x13 << 8) | (x13 >>> 24);
      x8 = (x8 + x13) | 0; x7 ^= x8; x7 = (x7 << 7) | (x7 >>> 25);
      x3 = (x3 + x4) | 0; x14 ^= x3; x14 = (x14 << 16) | (x14 >>> 16);
      x9 = (x9 + x14) | 0; x4 ^= x9; x4 = (x4 << 12) | (x4 >>> 20);
      x3 = (x3 + x4) | 0; x14 ^= x3; x14 = (x14 << 8) | (x14 >>> 24);
      x9 = (x9 + x14) | 0; x4 ^= x9; x4 = (x4 << 7) | (x4 >>> 25);
    }
    const w = this.#blockWords;
    w[0] = x0 + j0; w[1] = x1 + j1; w[2] = x2 + j2; w[3] = x3 + j3;
    w[4] = x4 + j4; w[5] = x5 + j5; w[6] = x6 + j6; w[7] = x7 + j7;
    w[8] = x8 + j8; w[9] = x9 + j9; w[10] = x10 + j10; w[11] = x11 + j11;
    w[12] = x12 + j12; w[13] = x13 + j13; w[14] = x14 + j14; w[15] = x15 + j15;
    const b = this.#block;
    for (let i = 0; i < 16; i++) writeLe32(b, i * 4, w[i]!);
  }
}

/**
 * Poly1305 (RFC 8439 §2.5) over whole 16-byte blocks, the last one zero-padded (which is what
 * §2.8's pad16 makes of every part of the AEAD's mac_data). Numbers mod 2^130 − 5 are held as ten
 * 13-bit limbs, so every product and sum of products stays an exact integer in a double.
 */
class Poly1305 {
  readonly #r = new Float64Array(10);
  /** 5r: the limb products that wrap past 2^130 come back times 5. */
  readonly #r5 = new Float64Array(10);
  readonly #h = new Float64Array(10);
  /** s, the second half of the one-time key, as four little-endian words. */
  readonly #s = new Uint32Array(4);
  readonly #t = new Float64Array(10);
  readonly #g = new Float64Array(10);
  readonly #clamped = new Uint8Array(16);

  /** Starts a new tag under the 32-byte one-time key (r, then s). */
  init(oneTimeKey: Uint8Array): void {
    // §2.5.1 clamp(r): clear the top four bits of bytes 3, 7, 11, 15 and the low two of 4, 8, 12.
    const r = this.#clamped;
    for (let i = 0; i < 16; i++) r[i] = oneTimeKey[i]!;
    r[3]! &= 15; r[7]! &= 15; r[11]! &= 15; r[15]! &= 15;
    r[4]! &= 252; r[8]! &= 252; r[12]! &= 252;
    toLimbs(r, 0, 16, 0, this.#r);
    for (let i = 0; i < 10; i++) this.#r5[i] = 5 * this.#r[i]!;
    this.#h.fill(0);
    for (let i = 0; i < 4; i++) this.#s[i] = readLe32(oneTimeKey, 16 + i * 4);
  }

  /** Adds `length` bytes from `data` at `offset`, zero-padding the last block to 16 bytes. */
  update(data: Uint8Array, offset: number, length: number): void {
    const t = this.#t, hv = this.#h, rv = this.#r, r5v = this.#r5;
    // Limbs in locals for the whole message: the multiply below is 100 products per block.
    let h0 = hv[0]!; let h1 = hv[1]!; let h2 = hv[2]!; let h3 = hv[3]!; let h4 = hv[4]!; let h5 = hv[5]!; let h6 = hv[6]!; let h7 = hv[7]!; let h8 = hv[8]!; let h9 = hv[9]!;
    const r0 = rv[0]!; const r1 = rv[1]!; const r2 = rv[2]!; const r3 = rv[3]!; const r4 = rv[4]!; const r5 = rv[5]!; const r6 = rv[6]!; const r7 = rv[7]!; const r8 = rv[8]!; const r9 = rv[9]!;
    const s1 = r5v[1]!; const s2 = r5v[2]!; const s3 = r5v[3]!; const s4 = r5v[4]!; const s5 = r5v[5]!; const s6 = r5v[6]!; const s7 = r5v[7]!; const s8 = r5v[8]!; const s9 = r5v[9]!;
    for (let at = 0; at < length; at += 16) {
      // Each block counts as a number with one bit set above its 16 bytes: 2^128 + block.
      toLimbs(data, offset + at, Math.min(16, length - at), 1, t);
      h0 += t[0]!; h1 += t[1]!; h2 += t[2]!; h3 += t[3]!; h4 += t[4]!; h5 += t[5]!; h6 += t[6]!; h7 += t[7]!; h8 += t[8]!; h9 += t[9]!;
      // h *= r (mod 2^130 − 5): products past the tenth limb wrap round times 5 (s = 5r).
      const d0 = h0 * r0 + h1 * s9 + h2 * s8 + h3 * s7 + h4 * s6 + h5 * s5 + h6 * s4 + h7 * s3 + h8 * s2 + h9 * s1;
      let d1 = h0 * r1 + h1 * r0 + h2 * s9 + h3 * s8 + h4 * s7 + h5 * s6 + h6 * s5 + h7 * s4 + h8 * s3 + h9 * s2;
      let d2 = h0 * r2 + h1 * r1 + h2 * r0 + h3 * s9 + h4 * s8 + h5 * s7 + h6 * s6 + h7 * s5 + h8 * s4 + h9 * s3;
      let d3 = h0 * r3 + h1 * r2 + h2 * r1 + h3 * r0 + h4 * s9 + h5 * s8 + h6 * s7 + h7 * s6 + h8 * s5 + h9 * s4;
      let d4 = h0 * r4 + h1 * r3 + h2 * r2 + h3 * r1 + h4 * r0 + h5 * s9 + h6 * s8 + h7 * s7 + h8 * s6 + h9 * s5;
      let d5 = h0 * r5 + h1 * r4 + h2 * r3 + h3 * r2 + h4 * r1 + h5 * r0 + h6 * s9 + h7 * s8 + h8 * s7 + h9 * s6;
      let d6 = h0 * r6 + h1 * r5 + h2 * r4 + h3 * r3 + h4 * r2 + h5 * r1 + h6 * r0 + h7 * s9 + h8 * s8 + h9 * s7;
      let d7 = h0 * r7 + h1 * r6 + h2 * r5 + h3 * r4 + h4 * r3 + h5 * r2 + h6 * r1 + h7 * r0 + h8 * s9 + h9 * s8;
      let d8 = h0 * r8 + h1 * r7 + h2 * r6 + h3 * r5 + h4 * r4 + h5 * r3 + h6 * r2 + h7 * r1 + h8 * r0 + h9 * s9;
      let d9 = h0 * r9 + h1 * r8 + h2 * r7 + h3 * r6 + h4 * r5 + h5 * r4 + h6 * r3 + h7 * r2 + h8 * r1 + h9 * r0;
      // Carry into 13-bit limbs; what passes 2^130 comes back in times 5.
      let c = Math.floor(d0 / 8192); h0 = d0 - c * 8192;
      d1 += c; c = Math.floor(d1 / 8192); h1 = d1 - c * 8192;
      d2 += c; c = Math.floor(d2 / 8192); h2 = d2 - c * 8192;
      d3 += c; c = Math.floor(d3 / 8192); h3 = d3 - c * 8192;
      d4 += c; c = Math.floor(d4 / 8192); h4 = d4 - c * 8192;
      d5 += c; c = Math.floor(d5 / 8192); h5 = d5 - c * 8192;
      d6 += c; c = Math.floor(d6 / 8192); h6 = d6 - c * 8192;
      d7 += c; c = Math.floor(d7 / 8192); h7 = d7 - c * 8192;
      d8 += c; c = Math.floor(d8 / 8192); h8 = d8 - c * 8192;
      d9 += c; c = Math.floor(d9 / 8192); h9 = d9 - c * 8192;
      h0 += 5 * c; c = Math.floor(h0 / 8192); h0 -= c * 8192;
      h1 += c; c = Math.floor(h1 / 8192); h1 -= c * 8192;
      h2 += c;
    }
    hv[0] = h0; hv[1] = h1; hv[2] = h2; hv[3] = h3; hv[4] = h4; hv[5] = h5; hv[6] = h6; hv[7] = h7; hv[8] = h8; hv[9] = h9;
  }

  /** §2.5: tag = (h mod p + s) mod 2^128, little-endian, into `out` at `offset`. */
  finish(out: Uint8Array, offset: number): void {
    const h = this.#h;
    // Every limb under 2^13 again (h[2] may hold a carry), then h < 2^130 + a little.
    let c = 0;
    for (let i = 0; i < 10; i++) {
      const v = h[i]! + c;
      c = v >>> 13;
      h[i] = v & 0x1fff;
    }
    h[0]! += 5 * c;
    c = h[0]! >>> 13;
    h[0]! &= 0x1fff;
    h[1]! += c;
    // Subtract p once if h ≥ p, i.e. if h + 5 reaches 2^130.
    const g = this.#g;
    c = 5;
    for (let i = 0; i < 10; i++) {
      const v = h[i]! + c;
      c = v >>> 13;
      g[i] = v & 0x1fff;
    }
    // c is 1 when h ≥ p: take g then, h otherwise, by arithmetic rather than a branch on the tag.
    for (let i = 0; i < 10; i++) h[i] = h[i]! + c * (g[i]! - h[i]!);
    // The low 128 bits as four words, plus s (mod 2^128).
    const w0 = (h[0]! | (h[1]! << 13) | (h[2]! << 26)) >>> 0;
    const w1 = ((h[2]! >>> 6) | (h[3]! << 7) | (h[4]! << 20)) >>> 0;
    const w2 = ((h[4]! >>> 12) | (h[5]! << 1) | (h[6]! << 14) | (h[7]! << 27)) >>> 0;
    const w3 = ((h[7]! >>> 5) | (h[8]! << 8) | (h[9]! << 21)) >>> 0;
    const s = this.#s;
    let sum = w0 + s[0]!;
    writeLe32(out, offset, sum);
    sum = w1 + s[1]! + Math.floor(sum / 0x100000000);
    writeLe32(out, offset + 4, sum);
    sum = w2 + s[2]! + Math.floor(sum / 0x100000000);
    writeLe32(out, offset + 8, sum);
    sum = w3 + s[3]! + Math.floor(sum / 0x100000000);
    writeLe32(out, offset + 12, sum);
  }
}

/** Limbs of 13 bits from `length` (≤ 16) little-endian bytes, zero-padded, plus `high` × 2^128. */
function toLimbs(bytes: Uint8Array, offset: number, length: number, high: number, out: Float64Array): void {
  let w0: number, w1: number, w2: number, w3: number;
  if (length === 16) {
    w0 = readLe32(bytes, offset);
    w1 = readLe32(bytes, offset + 4);
    w2 = readLe32(bytes, offset + 8);
    w3 = readLe32(bytes, offset + 12);
  } else {
    const padded = PADDED;
    padded.fill(0);
    for (let i = 0; i < length; i++) padded[i] = bytes[offset + i]!;
    w0 = readLe32(padded, 0);
    w1 = readLe32(padded, 4);
    w2 = readLe32(padded, 8);
    w3 = readLe32(padded, 12);
  }
  // 128 bits make nine limbs and 11 bits of a tenth; 2^128 is bit 11 of the tenth.
  out[0] = w0 & 0x1fff;
  out[1] = (w0 >>> 13) & 0x1fff;
  out[2] = ((w0 >>> 26) | (w1 << 6)) & 0x1fff;
  out[3] = (w1 >>> 7) & 0x1fff;
  out[4] = ((w1 >>> 20) | (w2 << 12)) & 0x1fff;
  out[5] = (w2 >>> 1) & 0x1fff;
  out[6] = (w2 >>> 14) & 0x1fff;
  out[7] = ((w2 >>> 27) | (w3 << 5)) & 0x1fff;
  out[8] = (w3 >>> 8) & 0x1fff;
  out[9] = (w3 >>> 21) | (high << 11);
}

const PADDED = new Uint8Array(16);

function readLe32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

function writeLe32(b: Uint8Array, at: number, v: number): void {
  b[at] = v & 255;
  b[at + 1] = (v >>> 8) & 255;
  b[at + 2] = (v >>> 16) & 255;
  b[at + 3] = (v >>> 24) & 255;
}
