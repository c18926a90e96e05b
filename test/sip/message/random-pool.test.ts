import t from 'tap';
import { randomByte, randomBytesPooled, randomFillPooled } from '../../../sip/message/random-pool.js';

t.test('randomBytesPooled hands out fresh bytes of the asked length, never the same twice', async (t) => {
  const seen = new Set<string>();
  // Several refills of the 4 KiB pool, and sizes that straddle its end.
  for (let i = 0; i < 2000; i++) {
    const n = 1 + (i % 23);
    const b = randomBytesPooled(n);
    t.equal(b.length, n);
    if (n >= 8) {
      const hex = b.toString('hex');
      t.notOk(seen.has(hex), 'no repeat');
      seen.add(hex);
    }
  }
  t.equal(randomBytesPooled(10_000).length, 10_000, 'larger than the pool: served directly');
});

t.test('the copies are the caller\'s: changing one changes no later value', async (t) => {
  const a = randomBytesPooled(16);
  const copy = Buffer.from(a);
  a.fill(0);
  const b = randomBytesPooled(16);
  t.notSame(b, a);
  t.same(copy.length, 16);
});

t.test('randomByte spreads over the whole byte range', async (t) => {
  const counts = new Array<number>(256).fill(0);
  for (let i = 0; i < 256 * 64; i++) counts[randomByte()]!++;
  t.ok(counts.every((c) => c > 20 && c < 120), 'every value seen, none wildly over-represented');
});

t.test('randomFillPooled writes fresh bytes where asked and nowhere else', async (t) => {
  const seen = new Set<string>();
  const out = Buffer.alloc(40, 0xee);
  // Past several refills of the pool.
  for (let i = 0; i < 1000; i++) {
    t.equal(randomFillPooled(out, 4, 12), out, 'returns the buffer it filled');
    const hex = out.toString('hex', 4, 16);
    t.notOk(seen.has(hex), 'no repeat');
    seen.add(hex);
  }
  t.ok(out.subarray(0, 4).every((b) => b === 0xee) && out.subarray(16).every((b) => b === 0xee), 'the bytes around are untouched');
  t.throws(() => randomFillPooled(Buffer.alloc(8192), 0, 8192), RangeError, 'more than the pool at once is refused');
});
