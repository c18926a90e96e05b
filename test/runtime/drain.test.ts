import t from 'tap';
import { drainWhile } from '../../runtime/drain.js';

t.test('drained as soon as nothing waits', async (t) => {
  let waiting = 2;
  setTimeout(() => (waiting = 1), 30);
  setTimeout(() => (waiting = 0), 80);
  const r = await drainWhile(() => waiting, 5000, { pollMs: 5 });
  t.equal(r.drained, true);
  t.equal(r.waiting, 0);
  t.ok(r.ms >= 70 && r.ms < 2000, `after the last one finished (${r.ms} ms)`);
});

t.test('nothing waiting at all: drained at once', async (t) => {
  const r = await drainWhile(() => 0, 5000);
  t.same({ drained: r.drained, waiting: r.waiting }, { drained: true, waiting: 0 });
  t.ok(r.ms < 50);
});

t.test('the quiet condition must hold too', async (t) => {
  let quiet = false;
  setTimeout(() => (quiet = true), 60);
  const r = await drainWhile(() => 0, 5000, { quiet: () => quiet, pollMs: 5 });
  t.equal(r.drained, true);
  t.ok(r.ms >= 50, `waited for quiet (${r.ms} ms)`);
});

t.test('the deadline ends it with what still waits', async (t) => {
  const r = await drainWhile(() => 3, 120, { pollMs: 10 });
  t.same({ drained: r.drained, waiting: r.waiting }, { drained: false, waiting: 3 });
  t.ok(r.ms >= 110 && r.ms < 2000, `at the deadline (${r.ms} ms)`);
});

t.test('an abort ends it between polls, without waiting for the next one', async (t) => {
  const cut = new AbortController();
  setTimeout(() => cut.abort(), 40);
  const started = performance.now();
  const r = await drainWhile(() => 1, 60_000, { signal: cut.signal, pollMs: 10_000 });
  t.equal(r.drained, false);
  t.ok(performance.now() - started < 2000, 'not after the 10 s poll');
  const already = await drainWhile(() => 1, 60_000, { signal: cut.signal });
  t.equal(already.ms < 50, true, 'an already aborted signal returns at once');
});
