import t from 'tap';
import { FlowBackoff } from '../../web-demo/src/flow-backoff.js';

t.test('the first attempts (one per other edge) are immediate', async (t) => {
  const b = new FlowBackoff({ baseMs: 1000, maxMs: 30_000, immediate: 2, random: () => 1 });
  t.equal(b.next(), 0);
  t.equal(b.next(), 0);
  t.equal(b.next(), 1000);
  t.equal(b.failures, 3);
});

t.test('RFC 5626 §4.5: wait-time = min(max-time, base-time * 2^failures), then 50-100% of it', async (t) => {
  const high = new FlowBackoff({ baseMs: 1000, maxMs: 30_000, immediate: 0, random: () => 0.999999 });
  t.same(Array.from({ length: 7 }, () => Math.round(high.next() / 1000)), [1, 2, 4, 8, 16, 30, 30]);
  const low = new FlowBackoff({ baseMs: 1000, maxMs: 30_000, immediate: 0, random: () => 0 });
  t.same(Array.from({ length: 3 }, () => low.next()), [500, 1000, 2000], 'never less than half');
});

t.test('a success starts the sequence again', async (t) => {
  const b = new FlowBackoff({ baseMs: 500, maxMs: 4000, immediate: 1, random: () => 1 });
  b.next();
  b.next();
  b.next();
  b.success();
  t.equal(b.failures, 0);
  t.equal(b.next(), 0);
  t.equal(b.next(), 500);
});

t.test('nonsense settings are refused', async (t) => {
  t.throws(() => new FlowBackoff({ baseMs: 0, maxMs: 10, immediate: 0 }), RangeError);
  t.throws(() => new FlowBackoff({ baseMs: 10, maxMs: 5, immediate: 0 }), RangeError);
  t.throws(() => new FlowBackoff({ baseMs: 10, maxMs: 50, immediate: -1 }), RangeError);
});
