import t from 'tap';
import { runEdgeBench } from '../../bench/edge/edge-bench.js';

t.test('the idle-flow benchmark runs end to end on a small N', async (t) => {
  const lines: string[] = [];
  const r = await runEdgeBench({ flows: 50, concurrency: 10, log: (l) => lines.push(l) });
  t.equal(r.flows, 50);
  t.equal(r.uws, 'native');
  t.ok(r.rssBaselineMiB > 10, `baseline ${r.rssBaselineMiB} MiB read from /proc`);
  t.ok(r.rssLoadedMiB > 0);
  t.ok(Number.isFinite(r.rssPerFlowKiB));
  t.ok(r.setupSeconds > 0);
  t.match(lines.join('\n'), /50 idle registered flows/);
});
