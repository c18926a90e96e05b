/**
 * `sipflow cassandra fetch|start|stop|status|clean`: the project's own Apache Cassandra (jars from
 * Maven Central, nodes on loopback aliases). The work is in deploy/cassandra; this only parses
 * options and prints.
 */
import type { Command } from 'commander';
import { z } from 'zod';
import { cleanCluster, clusterStatus, startCluster, stopCluster } from '../../deploy/cassandra/cluster.js';
import { fetchCassandra } from '../../deploy/cassandra/fetch.js';
import { cassandraHome } from '../../deploy/cassandra/paths.js';
import { TOPOLOGIES, type TopologyName } from '../../deploy/cassandra/topology.js';
import { optionsFor, run } from '../command-kit.js';
import { onOff, positiveInt } from '../../runtime/options.js';

const topology = z
  .enum(['1', '2x2', 'single', 'ring'])
  .default('1')
  .transform((v): TopologyName => (v === 'single' ? '1' : v === 'ring' ? '2x2' : v));
const topologyOrAll = z
  .enum(['1', '2x2', 'single', 'ring', 'all'])
  .default('all')
  .transform((v): TopologyName[] => (v === 'all' ? [...TOPOLOGIES] : [v === 'single' ? '1' : v === 'ring' ? '2x2' : v]));
const partitioner = z.enum(['murmur3', 'random']).default('murmur3');
const cassandraVersion = z.string().regex(/^\d+\.\d+\.\d+$/, 'a version like 5.0.6').optional();

const say = (line: string) => process.stdout.write(`${line}\n`);

export function register(program: Command): void {
  const cmd = program
    .command('cassandra')
    .description(`run Apache Cassandra locally: one node on 127.0.0.2, or the 2 DC x 2 node ring on 127.0.0.11-14 (data under ${cassandraHome()}, env SIPFLOW_CASSANDRA_HOME)`);

  cmd
    .command('fetch')
    .description('download cassandra-all and its runtime jars from Maven Central with mvn (once; skipped when complete)')
    .option('--cassandra-version <v>', 'a specific version (default: newest 5.0.x available, tried newest first)')
    .action((_o: unknown, c: Command) =>
      run(async () => {
        const o = optionsFor(z.object({ cassandraVersion }), c, 'cassandra');
        const started = Date.now();
        const install = await fetchCassandra({ home: cassandraHome(), progress: say, ...(o.cassandraVersion ? { version: o.cassandraVersion } : {}) });
        say(`ready: Cassandra ${install.version}, ${install.jars} jars in ${install.lib} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
      }),
    );

  cmd
    .command('start')
    .description('start the nodes of a topology (fetching first if needed) and wait until each answers CQL; already running nodes are left alone')
    .option('--topology <t>', '1 (single node, default) or 2x2 (two DCs of two nodes)')
    .option('--partitioner <p>', 'murmur3 (default) or random; fixed when a node is first started')
    .option('--fresh', 'wipe the nodes\' data before starting')
    .option('--timeout <seconds>', 'per node wait for CQL (default 240)')
    .option('--heap <mb>', 'JVM heap per node in MB (default 512)')
    .option('--cassandra-version <v>', 'use (and fetch) this version instead of the newest fetched')
    .action((_o: unknown, c: Command) =>
      run(async () => {
        const o = optionsFor(
          z.object({ topology, partitioner, fresh: onOff.default(false), timeout: positiveInt.default(240), heap: positiveInt.min(256).default(512), cassandraVersion }),
          c,
          'cassandra',
        );
        const r = await startCluster({
          topology: o.topology,
          partitioner: o.partitioner,
          fresh: o.fresh,
          timeoutMs: o.timeout * 1000,
          jvm: { heapMb: o.heap },
          progress: say,
          ...(o.cassandraVersion ? { version: o.cassandraVersion } : {}),
        });
        const launched = r.nodes.filter((n) => !n.alreadyRunning).length;
        say(
          `Cassandra ${r.install.version} topology ${o.topology}: ${r.nodes.length} node(s) up (${launched} started, ${r.nodes.length - launched} already running) in ${r.seconds.toFixed(1)} s; ` +
            `contact points ${r.nodes.map((n) => `${n.spec.ip}:${n.spec.cqlPort}`).join(',')}, local DCs ${[...new Set(r.nodes.map((n) => n.spec.dc))].join(',')}`,
        );
      }),
    );

  cmd
    .command('stop')
    .description('stop the nodes this folder started (by pid: SIGTERM, SIGKILL after a grace period)')
    .option('--topology <t>', '1, 2x2 or all (default all)')
    .action((_o: unknown, c: Command) =>
      run(async () => {
        const o = optionsFor(z.object({ topology: topologyOrAll }), c, 'cassandra');
        let total = 0;
        for (const t of o.topology) total += (await stopCluster({ topology: t, progress: say })).length;
        say(total ? `stopped ${total} node(s)` : 'no node was running');
      }),
    );

  cmd
    .command('status')
    .description('which nodes run (pid), and whether each answers CQL')
    .option('--topology <t>', '1, 2x2 or all (default all)')
    .option('--json', 'print JSON')
    .action((_o: unknown, c: Command) =>
      run(async () => {
        const o = optionsFor(z.object({ topology: topologyOrAll, json: onOff.default(false) }), c, 'cassandra');
        const all = (await Promise.all(o.topology.map((t) => clusterStatus({ topology: t })))).flat();
        if (o.json) {
          say(JSON.stringify(all.map((s) => ({ node: s.spec.name, ip: s.spec.ip, cqlPort: s.spec.cqlPort, dc: s.spec.dc, rack: s.spec.rack, pid: s.pid ?? null, running: s.running, cql: s.cql, releaseVersion: s.releaseVersion ?? null, tokens: s.tokens ?? null, log: s.logFile })), null, 2));
          return;
        }
        const rows = [['node', 'address', 'dc/rack', 'pid', 'process', 'cql'], ...all.map((s) => [s.spec.name, `${s.spec.ip}:${s.spec.cqlPort}`, `${s.spec.dc}/${s.spec.rack}`, s.pid ? String(s.pid) : '-', s.running ? 'up' : 'down', s.cql ? `yes (${s.releaseVersion})` : 'no'])];
        const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
        for (const r of rows) say(r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
        const foreign = all.filter((s) => s.cql && !s.running);
        for (const s of foreign) say(`note: ${s.spec.ip}:${s.spec.cqlPort} answers CQL but was not started from ${cassandraHome()}`);
      }),
    );

  cmd
    .command('clean')
    .description('delete the (stopped) nodes\' data and logs')
    .option('--topology <t>', '1, 2x2 or all (default all)')
    .action((_o: unknown, c: Command) =>
      run(async () => {
        const o = optionsFor(z.object({ topology: topologyOrAll }), c, 'cassandra');
        for (const t of o.topology) say(`removed ${(await cleanCluster({ topology: t })).join(', ')}`);
      }),
    );
}
