/**
 * "Is this node serving?" asked the way a client would: a TCP connect first (cheap, fails fast
 * while the JVM boots), then a real CQL query through cassandra-driver pinned to that one node.
 * Every step has a timeout, so a probe never hangs a start or a status.
 */
import { connect } from 'node:net';
import cassandra from 'cassandra-driver';

export function tcpOpen(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export interface CqlAnswer {
  releaseVersion: string;
  dataCenter: string;
  rack: string;
  tokens: string[];
  clusterName: string;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Queries `system.local` on exactly this node; throws when it does not answer within `timeoutMs`. */
export async function cqlLocal(host: string, port: number, dataCenter: string, timeoutMs = 5000): Promise<CqlAnswer> {
  const client = new cassandra.Client({
    contactPoints: [`${host}:${port}`],
    localDataCenter: dataCenter,
    // Only this node: the probe must say whether *it* serves, not whether the cluster does.
    policies: {
      loadBalancing: new cassandra.policies.loadBalancing.AllowListPolicy(
        new cassandra.policies.loadBalancing.RoundRobinPolicy(),
        [`${host}:${port}`],
      ),
      reconnection: new cassandra.policies.reconnection.ConstantReconnectionPolicy(60_000),
    },
    socketOptions: { connectTimeout: Math.min(timeoutMs, 3000), readTimeout: timeoutMs },
    pooling: { warmup: false },
    isMetadataSyncEnabled: false,
  });
  try {
    const rs = await withTimeout(
      (async () => {
        await client.connect();
        return client.execute('SELECT release_version, data_center, rack, tokens, cluster_name FROM system.local', [], { prepare: false });
      })(),
      timeoutMs,
      `CQL query to ${host}:${port}`,
    );
    const row = rs.first();
    if (!row) throw new Error(`system.local on ${host}:${port} returned no row`);
    return {
      releaseVersion: String(row.get('release_version')),
      dataCenter: String(row.get('data_center')),
      rack: String(row.get('rack')),
      tokens: [...((row.get('tokens') as Iterable<string> | null) ?? [])].map(String),
      clusterName: String(row.get('cluster_name')),
    };
  } finally {
    await withTimeout(client.shutdown(), 5000, 'driver shutdown').catch(() => {});
  }
}
