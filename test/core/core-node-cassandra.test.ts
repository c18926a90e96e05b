import t from 'tap';
import { CassandraLocationStore } from '../../core/location/cassandra-store.js';
import type { LocationStore } from '../../core/location/location-store.js';
import { ensureCassandra, uniqueKeyspace, dropKeyspace } from '../helpers/cassandra.js';
import { coreNodeSuite } from './core-node-suite.js';

const c = await ensureCassandra();
const keyspace = uniqueKeyspace('core');
const stores: LocationStore[] = [];
t.teardown(async () => {
  for (const s of stores) await s.close();
  await dropKeyspace(c, keyspace);
});

coreNodeSuite(t, async () => {
  const store = new CassandraLocationStore({ contactPoints: [c.contactPoint], localDataCenter: c.localDataCenter, keyspace, readConsistency: 'LOCAL_ONE', writeConsistency: 'LOCAL_ONE' });
  await store.ping();
  stores.push(store);
  return store;
});
