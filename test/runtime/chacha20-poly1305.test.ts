import t from 'tap';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { ChaCha20Poly1305Sealer, NONCE_BYTES, TAG_BYTES } from '../../runtime/chacha20-poly1305.js';

/** OpenSSL's AEAD_CHACHA20_POLY1305 (RFC 8439), the reference the JavaScript sealer must equal. */
function opensslSeal(key: Buffer, nonce: Buffer, plaintext: Buffer): { ciphertext: Buffer; tag: Buffer } {
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_BYTES });
  const ciphertext = Buffer.concat([c.update(plaintext), c.final()]);
  return { ciphertext, tag: c.getAuthTag() };
}

function jsSeal(key: Buffer, nonce: Buffer, plaintext: Buffer): { ciphertext: Buffer; tag: Buffer } {
  const out = Buffer.alloc(plaintext.length + TAG_BYTES);
  new ChaCha20Poly1305Sealer(key).seal(nonce, plaintext, out, 0, plaintext.length);
  return { ciphertext: out.subarray(0, plaintext.length), tag: out.subarray(plaintext.length) };
}

t.test('RFC 8439 §2.4.2: the ChaCha20 keystream from block 1 (key 00..1f, nonce 00000000 0000004a 00000000)', async (t) => {
  const key = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
  const nonce = Buffer.from('000000000000004a00000000', 'hex');
  const plaintext = Buffer.from(
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
  );
  const sealed = jsSeal(key, nonce, plaintext);
  // The RFC's ciphertext starts 6e 2e 35 9a 25 68 f9 80 41 ba 07 28 dd 0d 69 81 and ends ... 87 4d.
  t.equal(sealed.ciphertext.subarray(0, 16).toString('hex'), '6e2e359a2568f98041ba0728dd0d6981');
  t.equal(sealed.ciphertext.subarray(-2).toString('hex'), '874d');
  t.same(sealed, opensslSeal(key, nonce, plaintext));
});

t.test('equals OpenSSL on random keys, nonces and plaintexts of every length from 0 to 300 bytes', async (t) => {
  let mismatches = 0;
  for (let length = 0; length <= 300; length++) {
    const key = randomBytes(32);
    const nonce = randomBytes(NONCE_BYTES);
    const plaintext = randomBytes(length);
    const js = jsSeal(key, nonce, plaintext);
    const ref = opensslSeal(key, nonce, plaintext);
    if (!js.ciphertext.equals(ref.ciphertext) || !js.tag.equals(ref.tag)) mismatches++;
  }
  t.equal(mismatches, 0, 'every length seals to the same bytes as OpenSSL');
});

t.test('edge values of the Poly1305 arithmetic: all-ones keys and plaintexts', async (t) => {
  // 0xff everywhere makes r, s and every block as large as they get: the carries are at their limits.
  for (const length of [15, 16, 17, 64, 160, 256]) {
    const key = Buffer.alloc(32, 0xff);
    const nonce = Buffer.alloc(NONCE_BYTES, 0xff);
    const plaintext = Buffer.alloc(length, 0xff);
    t.same(jsSeal(key, nonce, plaintext), opensslSeal(key, nonce, plaintext), `${length} bytes`);
  }
  // Many random inputs against a key whose one-time Poly1305 key comes out however it does.
  const sealer = new ChaCha20Poly1305Sealer(Buffer.alloc(32, 0xff));
  let mismatches = 0;
  for (let i = 0; i < 2000; i++) {
    const nonce = randomBytes(NONCE_BYTES);
    const plaintext = Buffer.alloc(1 + (i % 200), i % 2 ? 0xff : 0);
    const out = Buffer.alloc(plaintext.length + TAG_BYTES);
    sealer.seal(nonce, plaintext, out, 0, plaintext.length);
    const ref = opensslSeal(Buffer.alloc(32, 0xff), nonce, plaintext);
    if (!out.equals(Buffer.concat([ref.ciphertext, ref.tag]))) mismatches++;
  }
  t.equal(mismatches, 0);
});

t.test('what it seals, OpenSSL opens; a flipped bit is refused', async (t) => {
  const key = randomBytes(32);
  const nonce = randomBytes(NONCE_BYTES);
  const plaintext = Buffer.from('sip:alice@example.com\n<urn:uuid:00000000-0000-4000-8000-000000000001>\n0123456789abcdef');
  const { ciphertext, tag } = jsSeal(key, nonce, plaintext);
  const open = (ct: Buffer): Buffer => {
    const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_BYTES });
    d.setAuthTag(tag);
    return Buffer.concat([d.update(ct), d.final()]);
  };
  t.same(open(ciphertext), plaintext);
  const tampered = Buffer.from(ciphertext);
  tampered[5]! ^= 1;
  t.throws(() => open(tampered));
});

t.test('sealed in place, with the nonce in the same buffer, equals OpenSSL', async (t) => {
  let mismatches = 0;
  for (const length of [0, 1, 15, 16, 17, 63, 64, 65, 100, 200]) {
    const key = randomBytes(32);
    const nonce = randomBytes(NONCE_BYTES);
    const plaintext = randomBytes(length);
    // nonce | tag | plaintext, sealed into nonce | tag | ciphertext.
    const token = Buffer.concat([nonce, Buffer.alloc(TAG_BYTES), plaintext, Buffer.from('after')]);
    new ChaCha20Poly1305Sealer(key).sealInPlace(token, 0, NONCE_BYTES + TAG_BYTES, length, NONCE_BYTES);
    const ref = opensslSeal(key, nonce, plaintext);
    const at = NONCE_BYTES + TAG_BYTES;
    if (!token.subarray(0, NONCE_BYTES).equals(nonce) || !token.subarray(NONCE_BYTES, at).equals(ref.tag) || !token.subarray(at, at + length).equals(ref.ciphertext)) mismatches++;
    if (token.toString('latin1', at + length) !== 'after') mismatches++;
  }
  t.equal(mismatches, 0, 'every length: the same tag and ciphertext as OpenSSL, the nonce and the bytes after left alone');
  const s = new ChaCha20Poly1305Sealer(Buffer.alloc(32));
  t.throws(() => s.sealInPlace(Buffer.alloc(40), 30, 0, 4, 4), RangeError, 'no whole nonce');
  t.throws(() => s.sealInPlace(Buffer.alloc(40), 0, 28, 13, 12), RangeError, 'plaintext past the end');
  t.throws(() => s.sealInPlace(Buffer.alloc(40), 0, 28, 4, 30), RangeError, 'tag past the end');
});

t.test('refuses keys and nonces of the wrong size', async (t) => {
  t.throws(() => new ChaCha20Poly1305Sealer(Buffer.alloc(16)), RangeError);
  const s = new ChaCha20Poly1305Sealer(Buffer.alloc(32));
  t.throws(() => s.seal(Buffer.alloc(8), Buffer.alloc(4), Buffer.alloc(20), 0, 4), RangeError);
});
