import t from 'tap';
import { byDatacenter, ownership, ringArcs, tokenPosition } from '../../web-demo/src/ring-geometry.js';

const MIN = (-(2n ** 63n)).toString();
const MAX = (2n ** 63n - 1n).toString();

t.test('Murmur3 tokens map onto the circle from -2^63 at the top, clockwise', async (t) => {
  t.equal(tokenPosition(MIN), 0);
  t.equal(tokenPosition('0'), 0.5);
  t.equal(tokenPosition((2n ** 62n).toString()), 0.75);
  t.ok(tokenPosition(MAX) < 1 && tokenPosition(MAX) > 0.999999);
  t.throws(() => tokenPosition((2n ** 63n).toString()), RangeError, 'beyond the ring');
});

t.test('a node owns the range that ends at each of its tokens: (previous token, token]', async (t) => {
  const arcs = ringArcs([
    { address: 'a', tokens: ['0'] },
    { address: 'b', tokens: [(2n ** 62n).toString()] },
  ]);
  t.same(arcs, [
    { owner: 'a', start: 0.75, end: 1.5 },
    { owner: 'b', start: 0.5, end: 0.75 },
  ]);
  const share = ownership([{ address: 'a', tokens: ['0'] }, { address: 'b', tokens: [(2n ** 62n).toString()] }]);
  t.equal(share.get('a'), 0.75, 'the first range wraps around the top');
  t.equal(share.get('b'), 0.25);
});

t.test('one token owns the whole ring; shares always add up to one', async (t) => {
  t.same(ownership([{ address: 'solo', tokens: ['123'] }]), new Map([['solo', 1]]));
  const hosts = [
    { address: 'n1', tokens: ['-9000000000000000000', '-100', '4000000000000000000'] },
    { address: 'n2', tokens: ['-5000000000000000000', '77', '9000000000000000000'] },
    { address: 'n3', tokens: [] },
  ];
  const share = ownership(hosts);
  const total = [...share.values()].reduce((a, b) => a + b, 0);
  t.ok(Math.abs(total - 1) < 1e-6, `sum ${total}`);
  t.equal(share.get('n3'), 0, 'a node without tokens owns nothing');
  t.equal(ringArcs(hosts).length, 6);
  t.same(ringArcs([]), []);
});

t.test('NetworkTopologyStrategy: ranges are per datacenter, so offset-mirror tokens split each DC evenly', async (t) => {
  // DC2's tokens are DC1's plus one: on a single global ring DC2 would seem to own nothing.
  const hosts = [
    { address: '127.0.0.2', datacenter: 'DC1', tokens: [MIN] },
    { address: '127.0.0.3', datacenter: 'DC1', tokens: ['0'] },
    { address: '127.0.0.4', datacenter: 'DC2', tokens: [(-(2n ** 63n) + 1n).toString()] },
    { address: '127.0.0.5', dc: 'DC2', tokens: ['1'] },
  ];
  const global = ownership(hosts);
  t.ok(global.get('127.0.0.4')! < 1e-9, 'one global ring is misleading');
  const dcs = byDatacenter(hosts);
  t.same([...dcs.keys()], ['DC1', 'DC2'], 'datacenters in first-seen order; `dc` is read too');
  for (const [dc, members] of dcs) {
    for (const [address, share] of ownership(members)) t.ok(Math.abs(share - 0.5) < 1e-6, `${address} owns half of ${dc}`);
  }
});
