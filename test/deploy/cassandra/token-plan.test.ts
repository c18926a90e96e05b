import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatPlanTable, tokenPlan, writePlanFiles } from '../../../deploy/cassandra/token-plan.js';

t.test('the plan names nodes per DC, one rack per node position, consecutive addresses', async (t) => {
  const plan = tokenPlan({ dcs: 2, nodesPerDc: 2, partitioner: 'random', firstIp: '127.0.0.11' });
  t.strictSame(
    plan.map((p) => [p.name, p.dc, p.rack, p.ip, p.token]),
    [
      ['dc1-n0', 'DC1', 'RAC1', '127.0.0.11', '0'],
      ['dc1-n1', 'DC1', 'RAC2', '127.0.0.12', '85070591730234615865843651857942052864'],
      ['dc2-n0', 'DC2', 'RAC1', '127.0.0.13', '1'],
      ['dc2-n1', 'DC2', 'RAC2', '127.0.0.14', '85070591730234615865843651857942052865'],
    ],
  );
  t.strictSame(tokenPlan({ dcs: 1, nodesPerDc: 2, partitioner: 'murmur3', firstIp: '10.0.0.255' }).map((p) => p.ip), ['10.0.0.255', '10.0.1.0'], 'addresses carry over octets');
  t.throws(() => tokenPlan({ dcs: 1, nodesPerDc: 2, partitioner: 'murmur3', firstIp: '255.255.255.255' }), RangeError);
});

t.test('the table shows every node\'s token in full', async (t) => {
  const table = formatPlanTable(tokenPlan({ dcs: 2, nodesPerDc: 2, partitioner: 'random' }));
  t.match(table, /dc1-n1\s+DC1\s+RAC2\s+85070591730234615865843651857942052864\n/);
  t.equal(table.trim().split('\n').length, 5);
});

t.test('--write produces the snitch topology file and per-node snippets', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sipflow-tokens-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const plan = tokenPlan({ dcs: 2, nodesPerDc: 2, partitioner: 'murmur3', firstIp: '127.0.0.11' });
  const files = writePlanFiles(dir, plan, 'murmur3');
  t.equal(files.length, 1 + 2 * plan.length);
  const topology = readFileSync(join(dir, 'cassandra-topology.properties'), 'utf8');
  t.match(topology, /^127\.0\.0\.13=DC2:RAC1$/m);
  t.match(topology, /^127\.0\.0\.12=DC1:RAC2$/m);
  t.match(readFileSync(join(dir, 'dc2-n1', 'cassandra-rackdc.properties'), 'utf8'), /^dc=DC2\nrack=RAC2$/m);
  const yaml = readFileSync(join(dir, 'dc2-n1', 'cassandra.yaml.snippet'), 'utf8');
  t.match(yaml, /^initial_token: 1$/m);
  t.match(yaml, /^num_tokens: 1$/m);
  t.match(yaml, /^partitioner: org\.apache\.cassandra\.dht\.Murmur3Partitioner$/m);
});
