import t from 'tap';
import { NonceCountTracker } from '../../../sip/auth/nonce-count-tracker.js';

function setup(maxEntries = 100) {
  let now = 1_000_000;
  const tracker = new NonceCountTracker({ maxEntries, now: () => now });
  return { tracker, advance: (ms: number) => (now += ms), now: () => now };
}

t.test('RFC 2617 §3.2.2: "if the same nc-value is seen twice, then the request is a replay"', async (t) => {
  const { tracker, now } = setup();
  const exp = now() + 300_000;
  t.equal(tracker.use('n1', 1, now(), exp), 'accepted');
  t.equal(tracker.use('n1', 1, now(), exp), 'replay');
  t.equal(tracker.use('n1', 3, now(), exp), 'accepted', 'gaps are allowed (lost requests)');
  t.equal(tracker.use('n1', 2, now(), exp), 'replay', 'lower than the highest seen');
  t.equal(tracker.use('n2', 1, now(), exp), 'accepted', 'counts are per nonce');
});

t.test('one-time use: a nonce is accepted once, whatever the nc', async (t) => {
  const { tracker, now } = setup();
  const exp = now() + 300_000;
  t.equal(tracker.use('n1', undefined, now(), exp), 'accepted');
  t.equal(tracker.use('n1', undefined, now(), exp), 'replay');
  t.equal(tracker.use('n1', 99, now(), exp), 'replay');
});

t.test('entries expire with their nonce and are swept', async (t) => {
  const { tracker, now, advance } = setup();
  for (let i = 0; i < 10; i++) tracker.use(`n${i}`, 1, now(), now() + 1_000);
  t.equal(tracker.size, 10);
  advance(1_001);
  tracker.use('fresh', 1, now(), now() + 1_000);
  t.equal(tracker.size, 1, 'expired entries swept from the front');
  t.equal(tracker.use('n0', 1, now() - 1_001, now() - 1), 'accepted', 'an expired entry no longer counts');
});

t.test('memory bound: never more than maxEntries, however many nonces are used', async (t) => {
  const { tracker, now, advance } = setup(50);
  let max = 0;
  for (let i = 0; i < 1_000; i++) {
    tracker.use(`n${i}`, 1, now(), now() + 300_000);
    max = Math.max(max, tracker.size);
    advance(10);
  }
  t.equal(max, 50);
  t.equal(tracker.size, 50);
});

t.test('an evicted live nonce is "forgotten", never accepted again as new', async (t) => {
  const { tracker, now, advance } = setup(2);
  const t0 = now();
  t.equal(tracker.use('a', 1, t0, t0 + 300_000), 'accepted');
  advance(1);
  t.equal(tracker.use('b', 1, t0 + 1, t0 + 300_001), 'accepted');
  advance(1);
  t.equal(tracker.use('c', 1, t0 + 2, t0 + 300_002), 'accepted', 'evicts a');
  t.equal(tracker.size, 2);
  t.equal(tracker.use('a', 1, t0, t0 + 300_000), 'forgotten', 'a replay of a cannot slip through');
  t.equal(tracker.use('a', 5, t0, t0 + 300_000), 'forgotten');
  t.equal(tracker.use('d', 1, t0 + 2, t0 + 300_002), 'accepted', 'nonces issued after the eviction mark are fine');
  t.equal(tracker.use('c', 1, t0 + 2, t0 + 300_002), 'replay', 'tracked entries still checked');
});

t.test('an expired entry is swept, not evicted: it does not raise the forgotten mark', async (t) => {
  const { tracker, now, advance } = setup(1);
  const t0 = now();
  tracker.use('old', 1, t0, t0 + 10);
  advance(20);
  // The front sweep removes 'old' anyway; a later nonce issued at t0 must still be accepted.
  t.equal(tracker.use('x', 1, t0, t0 + 300_000), 'accepted');
});

t.test('maxEntries must be a positive integer', async (t) => {
  t.throws(() => new NonceCountTracker({ maxEntries: 0, now: Date.now }), TypeError);
  t.throws(() => new NonceCountTracker({ maxEntries: 1.5, now: Date.now }), TypeError);
});
