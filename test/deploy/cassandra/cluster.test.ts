import t from 'tap';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { clusterStatus } from '../../../deploy/cassandra/cluster.js';
import { nodePaths, cassandraHome } from '../../../deploy/cassandra/paths.js';
import { topologyNodes } from '../../../deploy/cassandra/topology.js';

/** Every live process whose command line names this yaml (a JVM of that node). */
function jvmsFor(yaml: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmd.includes(`-Dcassandra.config=file://${yaml}`)) out.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

t.test('two processes starting the single node at once get one JVM and the same pid', async (t) => {
  const script = `
    import { startCluster } from './deploy/cassandra/cluster.js';
    const r = await startCluster({ topology: '1', progress: (l) => process.stderr.write(l + '\\n') });
    process.stdout.write(JSON.stringify({ pid: r.nodes[0].pid, already: r.nodes[0].alreadyRunning }));`;
  const run = () =>
    new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import=@tapjs/typescript/import', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.on('close', (code) => resolve({ code, out }));
    });
  const [a, b] = await Promise.all([run(), run()]);
  t.equal(a.code, 0);
  t.equal(b.code, 0);
  const ra = JSON.parse(a.out) as { pid: number; already: boolean };
  const rb = JSON.parse(b.out) as { pid: number; already: boolean };
  t.equal(ra.pid, rb.pid, 'both report the same JVM');
  t.ok(ra.already || rb.already, 'at most one of them launched it');
  const spec = topologyNodes('1')[0]!;
  const paths = nodePaths(cassandraHome(), spec.name);
  t.strictSame(jvmsFor(paths.yaml), [ra.pid], 'exactly one JVM runs for the node');
  t.equal(Number(readFileSync(paths.pidFile, 'utf8')), ra.pid, 'its pid file names it');
});

t.test('status says the single node runs and answers CQL with its token', async (t) => {
  const [s] = await clusterStatus({ topology: '1' });
  t.equal(s?.running, true);
  t.equal(s?.cql, true);
  t.match(s?.releaseVersion ?? '', /^5\.0\./);
  t.strictSame(s?.tokens, [topologyNodes('1')[0]!.initialToken]);
});
