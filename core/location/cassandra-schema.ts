/**
 * The location store's keyspace and tables, created and upgraded by numbered migrations when a core
 * starts. Several cores may start at once against one cluster, so:
 *  - every statement is `CREATE ... IF NOT EXISTS` (running one twice is harmless);
 *  - each migration is claimed with a lightweight transaction (`INSERT ... IF NOT EXISTS` at
 *    LOCAL_SERIAL) in `schema_migrations`; the winner runs it, the others wait for it to be marked
 *    done (and run it themselves if the winner died: the statements are idempotent);
 *  - all DDL goes to one coordinator (the lowest-addressed up host of the local DC): concurrent
 *    CREATE TABLE on two coordinators can give a table two ids and a lasting schema disagreement,
 *    one coordinator serialises them;
 *  - after DDL we wait for schema agreement before anything uses the new tables.
 */
import cassandra from 'cassandra-driver';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Migration {
  version: number;
  name: string;
  statements: (keyspace: string) => string[];
}

/**
 * Tables shaped for the queries the registrar makes:
 *  - lookup(aor) reads one partition; each binding is its own row, keyed inside its AOR, so two
 *    cores writing different bindings of one AOR never touch the same cells;
 *  - rows are written `USING TTL`, so expired bindings disappear without a sweeper; reads also
 *    filter expires_at because a TTL has one-second granularity and a few seconds of grace;
 *  - `path` is a frozen list: it is always written whole, and a frozen value is overwritten in place
 *    instead of leaving a range tombstone on every refresh (as a non-frozen list would);
 *  - LeveledCompaction: lookups read one small partition that is rewritten on every refresh, the
 *    case where LCS keeps the number of SSTables touched per read near one;
 *  - gc_grace_seconds = 3 h matches max_hint_window: a binding lives minutes to hours, so
 *    tombstones need not outlive the hint window (a down replica longer than that needs repair anyway).
 */
export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'bindings and subscribers',
    statements: (ks) => [
      `CREATE TABLE IF NOT EXISTS "${ks}".bindings (
        aor text,
        key text,
        contact text,
        instance text,
        reg_id int,
        path frozen<list<text>>,
        received text,
        q double,
        call_id text,
        cseq bigint,
        user_agent text,
        expires_at timestamp,
        created_at timestamp,
        PRIMARY KEY ((aor), key)
      ) WITH compaction = {'class': 'LeveledCompactionStrategy'}
        AND gc_grace_seconds = 10800`,
      `CREATE TABLE IF NOT EXISTS "${ks}".subscribers (
        domain text,
        user text,
        ha1_md5 text,
        ha1_sha256 text,
        PRIMARY KEY ((domain, user))
      )`,
    ],
  },
];

export interface SchemaOptions {
  keyspace: string;
  /** Replicas per data center for NetworkTopologyStrategy, e.g. { DC1: 3, DC2: 3 }. */
  replication: Record<string, number>;
  localDataCenter: string;
  /** Bound for the whole migration run. */
  timeoutMs: number;
  /** Who is migrating, stored for operators (e.g. the core's node id). */
  appliedBy?: string;
}

export function validKeyspaceName(ks: string): boolean {
  return /^[a-zA-Z][a-zA-Z0-9_]{0,47}$/.test(ks);
}

export function createKeyspaceCql(keyspace: string, replication: Record<string, number>): string {
  const dcs = Object.entries(replication);
  if (dcs.length === 0) throw new TypeError('replication needs at least one data center');
  for (const [dc, rf] of dcs) {
    if (!/^[\w.-]+$/.test(dc) || !Number.isInteger(rf) || rf < 1) throw new TypeError(`bad replication entry ${dc}: ${rf}`);
  }
  const map = [`'class': 'NetworkTopologyStrategy'`, ...dcs.map(([dc, rf]) => `'${dc}': ${rf}`)].join(', ');
  return `CREATE KEYSPACE IF NOT EXISTS "${keyspace}" WITH replication = {${map}} AND durable_writes = true`;
}

/** The lowest-addressed up host of the local DC: every core picks the same DDL coordinator. */
function ddlHost(client: cassandra.Client, localDataCenter: string): cassandra.Host | undefined {
  const hosts = client.hosts.values().filter((h) => h.datacenter === localDataCenter && h.isUp());
  hosts.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  return hosts[0];
}

async function ddl(client: cassandra.Client, cql: string, host: cassandra.Host | undefined): Promise<void> {
  await client.execute(cql, [], { prepare: false, isIdempotent: true, consistency: cassandra.types.consistencies.localQuorum, ...(host ? { host } : {}) });
}

