import t from 'tap';
import { Histogram, Registry } from 'prom-client';
import { HotHistogram } from '../../runtime/hot-histogram.js';

const BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5];

/** The exposition text of one registry, with the metric's name made the same. */
async function exported(registry: Registry, name: string): Promise<string> {
  return (await registry.metrics()).replaceAll(name, 'm');
}

t.test('what a scrape reports equals prom-client\'s own Histogram given the same values', async (t) => {
  const hotRegistry = new Registry();
  const plainRegistry = new Registry();
  const hot = new HotHistogram({ name: 'hot_seconds', help: 'h', buckets: BUCKETS, registers: [hotRegistry] });
  const plain = new Histogram({ name: 'plain_seconds', help: 'h', buckets: BUCKETS, registers: [plainRegistry] });
  // On the bounds, between them, below the first, past the last, and zero.
  const values = [0, 0.0001, 0.0005, 0.00051, 0.001, 0.003, 0.0049, 0.01, 0.3, 1, 4.99, 5, 5.01, 12];
  for (let round = 0; round < 3; round++) {
    for (const v of values) {
      hot.observe(v * (round + 1));
      plain.observe(v * (round + 1));
    }
    t.equal(await exported(hotRegistry, 'hot_seconds'), await exported(plainRegistry, 'plain_seconds'), `after round ${round + 1}: the same buckets, sum and count`);
  }
  t.match(await hotRegistry.metrics(), /hot_seconds_count 42/, 'every value counted once, across reads');
  const got = await hot.get();
  t.equal(got.values.find((v) => v.metricName === 'hot_seconds_bucket' && (v.labels as Record<string, unknown>).le === '+Inf')?.value, 42, 'get() hands over too');
});

t.test('values wait in the hot histogram until a read, not in prom-client\'s record', async (t) => {
  const hot = new HotHistogram({ name: 'w_seconds', help: 'w', buckets: BUCKETS, registers: [] });
  // prom-client's record for a histogram without labels (what the hand-over writes into).
  const record = (): { count: number } | undefined => (hot as unknown as { hashMap: Record<string, { count: number }> }).hashMap[''];
  for (let i = 0; i < 10; i++) hot.observe(i / 1000);
  t.equal(record()?.count, 0, 'observe() left prom-client\'s record alone: the fast path is in use');
  await hot.get();
  t.equal(record()?.count, 10, 'a read handed all ten over');
});

t.test('reset drops what was observed and not yet read; observing goes on afterwards', async (t) => {
  const registry = new Registry();
  const hot = new HotHistogram({ name: 'r_seconds', help: 'r', buckets: BUCKETS, registers: [registry] });
  hot.observe(0.003);
  hot.observe(0.2);
  hot.reset();
  hot.observe(0.0007);
  const text = await registry.metrics();
  t.match(text, /r_seconds_count 1\n/);
  t.match(text, /r_seconds_bucket\{le="0.001"\} 1\n/);
  t.match(text, /r_seconds_bucket\{le="0.0005"\} 0\n/);
  t.match(text, /r_seconds_sum 0.0007\n/);
});

t.test('bad values are refused as prom-client refuses them; labels are refused at construction', async (t) => {
  const hot = new HotHistogram({ name: 'b_seconds', help: 'b', buckets: BUCKETS, registers: [] });
  t.throws(() => hot.observe(Number.NaN), TypeError, 'NaN');
  t.throws(() => hot.observe(Number.POSITIVE_INFINITY), TypeError, 'Infinity');
  t.throws(() => new HotHistogram({ name: 'l_seconds', help: 'l', labelNames: ['x'] as never, registers: [] }), TypeError);
  hot.observe(0.01);
  t.equal((await hot.get()).values.find((v) => v.metricName === 'b_seconds_count')?.value, 1, 'the refused values counted nowhere');
});
