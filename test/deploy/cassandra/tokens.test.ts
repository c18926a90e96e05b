import t from 'tap';
import { offsetMirrorToken, offsetMirrorTokens, tokenRange, type Partitioner } from '../../../deploy/cassandra/tokens.js';

const PARTITIONERS: Partitioner[] = ['random', 'murmur3'];

t.test('the seed\'s worked example: 2 DCs x 2 nodes, RandomPartitioner', async (t) => {
  const tokens = offsetMirrorTokens(2, 2, 'random').map((n) => n.token.toString());
  t.strictSame(tokens, ['0', '85070591730234615865843651857942052864', '1', '85070591730234615865843651857942052865']);
});

t.test('Murmur3 tokens are the same layout shifted by -2^63', async (t) => {
  t.strictSame(
    offsetMirrorTokens(2, 2, 'murmur3').map((n) => n.token),
    [-(2n ** 63n), 0n, -(2n ** 63n) + 1n, 1n],
  );
});

/** Gaps between consecutive tokens of one DC, including the wrap-around gap. */
function gaps(tokens: bigint[], size: bigint): bigint[] {
  const sorted = [...tokens].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return sorted.map((tok, i) => (i + 1 < sorted.length ? sorted[i + 1]! - tok : sorted[0]! + size - tok));
}

t.test('each DC\'s nodes split the whole ring evenly, and DCs mirror each other offset by one', async (t) => {
  for (const p of PARTITIONERS) {
    const { min, size } = tokenRange(p);
    for (let dcs = 1; dcs <= 4; dcs++) {
      for (let m = 1; m <= 6; m++) {
        const all = offsetMirrorTokens(dcs, m, p);
        t.equal(new Set(all.map((n) => n.token)).size, all.length, `${p} ${dcs}x${m}: no two nodes share a token`);
        t.ok(all.every((n) => n.token >= min && n.token < min + size), `${p} ${dcs}x${m}: every token inside the partitioner range`);
        for (let dc = 0; dc < dcs; dc++) {
          const own = all.filter((n) => n.dc === dc);
          const g = gaps(own.map((n) => n.token), size);
          const spread = g.reduce((a, b) => (b > a ? b : a)) - g.reduce((a, b) => (b < a ? b : a));
          // Exactly even when the range divides by m; otherwise only the remainder is left over.
          t.ok(spread < BigInt(m), `${p} ${dcs}x${m} DC${dc + 1}: ranges differ by at most the division remainder (${spread})`);
          t.ok(own.every((n) => n.token === all.find((x) => x.dc === 0 && x.node === n.node)!.token + BigInt(dc)), `${p} ${dcs}x${m} DC${dc + 1}: mirrors DC1 offset by ${dc}`);
        }
      }
    }
  }
});

/** NetworkTopologyStrategy with RF 1 per DC: in each DC, the first node clockwise from the data token. */
function replicaInDc(dcTokens: bigint[], token: bigint): number {
  let best = -1;
  for (let i = 0; i < dcTokens.length; i++) if (dcTokens[i]! >= token && (best < 0 || dcTokens[i]! < dcTokens[best]!)) best = i;
  if (best >= 0) return best;
  return dcTokens.indexOf(dcTokens.reduce((a, b) => (b < a ? b : a)));
}

t.test('with {DC1:1, DC2:1} the mirror layout spreads each DC\'s replicas evenly, the sequential one does not', async (t) => {
  const { size } = tokenRange('random');
  // Deterministic pseudo-random data tokens over 0..2^127.
  let x = 0x2545f4914f6cdd1dn;
  const sample: bigint[] = [];
  for (let i = 0; i < 4000; i++) {
    x = (x * 6364136223846793005n + 1442695040888963407n) % 2n ** 64n;
    sample.push((x * size) / 2n ** 64n);
  }
  const count = (dc1: bigint[], dc2: bigint[]) => {
    const pairs = new Map<string, number>();
    for (const tok of sample) {
      const key = `${replicaInDc(dc1, tok)}->${replicaInDc(dc2, tok)}`;
      pairs.set(key, (pairs.get(key) ?? 0) + 1);
    }
    return pairs;
  };
  const mirror = offsetMirrorTokens(2, 2, 'random');
  const m = count(mirror.filter((n) => n.dc === 0).map((n) => n.token), mirror.filter((n) => n.dc === 1).map((n) => n.token));
  t.strictSame([...m.keys()].sort(), ['0->0', '1->1'], 'mirror: a token on DC1 node k has its DC2 replica on node k');
  for (const v of m.values()) t.ok(Math.abs(v - sample.length / 2) < sample.length * 0.05, `mirror: each node pair holds about half (${v})`);
  // The seed's counter-example: DC0R1:0, DC0R2:5, DC1R1:10, DC1R2:15 on a ring of 20.
  const seq = (n: number) => (BigInt(n) * size) / 20n;
  const s = count([seq(0), seq(5)], [seq(10), seq(15)]);
  const dc2Load = [0, 1].map((node) => [...s.entries()].filter(([k]) => k.endsWith(`->${node}`)).reduce((a, [, v]) => a + v, 0));
  t.ok(Math.max(...dc2Load) > sample.length * 0.7, `sequential: one DC2 node takes most replicas (${dc2Load.join(' vs ')})`);
});

t.test('bad shapes are refused', async (t) => {
  t.throws(() => offsetMirrorTokens(0, 2), RangeError);
  t.throws(() => offsetMirrorToken(0, 2, 2, 'murmur3'), RangeError, 'node index out of range');
  t.throws(() => offsetMirrorToken(0, 0, 0, 'murmur3'), RangeError);
  t.throws(() => offsetMirrorToken(-1, 0, 1, 'random'), RangeError);
});
