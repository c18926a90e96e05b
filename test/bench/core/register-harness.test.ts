import t from 'tap';
import { fileURLToPath } from 'node:url';
import { runRegisterHarness } from '../../../bench/core/register-harness.js';

t.test('the core REGISTER harness drives a real core and a floor server and reports both', async (t) => {
  // Small counts: this checks the harness works (every answer a 200 to one of its REGISTERs,
  // or the round fails), not how fast the core is.
  const r = await runRegisterHarness({ uas: 10, count: 2000, runs: 2 });
  t.equal(r.core.length, 2);
  t.equal(r.floor.length, 2);
  t.ok(r.core.every((v) => v > 0 && Number.isFinite(v)), `core figures ${r.core.join(', ')} µs`);
  t.ok(r.floor.every((v) => v > 0 && Number.isFinite(v)), `floor figures ${r.floor.join(', ')} µs`);
  t.ok(r.core[0]! <= r.core[1]! && r.floor[0]! <= r.floor[1]!, 'sorted');
  t.ok(Number.isFinite(r.coreWork));
});

t.test('with a baseline build, both cores are measured round by round and their difference reported', async (t) => {
  // The baseline is this checkout's own build (dist/, made by `npm ci`'s prepare): the same code
  // loaded a second time, which is all the check needs: two cores, both answering every REGISTER.
  const dist = fileURLToPath(new URL('../../../dist', import.meta.url));
  const r = await runRegisterHarness({ uas: 10, count: 2000, runs: 2, baseline: dist });
  t.equal(r.core.length, 2);
  t.equal(r.baseline?.core.length, 2, 'the baseline core was measured each round');
  t.ok(r.baseline!.core.every((v) => v > 0 && Number.isFinite(v)), `baseline figures ${r.baseline!.core.join(', ')} µs`);
  t.ok(Number.isFinite(r.baseline!.difference) && Number.isFinite(r.baseline!.coreWork));
});

t.test('a baseline directory without a build is refused with what to do', async (t) => {
  await t.rejects(runRegisterHarness({ uas: 2, count: 10, runs: 1, baseline: '/nonexistent-sipflow-build' }), /build that checkout first/);
});
