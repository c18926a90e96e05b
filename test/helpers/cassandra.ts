/**
 * Integration tests get a real Cassandra from here: the project's single dev node on 127.0.0.2,
 * fetched and started through deploy/cassandra when it is not running (safe when several test files
 * call it at once: the start lock makes the others wait, then they find it up). When it cannot be
 * started this throws, so the tests FAIL with the reason; they are never skipped.
 */
import cassandra from 'cassandra-driver';
import { startCluster } from '../../deploy/cassandra/cluster.js';
import { cqlLocal, tcpOpen } from '../../deploy/cassandra/cql-probe.js';
import { topologyNodes } from '../../deploy/cassandra/topology.js';

export interface TestCassandra {
  contactPoint: string;
  localDataCenter: string;
}

let ensured: Promise<TestCassandra> | undefined;

export function ensureCassandra(): Promise<TestCassandra> {
  ensured ??= (async () => {
    const [node] = topologyNodes('1');
    const spec = node!;
    const result = { contactPoint: `${spec.ip}:${spec.cqlPort}`, localDataCenter: spec.dc };
    if (await tcpOpen(spec.ip, spec.cqlPort, 500)) {
      try {
        await cqlLocal(spec.ip, spec.cqlPort, spec.dc, 5000);
        return result;
      } catch {
        // Port open but not serving yet (starting?): fall through to start, which waits for it.
      }
    }
    try {
      await startCluster({ topology: '1', progress: (line) => process.stderr.write(`[cassandra] ${line}\n`) });
    } catch (err) {
      const e = err as Error & { hint?: string };
      throw new Error(`test Cassandra could not be started: ${e.message}${e.hint ? ` (what to do: ${e.hint})` : ''}`, { cause: err });
    }
    return result;
  })();
  ensured.catch(() => {
    ensured = undefined;
  });
  return ensured;
}

let counter = 0;
/** A keyspace name no other test file (process) or test uses: `t_<pid>_<time>_<n>`. */
export function uniqueKeyspace(prefix = 't'): string {
  counter++;
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${counter}`.toLowerCase().slice(0, 48);
}

/** A driver client for assertions that look under the store (TTLs, schema); caller shuts it down. */
export async function rawClient(c: TestCassandra): Promise<cassandra.Client> {
  const client = new cassandra.Client({
    contactPoints: [c.contactPoint],
    localDataCenter: c.localDataCenter,
    socketOptions: { connectTimeout: 3000, readTimeout: 10_000 },
  });
  await client.connect();
  return client;
}

export async function dropKeyspace(c: TestCassandra, keyspace: string): Promise<void> {
  const client = await rawClient(c);
  try {
    await client.execute(`DROP KEYSPACE IF EXISTS "${keyspace}"`);
  } finally {
    await client.shutdown();
  }
}
