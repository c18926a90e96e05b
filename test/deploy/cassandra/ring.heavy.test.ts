/**
 * The seed's ring, for real: 2 data centers x 2 single-token nodes on 127.0.0.11-14 with offset
 * mirror tokens and NetworkTopologyStrategy {DC1:1, DC2:1}. Heavy (four JVMs on two cores): run
 * alone, after the light tests. The ring is stopped at the end, also when a test fails or the run
 * is interrupted.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import cassandra from 'cassandra-driver';
import { cleanCluster, clusterStatus, startCluster, stopCluster } from '../../../deploy/cassandra/cluster.js';
import { cqlLocal } from '../../../deploy/cassandra/cql-probe.js';
import { stopNode } from '../../../deploy/cassandra/node-process.js';
import { cassandraHome } from '../../../deploy/cassandra/paths.js';
import { offsetMirrorTokens } from '../../../deploy/cassandra/tokens.js';
import { topologyNodes } from '../../../deploy/cassandra/topology.js';
import { CassandraLocationStore, type CassandraLocationStoreOptions } from '../../../core/location/cassandra-store.js';
import { LocationStoreError } from '../../../core/location/location-store.js';
import { makeBinding } from '../../core/location/store-suite.js';

t.setTimeout(15 * 60_000);
const say = (line: string) => process.stderr.write(`[ring] ${line}\n`);
const ring = topologyNodes('2x2');
const KEYSPACE = 'ring_test';

let stopping: Promise<unknown> | undefined;
const stopRing = () => (stopping ??= stopCluster({ topology: '2x2', progress: say }).catch((e: Error) => say(`stop failed: ${e.message}`)));
t.teardown(stopRing);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    void stopRing().finally(() => process.exit(1));
  });
}

function store(dc: 'DC1' | 'DC2', over: Partial<CassandraLocationStoreOptions> = {}): CassandraLocationStore {
  return new CassandraLocationStore({
    contactPoints: ring.filter((n) => n.dc === dc).map((n) => `${n.ip}:${n.cqlPort}`),
    localDataCenter: dc,
    keyspace: KEYSPACE,
    replication: { DC1: 1, DC2: 1 },
    requestTimeoutMs: 3000,
    startTimeoutMs: 60_000,
    ...over,
  });
}

t.test('two processes start the ring at once: one JVM per node, started seed first', async (t) => {
  await stopRing();
  stopping = undefined;
  await cleanCluster({ topology: '2x2' });
  const started = Date.now();
  const script = `
    import { startCluster } from './deploy/cassandra/cluster.js';
    const r = await startCluster({ topology: '2x2', progress: (l) => process.stderr.write('[ring start ' + process.pid + '] ' + l + '\\n') });
    process.stdout.write(JSON.stringify(r.nodes.map((n) => ({ name: n.spec.name, pid: n.pid, already: n.alreadyRunning, seconds: n.seconds }))));`;
  const run = () =>
    new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import=@tapjs/typescript/import', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.on('close', (code) => resolve({ code, out }));
    });
  const [a, b] = await Promise.all([run(), run()]);
  t.equal(a.code, 0, 'first starter succeeded');
  t.equal(b.code, 0, 'second starter succeeded');
  type Row = { name: string; pid: number; already: boolean; seconds: number };
  const ra = JSON.parse(a.out || '[]') as Row[];
  const rb = JSON.parse(b.out || '[]') as Row[];
  t.strictSame(ra.map((n) => n.pid), rb.map((n) => n.pid), 'both see the same four JVMs');
  t.ok(ra.every((n, i) => n.already !== rb[i]!.already), 'each node was launched by exactly one of them');
  const launched = ra.every((n) => !n.already) ? ra : rb;
  say(`ring up in ${((Date.now() - started) / 1000).toFixed(1)} s; per node: ${launched.map((n) => `${n.name} ${n.seconds.toFixed(1)} s`).join(', ')}`);
});

t.test('every node holds its offset mirror token (system.local), and sees the others with theirs (system.peers)', async (t) => {
  const expected = offsetMirrorTokens(2, 2, 'murmur3');
  for (const [i, spec] of ring.entries()) {
    const local = await cqlLocal(spec.ip, spec.cqlPort, spec.dc, 10_000);
    t.strictSame(local.tokens, [expected[i]!.token.toString()], `${spec.name} token`);
    t.equal(local.dataCenter, spec.dc, `${spec.name} data center`);
    t.equal(local.rack, spec.rack, `${spec.name} rack`);
  }
  const client = new cassandra.Client({ contactPoints: ['127.0.0.11:9042'], localDataCenter: 'DC1', socketOptions: { readTimeout: 10_000 } });
  try {
    await client.connect();
    const peers = (await client.execute('SELECT peer, data_center, rack, tokens FROM system.peers', [], { host: client.hosts.get('127.0.0.11:9042') })).rows;
    const seen = peers.map((r) => [String(r.get('peer')), r.get('data_center'), r.get('rack'), [...(r.get('tokens') as string[])]]).sort();
    t.strictSame(
      seen,
      ring.slice(1).map((n) => [n.ip, n.dc, n.rack, [n.initialToken]]),
      'the seed knows the three other nodes with their DC, rack and token',
    );
  } finally {
    await client.shutdown();
  }
});

t.test('{DC1:1, DC2:1}: every AOR has one replica per DC, mirrored, spread evenly over the nodes', async (t) => {
  const s = store('DC1');
  try {
    await s.ping(); // creates the keyspace through the store's migrations
    const client = new cassandra.Client({ contactPoints: ['127.0.0.11:9042'], localDataCenter: 'DC1' });
    await client.connect();
    try {
      await client.metadata.refreshKeyspace(KEYSPACE);
      const perHost = new Map<string, number>();
      let mirrored = 0;
      const n = 2000;
      for (let i = 0; i < n; i++) {
        const aor = `sip:user${i}@example.com`;
        const replicas = client.getReplicas(KEYSPACE, Buffer.from(aor, 'utf8'));
        const dcs = replicas.map((h) => h.datacenter).sort();
        if (i < 5 || dcs.join() !== 'DC1,DC2') t.strictSame(dcs, ['DC1', 'DC2'], `${aor}: one replica in each DC`);
        for (const h of replicas) perHost.set(h.address, (perHost.get(h.address) ?? 0) + 1);
        if (replicas.length === 2 && replicas[0]!.rack === replicas[1]!.rack) mirrored++;
      }
      t.equal(perHost.size, 4, 'all four nodes hold replicas');
      for (const [host, count] of perHost) t.ok(Math.abs(count - n / 2) < n * 0.06, `${host} holds ${count} of ${n} (about half of its DC)`);
      t.equal(mirrored, n, 'the DC2 replica is always the mirror (same node position, same rack) of the DC1 replica');
    } finally {
      await client.shutdown();
    }
  } finally {
    await s.close();
  }
});

t.test('a binding written in DC1 is read in DC2', async (t) => {
  const dc1 = store('DC1', { writeConsistency: 'LOCAL_QUORUM' });
  const dc2 = store('DC2', { readConsistency: 'LOCAL_ONE' });
  try {
    await Promise.all([dc1.ping(), dc2.ping()]);
    const aors = Array.from({ length: 10 }, (_, i) => `sip:cross${i}-${Date.now()}@example.com`);
    for (const aor of aors) await dc1.update(aor, [makeBinding(aor)], []);
    // Replication to the other DC is asynchronous at LOCAL_QUORUM: allow it a few seconds.
    let seen = 0;
    for (let i = 0; i < 50 && seen < aors.length; i++) {
      seen = (await Promise.all(aors.map((a) => dc2.lookup(a)))).filter((b) => b.length === 1).length;
      if (seen < aors.length) await sleep(100);
    }
    t.equal(seen, aors.length, 'all ten bindings visible from DC2');
  } finally {
    await Promise.all([dc1.close(), dc2.close()]);
  }
});

t.test('with one node down, reads and writes still work from both DCs (DC1 at ONE, DC2 at LOCAL_ONE)', async (t) => {
  const victim = ring[1]!; // DC1 node 1 (127.0.0.12)
  t.ok(await stopNode(victim, { home: cassandraHome(), progress: say }), `${victim.name} stopped`);
  const dc1 = store('DC1', { readConsistency: 'ONE', writeConsistency: 'ONE' });
  const dc2 = store('DC2', { readConsistency: 'LOCAL_ONE', writeConsistency: 'LOCAL_ONE' });
  const dc1Local = store('DC1', { readConsistency: 'LOCAL_ONE', writeConsistency: 'LOCAL_ONE', requestTimeoutMs: 1500 });
  try {
    await Promise.all([dc1.ping(), dc2.ping(), dc1Local.ping()]);
    const client = new cassandra.Client({ contactPoints: ['127.0.0.11:9042'], localDataCenter: 'DC1' });
    await client.connect();
    const ownedByVictim: string[] = [];
    try {
      for (let i = 0; i < 40; i++) {
        const aor = `sip:down${i}-${Date.now()}@example.com`;
        const [writer, other] = i % 2 === 0 ? [dc1, dc2] : [dc2, dc1];
        await writer.update(aor, [makeBinding(aor)], []);
        t.equal((await writer.lookup(aor)).length, 1, `${aor} read back in the DC that wrote it`);
        // The other DC gets it by asynchronous replication (or a hint): bounded wait.
        let found = 0;
        for (let k = 0; k < 30 && found === 0; k++) {
          found = (await other.lookup(aor)).length;
          if (found === 0) await sleep(100);
        }
        t.equal(found, 1, `${aor} read in the other DC`);
        if (client.getReplicas(KEYSPACE, Buffer.from(aor)).some((h) => h.address.startsWith(`${victim.ip}:`))) ownedByVictim.push(aor);
      }
    } finally {
      await client.shutdown();
    }
    t.ok(ownedByVictim.length > 5, `some of the AORs have their DC1 replica on the stopped node (${ownedByVictim.length})`);
    // Why DC1 uses ONE: LOCAL_ONE needs the DC1 replica, which is down. It must fail cleanly.
    const err = await dc1Local.lookup(ownedByVictim[0]!).catch((e: unknown) => e);
    t.type(err, LocationStoreError, 'LOCAL_ONE in DC1 for a key of the stopped node fails as LocationStoreError, no hang');
  } finally {
    await Promise.all([dc1.close(), dc2.close(), dc1Local.close()]);
  }
});

t.test('the stopped node comes back with its token and the ring is whole again', async (t) => {
  const r = await startCluster({ topology: '2x2', progress: say });
  t.equal(r.nodes.filter((n) => !n.alreadyRunning).length, 1, 'only the stopped node is started');
  const status = await clusterStatus({ topology: '2x2' });
  t.ok(status.every((s) => s.running && s.cql), 'all four run and answer CQL');
  t.strictSame(status.map((s) => s.tokens?.[0]), ring.map((n) => n.initialToken));
});
