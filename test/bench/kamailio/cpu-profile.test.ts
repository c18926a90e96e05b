/** Self time from V8 .cpuprofile files, aggregated per function over call sites and files. */
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { summarizeProfiles } from '../../../bench/kamailio/cpu-profile.js';

const frame = (functionName: string, url = '', lineNumber = 0) => ({ functionName, url, lineNumber, columnNumber: 0, scriptId: '0' });

t.test('self time is summed per function across call sites and files; idle is left out of the busy share', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cpuprof-'));
  const profile = {
    nodes: [
      { id: 1, callFrame: frame('(root)'), children: [2, 3, 5] },
      { id: 2, callFrame: frame('parse', 'file:///repo/sip/parser.js', 9), children: [4] },
      { id: 3, callFrame: frame('(idle)') },
      { id: 4, callFrame: frame('parse', 'file:///repo/sip/parser.js', 9) },
      { id: 5, callFrame: frame('(garbage collector)') },
    ],
    startTime: 0,
    endTime: 1000,
    samples: [2, 4, 3, 5, 2],
    // The time a sample stands for is the next delta: 100, 300, 500, 50, (none for the last).
    timeDeltas: [0, 100, 300, 500, 50],
  };
  const a = join(dir, 'a.cpuprofile');
  const b = join(dir, 'b.cpuprofile');
  writeFileSync(a, JSON.stringify(profile));
  writeFileSync(b, JSON.stringify(profile));
  const s = summarizeProfiles([a, b], '/repo', 5);
  t.equal(s.totalMs, 1.9, 'all sampled time');
  t.equal(s.busyMs, 0.9, 'idle left out');
  t.equal(s.gcMs, 0.1);
  t.equal(s.top[0]!.name, 'parse (sip/parser.js:10)', 'one row for both call sites, repository-relative');
  t.equal(s.top[0]!.selfMs, 0.8);
  t.equal(Math.round(s.top[0]!.busyShare * 1000) / 1000, 0.889);
  t.notOk(s.top.some((r) => r.name === '(idle)'), 'idle is not a cost');
});
