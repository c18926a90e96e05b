import t from 'tap';
import { DEFAULT_TIMER_SETTINGS, backoff, resolveTimerSettings, timerValues } from '../../../sip/transaction/timers.js';
import { ManualClock } from '../../../sip/transaction/manual-clock.js';

t.test('RFC 3261 Table 4: timer values for unreliable transports', async (t) => {
  t.same(timerValues(DEFAULT_TIMER_SETTINGS, false), {
    A: 500, B: 32000, D: 32000, E: 500, F: 32000, G: 500, H: 32000, I: 5000, J: 32000, K: 5000, L: 32000, M: 32000,
  });
});

t.test('RFC 3261 Table 4: reliable transports have no retransmit timers and zero wait states (D, I, J, K)', async (t) => {
  t.same(timerValues(DEFAULT_TIMER_SETTINGS, true), {
    A: undefined, B: 32000, D: 0, E: undefined, F: 32000, G: undefined, H: 32000, I: 0, J: 0, K: 0, L: 32000, M: 32000,
  });
});

t.test('T1, T2, T4 are configurable and checked', async (t) => {
  const s = resolveTimerSettings({ t1: 100, t4: 1000 });
  t.same(s, { t1: 100, t2: 4000, t4: 1000, d: 32000 });
  t.equal(timerValues(s, false).B, 6400);
  t.throws(() => resolveTimerSettings({ t1: -1 }), TypeError);
  t.throws(() => resolveTimerSettings({ t1: 5000, t2: 4000 }), TypeError);
  t.equal(backoff(500, 4000), 1000);
  t.equal(backoff(4000, 4000), 4000);
});

t.test('ManualClock fires timers in time order, including ones set by callbacks, and clears them', async (t) => {
  const c = new ManualClock();
  const fired: string[] = [];
  c.setTimer(() => fired.push('b'), 20);
  c.setTimer(() => {
    fired.push('a');
    c.setTimer(() => fired.push('a2'), 5);
  }, 10);
  const h = c.setTimer(() => fired.push('never'), 15);
  c.clearTimer(h);
  t.equal(c.pending, 2);
  t.equal(c.advance(30), 3);
  t.same(fired, ['a', 'a2', 'b']);
  t.equal(c.now(), 30);
  t.equal(c.pending, 0);
  c.setTimer(() => fired.push('late'), 1000);
  t.equal(c.runAll(), 1000);
  t.equal(fired.at(-1), 'late');
  // a runaway loop is caught, not spun forever
  const loop = (): void => void c.setTimer(loop, 0);
  loop();
  t.throws(() => c.runAll(50), /timer loop/);
});

t.test('timerValues is computed once per settings object and transport kind, and shared frozen', async (t) => {
  const s = resolveTimerSettings({ t1: 100 });
  const a = timerValues(s, false);
  t.equal(timerValues(s, false), a, 'the same object again');
  t.ok(Object.isFrozen(a));
  t.not(timerValues(s, true), a);
  t.equal(timerValues(s, true).K, 0);
  s.t1 = 200;
  t.equal(timerValues(s, false).E, 200, 'a settings object changed in place is noticed');
  t.equal(timerValues(s, false).F, 64 * 200);
});
