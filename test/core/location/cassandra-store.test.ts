import t from 'tap';
import { createServer, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { CassandraLocationStore, type CassandraLocationStoreOptions } from '../../../core/location/cassandra-store.js';
import { createLocationStore } from '../../../core/location/create-store.js';
import { LocationStoreError } from '../../../core/location/location-store.js';
import { dropKeyspace, ensureCassandra, rawClient, uniqueKeyspace } from '../../helpers/cassandra.js';
import { makeBinding, storeSuite, uniqueAor } from './store-suite.js';

const cassandra = await ensureCassandra();
const keyspaces: string[] = [];
const keyspace = uniqueKeyspace('loc');
keyspaces.push(keyspace);

function options(over: Partial<CassandraLocationStoreOptions> = {}): CassandraLocationStoreOptions {
  return {
    contactPoints: [cassandra.contactPoint],
    localDataCenter: cassandra.localDataCenter,
    keyspace,
    replication: { [cassandra.localDataCenter]: 1 },
    requestTimeoutMs: 3000,
    ...over,
  };
}

t.teardown(async () => {
  for (const ks of keyspaces) await dropKeyspace(cassandra, ks).catch(() => {});
});

t.test('the shared LocationStore contract, against a real Cassandra node', async (t) => {
  storeSuite(t, {
    create: async () => new CassandraLocationStore(options()),
    peer: async () => new CassandraLocationStore(options()),
    // Nothing listens on 127.0.0.2:9999: the connection is refused at once.
    unreachable: async () =>
      new CassandraLocationStore(options({ contactPoints: ['127.0.0.2:9999'], requestTimeoutMs: 1000, connectTimeoutMs: 1000, startTimeoutMs: 3000 })),
    failFastMs: 4000,
  });
});

t.test('the keyspace is created with NetworkTopologyStrategy and the requested replication', async (t) => {
  const client = await rawClient(cassandra);
  try {
    const rs = await client.execute('SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?', [keyspace]);
    const replication = rs.first()?.get('replication') as Record<string, string>;
    t.match(replication.class, /NetworkTopologyStrategy$/);
    t.equal(replication[cassandra.localDataCenter], '1');
  } finally {
    await client.shutdown();
  }
});

t.test('several cores starting at once on an empty keyspace migrate it exactly once', async (t) => {
  const ks = uniqueKeyspace('mig');
  keyspaces.push(ks);
  const stores = [1, 2, 3].map((n) => new CassandraLocationStore(options({ keyspace: ks, nodeId: `core-${n}`, startTimeoutMs: 60_000 })));
  try {
    await Promise.all(stores.map((s) => s.ping()));
    const client = await rawClient(cassandra);
    try {
      const rows = (await client.execute(`SELECT version, state, applied_by FROM "${ks}".schema_migrations`)).rows;
      t.equal(rows.length, 1, 'one migration recorded');
      t.equal(rows[0]?.get('state'), 'done');
      t.match(String(rows[0]?.get('applied_by')), /^core-[123]$/, 'claimed by one of the cores');
      const tables = (await client.execute('SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?', [ks])).rows.map((r) => r.get('table_name'));
      t.same(tables.sort(), ['bindings', 'schema_migrations', 'subscribers']);
    } finally {
      await client.shutdown();
    }
    // Every core can use the tables right away.
    const aor = uniqueAor();
    await stores[0]!.update(aor, [makeBinding(aor)], []);
    t.equal((await stores[2]!.lookup(aor)).length, 1);
  } finally {
    await Promise.all(stores.map((s) => s.close()));
  }
});

t.test('bindings expire in Cassandra itself by TTL, not only by filtering on read', async (t) => {
  const store = new CassandraLocationStore(options({ ttlGraceSeconds: 0 }));
  const client = await rawClient(cassandra);
  try {
    await store.ping();
    const aor = uniqueAor();
    await store.update(aor, [makeBinding(aor, { expiresAt: Date.now() + 1200 })], []);
    const ttl = (await client.execute(`SELECT TTL(contact) AS ttl FROM "${keyspace}".bindings WHERE aor = ?`, [aor])).first()?.get('ttl') as number;
    t.ok(ttl >= 1 && ttl <= 2, `row written with TTL of the remaining lifetime (got ${ttl})`);
    let count = 1;
    for (let i = 0; i < 25 && count > 0; i++) {
      await sleep(200);
      count = (await client.execute(`SELECT key FROM "${keyspace}".bindings WHERE aor = ?`, [aor])).rowLength;
    }
    t.equal(count, 0, 'the row is gone from the table within 5 s');
  } finally {
    await client.shutdown();
    await store.close();
  }
});

t.test('a server that accepts but never answers gives LocationStoreError within the deadline, no hang', async (t) => {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.2', resolve));
  const port = (server.address() as { port: number }).port;
  const store = new CassandraLocationStore(
    options({ contactPoints: [`127.0.0.2:${port}`], requestTimeoutMs: 500, connectTimeoutMs: 500, startTimeoutMs: 1500 }),
  );
  try {
    for (const call of [() => store.ping(), () => store.lookup(uniqueAor())]) {
      const started = Date.now();
      const err = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      t.type(err, LocationStoreError);
      t.ok(Date.now() - started < 3000, `rejected after ${Date.now() - started} ms`);
    }
    // close() while a connect is still in progress returns promptly too.
    const other = new CassandraLocationStore(options({ contactPoints: [`127.0.0.2:${port}`], connectTimeoutMs: 20_000, startTimeoutMs: 20_000 }));
    const pending = other.ping().catch((e: unknown) => e);
    await sleep(100);
    const closing = Date.now();
    await other.close();
    t.ok(Date.now() - closing < 6000, `close() during connect took ${Date.now() - closing} ms`);
    t.type(await pending, LocationStoreError, 'the pending ping fails as LocationStoreError');
    t.ok(Date.now() - closing < 6000, `and it fails promptly (${Date.now() - closing} ms after close)`);
  } finally {
    await store.close();
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});

t.test('createLocationStore({ kind: "cassandra" }) connects, and ringView() shows the node', async (t) => {
  const store = createLocationStore({ kind: 'cassandra', ...options({ readConsistency: 'LOCAL_ONE', writeConsistency: 'LOCAL_ONE' }) });
  try {
    t.type(store, CassandraLocationStore);
    await store.ping();
    const ring = (store as CassandraLocationStore).ringView();
    t.equal(ring.length, 1);
    t.equal(ring[0]?.datacenter, cassandra.localDataCenter);
    t.equal(ring[0]?.up, true);
    t.equal(ring[0]?.tokens.length, 1);
  } finally {
    await store.close();
  }
});
