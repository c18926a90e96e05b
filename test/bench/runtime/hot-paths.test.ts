import t from 'tap';
import { fileURLToPath } from 'node:url';
import { runHotPaths } from '../../../bench/runtime/hot-paths.js';

t.test('the hot-path bench times each helper, and a baseline build alongside', async (t) => {
  // Small counts: this checks the bench runs and reports every figure, not how fast they are.
  const alone = await runHotPaths({ calls: 2000, runs: 2 });
  for (const [k, v] of Object.entries(alone.mine)) t.ok(Number.isFinite(v) && v >= 0, `${k}: ${v} ns`);
  t.equal(alone.baseline, undefined);
  const dist = fileURLToPath(new URL('../../../dist', import.meta.url));
  const paired = await runHotPaths({ calls: 2000, runs: 2, baseline: dist });
  t.same(Object.keys(paired.baseline ?? {}).sort(), ['branchKey', 'contact', 'decide', 'frame', 'inc', 'mint', 'observe', 'token']);
  await t.rejects(runHotPaths({ calls: 10, runs: 1, baseline: '/nonexistent-sipflow-build' }), /build that checkout first/);
});
