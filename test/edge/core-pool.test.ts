import t from 'tap';
import { CoreHealth } from '../../edge/core-health.js';
import { CorePool } from '../../edge/core-pool.js';

const cores = [1, 2, 3, 4].map((i) => ({ host: `10.0.0.${i}`, port: 5060 }));
const never = async (): Promise<boolean> => true;

t.test('core health: unknown until probed, down after N failures in a row, up on the first success', async (t) => {
  const changes: string[] = [];
  const h = new CoreHealth({ host: '10.0.0.1', port: 5060 }, 3, (c, from) => changes.push(`${from}->${c.state}`));
  t.equal(h.state, 'unknown');
  t.equal(h.usable, true, 'an unprobed core may take traffic');
  h.failure();
  h.failure();
  t.equal(h.state, 'unknown', 'two failures are not three');
  h.success();
  h.failure();
  h.failure();
  t.equal(h.state, 'up', 'a success resets the count');
  h.failure();
  t.equal(h.state, 'down');
  t.equal(h.usable, false);
  h.success();
  t.equal(h.state, 'up');
  t.same(changes, ['unknown->up', 'up->down', 'down->up']);
  t.throws(() => new CoreHealth({ host: 'x', port: 1 }, 0), TypeError);
});

t.test('rendezvous hashing: stable per Call-ID, spread over cores, minimal movement when one goes down', async (t) => {
  const pool = new CorePool(cores, { probeInterval: 1000, failureThreshold: 1 }, never);
  const before = new Map<string, string>();
  const count = new Map<string, number>();
  let unstable = 0;
  for (let i = 0; i < 4000; i++) {
    const id = `call-${i}@example`;
    const c = pool.pick(id)!.id;
    if (pool.pick(id)!.id !== c) unstable++;
    before.set(id, c);
    count.set(c, (count.get(c) ?? 0) + 1);
  }
  t.equal(unstable, 0, 'the same Call-ID always picks the same core');
  for (const [c, n] of count) t.ok(n > 800 && n < 1200, `${c} got ${n} of 4000`);
  const victim = pool.cores[1]!;
  victim.failure();
  t.equal(victim.state, 'down');
  let moved = 0;
  let movedFromOthers = 0;
  for (const [id, c] of before) {
    if (pool.pick(id)!.id === c) continue;
    moved++;
    if (c !== victim.id) movedFromOthers++;
  }
  t.equal(movedFromOthers, 0, 'calls of healthy cores stay where they are');
  t.equal(moved, count.get(victim.id), 'every call of the dead core moved');
});

t.test('pick with exclusions walks the ranking; nothing usable gives undefined', async (t) => {
  const pool = new CorePool(cores.slice(0, 2), { probeInterval: 1000, failureThreshold: 1 }, never);
  const first = pool.pick('abc')!;
  const second = pool.pick('abc', new Set([first]))!;
  t.not(second, first);
  t.equal(pool.pick('abc', new Set([first, second])), undefined);
  for (const c of pool.cores) c.failure();
  t.equal(pool.pick('abc'), undefined);
  t.equal(pool.find('10.0.0.2', 5060)?.id, '10.0.0.2:5060');
  t.equal(pool.find('10.0.0.2', 5061), undefined);
  t.throws(() => new CorePool([], { probeInterval: 1, failureThreshold: 1 }, never), TypeError);
});

t.test('probing: a slow probe is not started twice; results drive health', async (t) => {
  let calls = 0;
  let answer: (ok: boolean) => void = () => undefined;
  const pool = new CorePool(cores.slice(0, 1), { probeInterval: 60_000, failureThreshold: 1 }, () => {
    calls++;
    return new Promise<boolean>((resolve) => (answer = resolve));
  });
  pool.start();
  t.teardown(() => pool.stop());
  pool.probeAll();
  t.equal(calls, 1, 'the second round skipped the core with a probe in flight');
  answer(false);
  await new Promise((r) => setImmediate(r));
  t.equal(pool.cores[0]!.state, 'down');
  pool.probeAll();
  answer(true);
  await new Promise((r) => setImmediate(r));
  t.equal(pool.cores[0]!.state, 'up');
  t.equal(pool.healthyCount, 1);
});
