/** `sipflow cluster`: the whole local cluster in one command (what `npm start` runs). */
import { Command } from 'commander';
import { z } from 'zod';
import { optionsFor, loggerFor, run, stopSignal } from '../command-kit.js';
import { onOff, portNumber, positiveInt } from '../../runtime/options.js';
import { startLocalCluster, DEMO_USERS } from '../../deploy/cluster/local-cluster.js';

export const clusterSchema = z.object({
  edges: positiveInt.max(16).default(2),
  cores: positiveInt.max(16).default(2),
  store: z.enum(['memory', 'cassandra']).default('cassandra'),
  cassandra: z.enum(['1', '2x2']).default('1'),
  domain: z.string().regex(/^[A-Za-z0-9.-]+$/).default('sipflow.test'),
  host: z.string().default('127.0.0.1'),
  coreBasePort: portNumber.default(5060),
  edgeWsBasePort: portNumber.default(8081),
  edgeUdpBasePort: portNumber.default(5080),
  coreTransport: z.enum(['udp', 'tcp']).default('tcp'),
  metricsBasePort: portNumber.default(9100),
  demoPort: portNumber.default(8080),
  auth: onOff.default('on'),
});

export function register(program: Command): void {
  program
    .command('cluster')
    .description('run the local cluster: Cassandra, cores, edges, rtpengine and the web demo; Ctrl-C stops it all')
    .option('--edges <n>', 'edge nodes (default 2)')
    .option('--cores <n>', 'core nodes (default 2)')
    .option('--store <kind>', 'cassandra (default) or memory (no Cassandra; cores share one in-process store)')
    .option('--cassandra <topology>', "'1' (one node, default) or '2x2' (the seed's two datacenters of two nodes)")
    .option('--domain <domain>', 'SIP domain of the demo users (default sipflow.test)')
    .option('--host <ip>', 'loopback address to listen on (default 127.0.0.1)')
    .option('--core-base-port <port>', 'UDP port of core 1; core i listens on base+2(i-1) (default 5060)')
    .option('--edge-ws-base-port <port>', 'WebSocket port of edge 1 (default 8081)')
    .option('--edge-udp-base-port <port>', 'UDP port of edge 1 towards the cores (default 5080)')
    .option('--core-transport <udp|tcp>', 'how edges reach cores (default tcp; cores listen on both at their port)')
    .option('--metrics-base-port <port>', 'metrics/status port of core 1; edges at base+50 (default 9100)')
    .option('--demo-port <port>', 'web demo HTTP port (default 8080)')
    .option('--auth <on|off>', 'digest authentication (default on)')
    .action((_o: unknown, cmd: Command) =>
      run(async () => {
        const o = optionsFor(clusterSchema, cmd, 'cluster');
        const log = loggerFor(cmd, 'cluster');
        const cluster = await startLocalCluster({ ...o, demoUsers: DEMO_USERS, log });
        const lines = ['', 'sipflow local cluster is up:'];
        for (const n of cluster.nodes) lines.push(`  ${n.role.padEnd(9)} ${n.name.padEnd(22)} ${n.address}${n.metrics ? `   status http://${n.metrics}/status` : ''}${n.pid ? `   pid ${n.pid}` : ''}`);
        if (cluster.demoUrl) lines.push('', `  web demo: ${cluster.demoUrl}`);
        lines.push('', `  demo users (domain ${o.domain}): ${DEMO_USERS.map((u) => `${u.user}/${u.password}`).join(', ')}`, '  Ctrl-C stops everything.', '');
        process.stdout.write(lines.join('\n') + '\n');
        const sig = await stopSignal(['SIGINT', 'SIGTERM', 'SIGHUP']);
        process.stdout.write(`\n[cluster] ${sig}: stopping every node it started, edges first; each drains (Ctrl-C again stops them at once)\n`);
        const hurry = (again: NodeJS.Signals): void => {
          process.stdout.write(`[cluster] ${again}: stopping the nodes at once\n`);
          cluster.hurry();
        };
        process.on('SIGINT', hurry);
        process.on('SIGTERM', hurry);
        try {
          await cluster.stop();
        } finally {
          process.off('SIGINT', hurry);
          process.off('SIGTERM', hurry);
        }
        process.stdout.write('[cluster] stopped\n');
      }),
    );
}