async function awaitAgreement(client: cassandra.Client, deadline: number): Promise<void> {
  for (let i = 0; i < 200 && Date.now() < deadline; i++) {
    // Present in the driver, missing from its typings.
    const metadata = client.metadata as unknown as { checkSchemaAgreement(): Promise<boolean> };
    if (await metadata.checkSchemaAgreement()) return;
    await sleep(100);
  }
  throw new Error('schema agreement not reached before the migration deadline');
}

/** Versions marked done, or undefined when the keyspace or table does not exist (yet). */
async function doneVersions(client: cassandra.Client, ks: string): Promise<Set<number> | undefined> {
  const table = client.metadata.keyspaces[ks] ? await client.metadata.getTable(ks, 'schema_migrations').catch(() => null) : null;
  if (!table) return undefined;
  let rs: cassandra.types.ResultSet;
  try {
    rs = await client.execute(`SELECT version, state FROM "${ks}".schema_migrations`, [], {
      prepare: false,
      consistency: cassandra.types.consistencies.one,
      isIdempotent: true,
    });
  } catch (err) {
    // Another core's CREATE TABLE is in the schema tables the driver read, but not yet usable on
    // the node that ran this query: the slow path (CREATE IF NOT EXISTS, then schema agreement)
    // waits for it properly.
    if (err instanceof cassandra.errors.ResponseError && err.code === cassandra.types.responseErrorCodes.invalid && /does not exist/i.test(err.message)) return undefined;
    throw err;
  }
  return new Set(rs.rows.filter((r) => r.get('state') === 'done').map((r) => r.get('version') as number));
}

/** Creates the keyspace and applies missing migrations; returns the versions this call applied. */
export async function migrate(client: cassandra.Client, options: SchemaOptions): Promise<number[]> {
  const ks = options.keyspace;
  if (!validKeyspaceName(ks)) throw new TypeError(`invalid keyspace name '${ks}'`);
  const deadline = Date.now() + options.timeoutMs;
  // Fast path for every start after the first: all migrations recorded as done. Read at ONE, so a
  // core can start while a replica of schema_migrations is down (no DDL, no Paxos needed).
  const recorded = await doneVersions(client, ks);
  if (recorded && MIGRATIONS.every((m) => recorded.has(m.version))) return [];
  const host = ddlHost(client, options.localDataCenter);
  await ddl(client, createKeyspaceCql(ks, options.replication), host);
  await ddl(
    client,
    `CREATE TABLE IF NOT EXISTS "${ks}".schema_migrations (version int PRIMARY KEY, name text, state text, applied_by text, applied_at timestamp)`,
    host,
  );
  await awaitAgreement(client, deadline);

  const applied: number[] = [];
  const localSerial = cassandra.types.consistencies.localSerial;
  const localQuorum = cassandra.types.consistencies.localQuorum;
  for (const m of MIGRATIONS) {
    const state = await client.execute(`SELECT state FROM "${ks}".schema_migrations WHERE version = ?`, [m.version], {
      prepare: true,
      consistency: localSerial,
    });
    if (state.first()?.get('state') === 'done') continue;
    const claim = await client.execute(
      `INSERT INTO "${ks}".schema_migrations (version, name, state, applied_by) VALUES (?, ?, 'running', ?) IF NOT EXISTS`,
      [m.version, m.name, options.appliedBy ?? `pid ${process.pid}`],
      { prepare: true, serialConsistency: localSerial, consistency: localQuorum },
    );
    const won = claim.first()?.get('[applied]') === true;
    if (!won) {
      // Someone else is running it: wait until it says done, bounded by our deadline.
      let done = false;
      while (!done && Date.now() < deadline - 2000) {
        await sleep(200);
        const s = await client.execute(`SELECT state FROM "${ks}".schema_migrations WHERE version = ?`, [m.version], {
          prepare: true,
          consistency: localSerial,
        });
        done = s.first()?.get('state') === 'done';
      }
      if (done) continue;
      // The claimant died or is stuck: the statements are idempotent, so finish the job ourselves.
    }
    for (const cql of m.statements(ks)) await ddl(client, cql, host);
    await awaitAgreement(client, deadline);
    await client.execute(
      // Through Paxos too (IF EXISTS): mixing plain writes into rows managed by LWTs is unsafe.
      `UPDATE "${ks}".schema_migrations SET state = 'done', applied_at = toTimestamp(now()) WHERE version = ? IF EXISTS`,
      [m.version],
      { prepare: true, serialConsistency: localSerial, consistency: localQuorum },
    );
    applied.push(m.version);
  }
  return applied;
}
