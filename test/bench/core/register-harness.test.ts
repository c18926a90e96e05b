import t from 'tap';
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
