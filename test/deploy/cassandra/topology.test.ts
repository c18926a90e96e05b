import t from 'tap';
import { parse } from 'yaml';
import { launchCommand } from '../../../deploy/cassandra/jvm-options.js';
import { cassandraYaml, dataFingerprint } from '../../../deploy/cassandra/node-config.js';
import { nodePaths } from '../../../deploy/cassandra/paths.js';
import { namespacedRing, topologyNodes } from '../../../deploy/cassandra/topology.js';

const home = '/tmp/sipflow-cassandra-home';
const twoByTwo = () =>
  namespacedRing({
    namePrefix: 'dccut',
    clusterName: 'sipflow-dccut',
    dcs: [
      { netns: 'sfdc1', ips: ['10.201.1.11', '10.201.1.12'] },
      { netns: 'sfdc2', ips: ['10.201.2.11', '10.201.2.12'] },
    ],
  });

t.test('a namespaced ring: each DC in its namespace, on its addresses, with the 2x2 layout\'s tokens and racks', async (t) => {
  const ring = twoByTwo();
  t.strictSame(
    ring.map((n) => [n.name, n.netns, n.ip, n.dc, n.rack]),
    [
      ['dccut-dc1-n0', 'sfdc1', '10.201.1.11', 'DC1', 'RAC1'],
      ['dccut-dc1-n1', 'sfdc1', '10.201.1.12', 'DC1', 'RAC2'],
      ['dccut-dc2-n0', 'sfdc2', '10.201.2.11', 'DC2', 'RAC1'],
      ['dccut-dc2-n1', 'sfdc2', '10.201.2.12', 'DC2', 'RAC2'],
    ],
  );
  t.strictSame(
    ring.map((n) => n.initialToken),
    topologyNodes('2x2').map((n) => n.initialToken),
    'offset mirror tokens, the same as the loopback ring',
  );
  t.ok(
    ring.every((n) => n.seeds.join(',') === '10.201.1.11:7000,10.201.2.11:7000'),
    'one seed per DC, so a DC cut off from the other still has a seed of its own',
  );
  t.ok(ring.every((n) => n.clusterName === 'sipflow-dccut' && n.cqlPort === 9042 && n.storagePort === 7000));
  t.notOk(
    ring.some((n) => topologyNodes('1').concat(topologyNodes('2x2')).some((m) => m.name === n.name)),
    'no node shares a name, hence a data folder, with the dev node or the loopback ring',
  );
  t.notOk(topologyNodes('2x2').some((n) => n.netns !== undefined), 'the named layouts run where they are started, as before');
});

t.test('a namespaced ring refuses layouts it cannot give offset mirror tokens or separate folders', async (t) => {
  const dc = (netns: string, ips: string[]) => ({ netns, ips });
  t.throws(() => namespacedRing({ namePrefix: 'ring', clusterName: 'x', dcs: [dc('a', ['10.0.0.1'])] }), /taken/);
  t.throws(() => namespacedRing({ namePrefix: 'Bad Name', clusterName: 'x', dcs: [dc('a', ['10.0.0.1'])] }), /namePrefix/);
  t.throws(() => namespacedRing({ namePrefix: 'x', clusterName: 'x', dcs: [dc('a', ['10.0.0.1', '10.0.0.2']), dc('b', ['10.0.1.1'])] }), /same, non-zero number/);
  t.throws(() => namespacedRing({ namePrefix: 'x', clusterName: 'x', dcs: [dc('a', ['10.0.0.1']), dc('b', ['10.0.0.1'])] }), /share an address/);
  t.throws(() => namespacedRing({ namePrefix: 'x', clusterName: 'x', dcs: [dc('a', ['10.0.0.256'])] }), /not an IPv4/);
  t.throws(() => namespacedRing({ namePrefix: 'x', clusterName: 'x', dcs: [] }), /at least one DC/);
});

t.test('cassandra.yaml of a namespaced node binds its namespace address and seeds from both DCs', async (t) => {
  const spec = twoByTwo()[3]!;
  const paths = nodePaths(home, spec.name);
  const y = parse(cassandraYaml(spec, paths)) as Record<string, unknown>;
  t.equal(y.listen_address, '10.201.2.12');
  t.equal(y.rpc_address, '10.201.2.12');
  t.equal(y.cluster_name, 'sipflow-dccut');
  t.match(JSON.stringify(y.seed_provider), /"seeds":"10\.201\.1\.11:7000,10\.201\.2\.11:7000"/);
  t.ok(paths.dir.endsWith('/nodes/dccut-dc2-n1'), 'its own data folder');
  t.match(dataFingerprint(spec), /"ip":"10\.201\.2\.12"/, 'data written on another address is not reused silently');
});

t.test('a node with a namespace is launched through `ip netns exec`, others run java directly', async (t) => {
  const args = ['-Xmx512m', 'org.apache.cassandra.service.CassandraDaemon'];
  t.strictSame(launchCommand({ netns: 'sfdc1' }, '/usr/bin/java', args), { command: 'ip', args: ['netns', 'exec', 'sfdc1', '/usr/bin/java', ...args] });
  t.strictSame(launchCommand(topologyNodes('2x2')[0]!, 'java', args), { command: 'java', args });
});
