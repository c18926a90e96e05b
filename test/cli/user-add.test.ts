/** `sipflow user add` provisions a subscriber in Cassandra that a core then authenticates against. */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ensureCassandra, uniqueKeyspace, dropKeyspace } from '../helpers/cassandra.js';
import { CassandraLocationStore } from '../../core/location/cassandra-store.js';
import { computeHa1 } from '../../sip/auth/index.js';

const c = await ensureCassandra();
const keyspace = uniqueKeyspace('useradd');
const bin = fileURLToPath(new URL('../../bin/sipflow.js', import.meta.url));
t.teardown(() => dropKeyspace(c, keyspace));

t.test('user add stores HA1 for MD5 and SHA-256 with realm = domain', async (t) => {
  const r = spawnSync(process.execPath, [bin, 'user', 'add', 'zed', '--domain', 'Example.COM', '--password', 'zed-secret', '--cassandra', c.contactPoint, '--dc', c.localDataCenter, '--keyspace', keyspace], { encoding: 'utf8', timeout: 60_000 });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /added sip:zed@example\.com/);
  const store = new CassandraLocationStore({ contactPoints: [c.contactPoint], localDataCenter: c.localDataCenter, keyspace, readConsistency: 'LOCAL_ONE', writeConsistency: 'LOCAL_ONE' });
  t.teardown(() => store.close());
  const s = await store.getSubscriber('zed', 'example.com');
  t.equal(s?.ha1Md5, computeHa1('zed', 'example.com', 'zed-secret', 'MD5'));
  t.equal(s?.ha1Sha256, computeHa1('zed', 'example.com', 'zed-secret', 'SHA-256'));
});

t.test('bad input is one clear line', async (t) => {
  const r = spawnSync(process.execPath, [bin, 'user', 'add', 'zed', '--domain', 'example.com'], { encoding: 'utf8', timeout: 30_000 });
  t.equal(r.status, 2);
  t.match(r.stderr, /--password: required/);
  const bad = spawnSync(process.execPath, [bin, 'user', 'add', 'a b', '--domain', 'example.com', '--password', 'xxxxx'], { encoding: 'utf8', timeout: 30_000 });
  t.equal(bad.status, 1);
  t.match(bad.stderr, /not allowed in a SIP user part/);
});
