import t from 'tap';
import { fileURLToPath } from 'node:url';
import { runEdgeRegisterHarness } from '../../../bench/edge/register-harness.js';

t.test('the edge REGISTER harness drives WebSocket UAs through a real edge and the floor\'s edge to an answering server', async (t) => {
  // Small counts: this checks the harness works (every answer a 200 to the UA's latest REGISTER,
  // or the round fails), not how fast the edge is.
  const r = await runEdgeRegisterHarness({ uas: 10, count: 500, runs: 2 });
  t.equal(r.edge.length, 2);
  t.equal(r.floor.length, 2, "the floor's edge was measured each round");
  t.ok(r.edge.every((v) => v > 0 && Number.isFinite(v)), `figures ${r.edge.join(', ')} µs`);
  t.ok(r.floor.every((v) => v > 0 && Number.isFinite(v)), `floor figures ${r.floor.join(', ')} µs`);
  t.ok(r.edge[0]! <= r.edge[1]! && r.floor[0]! <= r.floor[1]!, 'sorted');
  t.ok(Number.isFinite(r.edgeWork));
  t.equal(r.baseline, undefined);
});

t.test('with a baseline build, both edges take turns and their difference is reported', async (t) => {
  // The baseline is this checkout's own build (dist/, made by `npm ci`'s prepare).
  const dist = fileURLToPath(new URL('../../../dist', import.meta.url));
  const r = await runEdgeRegisterHarness({ uas: 10, count: 500, runs: 3, baseline: dist });
  t.equal(r.edge.length, 3);
  t.equal(r.baseline?.edge.length, 3, 'the baseline edge was measured each round');
  t.equal(r.floor.length, 3);
  t.ok(Number.isFinite(r.baseline!.difference) && Number.isFinite(r.baseline!.edgeWork));
});

t.test('a baseline directory without a build is refused with what to do', async (t) => {
  await t.rejects(runEdgeRegisterHarness({ uas: 1, count: 10, runs: 1, baseline: '/nonexistent-sipflow-build' }), /build that checkout first/);
});
