/** `sipflow tokens --dcs N --nodes-per-dc M`: offset mirror initial tokens (see deploy/cassandra/tokens.ts). */
import type { Command } from 'commander';
import { z } from 'zod';
import { formatPlanTable, tokenPlan, writePlanFiles } from '../../deploy/cassandra/token-plan.js';
import { optionsFor, run } from '../command-kit.js';
import { onOff, positiveInt } from '../../runtime/options.js';

const schema = z.object({
  dcs: positiveInt.default(2),
  nodesPerDc: positiveInt.default(2),
  partitioner: z.enum(['murmur3', 'random']).default('murmur3'),
  json: onOff.default(false),
  write: z.string().min(1).optional(),
  firstIp: z.string().ip({ version: 'v4' }).optional(),
});

export function register(program: Command): void {
  program
    .command('tokens')
    .description('print offset mirror initial tokens for N data centers of M single-token nodes (the seed\'s layout)')
    .option('--dcs <n>', 'number of data centers (default 2)')
    .option('--nodes-per-dc <m>', 'nodes in each data center (default 2)')
    .option('--partitioner <name>', 'murmur3 (Cassandra default, -2^63..2^63-1) or random (0..2^127, the seed\'s numbers)')
    .option('--first-ip <ip>', 'give the nodes consecutive addresses starting here (DC by DC)')
    .option('--write <dir>', 'also write cassandra-topology.properties and per-node rackdc/yaml snippets into DIR')
    .option('--json', 'print JSON instead of a table')
    .action((_opts: unknown, cmd: Command) =>
      run(() => {
        const o = optionsFor(schema, cmd, 'tokens');
        const plan = tokenPlan({ dcs: o.dcs, nodesPerDc: o.nodesPerDc, partitioner: o.partitioner, ...(o.firstIp ? { firstIp: o.firstIp } : {}) });
        if (o.json) process.stdout.write(JSON.stringify({ partitioner: o.partitioner, nodes: plan }, null, 2) + '\n');
        else process.stdout.write(formatPlanTable(plan));
        if (o.write) {
          const files = writePlanFiles(o.write, plan, o.partitioner);
          (o.json ? process.stderr : process.stdout).write(`wrote ${files.length} files under ${o.write}\n`);
        }
      }),
    );
}
