/**
 * The location store in Apache Cassandra: the seed's "global view of registrations". Every core of
 * every data center reads and writes the same keyspace; NetworkTopologyStrategy keeps a full copy
 * per DC, so a core answers from its own DC (LOCAL_* consistency) and survives the loss of the other.
 *
 * This file and cassandra-schema.ts are the only ones that know cassandra-driver.
 *
 * Concurrent refreshes of one AOR from two cores cannot lose a binding: each binding is its own row
 * (partition = AOR, clustering key = binding key), so writes of different bindings touch different
 * rows and both survive. Two writes of the *same* binding (same key) resolve last-write-wins by
 * their client timestamps, which is harmless: both carry that same binding, differing at most in
 * expiry or CSeq. RFC 3261 §10.3's CSeq rule ("If the value is higher than that of the existing
 * binding, it MUST update ... If not, the update MUST be aborted") is checked by the registrar
 * against lookup() and is best-effort under a race, by choice: making it exact needs a lightweight
 * transaction (Paxos: four round trips, SERIAL across DCs or LOCAL_SERIAL that is per DC anyway)
 * on every REGISTER, and would make registration fail whenever a DC is partitioned. The only
 * outcome of losing that race is an older refresh of the same contact winning, which the UA's next
 * refresh corrects.
 */
import cassandra from 'cassandra-driver';
import { LocationStoreError, type Binding, type LocationStore, type Subscriber } from './location-store.js';
import { migrate, validKeyspaceName } from './cassandra-schema.js';

export type ConsistencyName = 'ANY' | 'ONE' | 'TWO' | 'THREE' | 'QUORUM' | 'ALL' | 'LOCAL_QUORUM' | 'EACH_QUORUM' | 'LOCAL_ONE';

const CONSISTENCY: Record<ConsistencyName, number> = {
  ANY: cassandra.types.consistencies.any,
  ONE: cassandra.types.consistencies.one,
  TWO: cassandra.types.consistencies.two,
  THREE: cassandra.types.consistencies.three,
  QUORUM: cassandra.types.consistencies.quorum,
  ALL: cassandra.types.consistencies.all,
  LOCAL_QUORUM: cassandra.types.consistencies.localQuorum,
  EACH_QUORUM: cassandra.types.consistencies.eachQuorum,
  LOCAL_ONE: cassandra.types.consistencies.localOne,
};

export interface CassandraLocationStoreOptions {
  /** 'host' or 'host:port' of a few nodes of the local DC. */
  contactPoints: string[];
  /** The DC this core lives in: requests go to its nodes, other DCs are only replicated to. */
  localDataCenter: string;
  /** Default 'sipflow'. */
  keyspace?: string;
  /**
   * Replicas per DC for NetworkTopologyStrategy when the keyspace is created. Default
   * `{ [localDataCenter]: 1 }` (a dev node). Production: 3 per DC, e.g. `{ DC1: 3, DC2: 3 }`, so
   * LOCAL_QUORUM (2 of 3) survives one node down in each DC. Changing it later is an operator's
   * `ALTER KEYSPACE` + repair, never done implicitly here.
   */
  replication?: Record<string, number>;
  /** Default LOCAL_QUORUM (LOCAL_ONE is enough for a single dev node). */
  readConsistency?: ConsistencyName;
  /** Default LOCAL_QUORUM. */
  writeConsistency?: ConsistencyName;
  /** Per request and per node (driver read timeout); default 2000 ms. */
  requestTimeoutMs?: number;
  /** TCP connect + handshake per node; default 2000 ms. */
  connectTimeoutMs?: number;
  /** Bound for connecting and migrating the schema; default 30 s. */
  startTimeoutMs?: number;
  /** Start a second, speculative read on another replica after this long; default 100 ms, 0 = off. */
  speculativeDelayMs?: number;
  /** Seconds added to each binding's TTL so a row never vanishes before its expiresAt; default 5. */
  ttlGraceSeconds?: number;
  /** Run schema migrations on first use; default true. */
  migrate?: boolean;
  /** Recorded in schema_migrations.applied_by. */
  nodeId?: string;
  /** Retry-After suggested to clients when the store fails; default 5 s. */
  retryAfterSeconds?: number;
  now?: () => number;
  /** Driver log lines at warning and above (and info when verbose). */
  onLog?: (level: string, message: string) => void;
}

export interface RingHost {
  address: string;
  datacenter: string;
  rack: string;
  tokens: string[];
  up: boolean;
  cassandraVersion: string;
}

const BINDING_COLUMNS = 'key, contact, instance, reg_id, path, received, q, call_id, cseq, user_agent, expires_at, created_at';

function deadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not complete within ${ms} ms`)), ms);
    // A deadline alone must not keep a process alive that has nothing else to do.
    timer.unref();
  });
  // The losing promise may still reject later; that must not become an unhandled rejection.
  p.catch(() => {});
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function describe(err: unknown): string {
  const e = err as Error & { innerErrors?: Record<string, Error> };
  if (e && e.name === 'NoHostAvailableError' && e.innerErrors) {
    const inner = Object.entries(e.innerErrors)
      .map(([h, ie]) => `${h}: ${ie?.message ?? ie}`)
      .join('; ');
    return `no Cassandra node available (${inner || e.message})`;
  }
  return e?.message ?? String(err);
}

export class CassandraLocationStore implements LocationStore {
  readonly #o: Required<Omit<CassandraLocationStoreOptions, 'nodeId' | 'onLog'>> & Pick<CassandraLocationStoreOptions, 'nodeId' | 'onLog'>;
  readonly #ks: string;
  readonly #read: number;
  readonly #write: number;
  #client: cassandra.Client | undefined;
  #ready: Promise<cassandra.Client> | undefined;
  #closed = false;
  /** Rejects when close() is called, so callers waiting on a connect in progress fail at once. */
  readonly #closing: Promise<never>;
  #rejectClosing!: (err: Error) => void;

  constructor(options: CassandraLocationStoreOptions) {
    if (!options.contactPoints?.length) throw new TypeError('contactPoints must list at least one node');
    if (!options.localDataCenter) throw new TypeError('localDataCenter is required');
    const keyspace = options.keyspace ?? 'sipflow';
    if (!validKeyspaceName(keyspace)) throw new TypeError(`invalid keyspace name '${keyspace}'`);
    this.#o = {
      keyspace,
      replication: { [options.localDataCenter]: 1 },
      readConsistency: 'LOCAL_QUORUM',
      writeConsistency: 'LOCAL_QUORUM',
      requestTimeoutMs: 2000,
      connectTimeoutMs: 2000,
      startTimeoutMs: 30_000,
      speculativeDelayMs: 100,
      ttlGraceSeconds: 5,
      migrate: true,
      retryAfterSeconds: 5,
      now: Date.now,
      // An option passed as undefined means "the default", not "undefined".
      ...(Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as CassandraLocationStoreOptions),
    };
    this.#ks = keyspace;
    this.#closing = new Promise<never>((_, reject) => (this.#rejectClosing = reject));
    this.#closing.catch(() => {});
    this.#read = CONSISTENCY[this.#o.readConsistency];
    this.#write = CONSISTENCY[this.#o.writeConsistency];
    if (this.#read === undefined || this.#write === undefined) throw new TypeError('unknown consistency level');
  }

  get keyspace(): string {
    return this.#ks;
  }

  #newClient(): cassandra.Client {
    const { policies } = cassandra;
    const o = this.#o;
    const client = new cassandra.Client({
      contactPoints: o.contactPoints,
      localDataCenter: o.localDataCenter,
      policies: {
        // Local DC only, and within it the replicas of the partition first (one hop fewer).
        loadBalancing: new policies.loadBalancing.TokenAwarePolicy(new policies.loadBalancing.DCAwareRoundRobinPolicy(o.localDataCenter)),
        // The default policy is the safe one: it retries a read timeout once when enough replicas
        // answered, an unavailable once on the next host, and a write timeout never (except the
        // batch log). Errors mid-request are retried on the next host only for statements marked
        // idempotent, which every statement here is (full-row overwrites and deletes with
        // client-side timestamps, no counters, no list appends).
        retry: new policies.retry.RetryPolicy(),
        // Hedge slow reads on another replica; the driver only speculates on idempotent statements.
        ...(o.speculativeDelayMs > 0
          ? { speculativeExecution: new policies.speculativeExecution.ConstantSpeculativeExecutionPolicy(o.speculativeDelayMs, 1) }
          : {}),
        reconnection: new policies.reconnection.ExponentialReconnectionPolicy(500, 10_000, false),
      },
      queryOptions: { consistency: this.#read, prepare: true, fetchSize: 500 },
      socketOptions: { connectTimeout: o.connectTimeoutMs, readTimeout: o.requestTimeoutMs },
      pooling: { coreConnectionsPerHost: { [cassandra.types.distance.local]: 1, [cassandra.types.distance.remote]: 1 } },
      protocolOptions: { maxSchemaAgreementWaitSeconds: Math.max(1, Math.ceil(o.startTimeoutMs / 2000)) },
    });
    if (o.onLog) {
      const onLog = o.onLog;
      client.on('log', (level: string, _className: string, message: string) => {
        if (level === 'warning' || level === 'error') onLog(level, message);
      });
    }
    return client;
  }

  async #open(): Promise<cassandra.Client> {
    const client = this.#newClient();
    this.#client = client;
    try {
      await deadline(client.connect(), this.#o.startTimeoutMs, 'connecting to Cassandra');
      if (this.#o.migrate) {
        await deadline(
          migrate(client, {
            keyspace: this.#ks,
            replication: this.#o.replication,
            localDataCenter: this.#o.localDataCenter,
            timeoutMs: this.#o.startTimeoutMs,
            ...(this.#o.nodeId ? { appliedBy: this.#o.nodeId } : {}),
          }),
          this.#o.startTimeoutMs,
          'schema migration',
        );
      }
      // close() may have been called while we connected: do not leave a live client behind.
      if (this.#closed) throw new LocationStoreError('location store is closed', this.#o.retryAfterSeconds);
      return client;
    } catch (err) {
      if (this.#client === client) this.#client = undefined;
      await deadline(client.shutdown(), 5000, 'driver shutdown').catch(() => {});
      throw err;
    }
  }

  /** The connected client; connects and migrates on first use, again after a failed attempt. */
  #session(): Promise<cassandra.Client> {
    if (this.#closed) return Promise.reject(new LocationStoreError('location store is closed', this.#o.retryAfterSeconds));
    this.#ready ??= this.#open().catch((err) => {
      this.#ready = undefined;
      throw err;
    });
    return this.#ready;
  }

  /**
   * Runs one operation under a deadline; every failure becomes a LocationStoreError. The deadline is
   * generous enough for the driver's own retry and one speculative execution, yet bounded, so a
   * REGISTER never waits on a hung cluster: the registrar answers 500/503 with Retry-After.
   */
  async #op<T>(what: string, body: (client: cassandra.Client) => Promise<T>, waitForStartMs?: number): Promise<T> {
    const budget = 2 * this.#o.requestTimeoutMs + 500;
    try {
      // While connecting/migrating in the background, a request waits no longer than its own budget;
      // ping() (readiness) may wait for the whole start.
      const client = await Promise.race([deadline(this.#session(), waitForStartMs ?? budget, `${what}: connecting to Cassandra`), this.#closing]);
      return await deadline(body(client), budget, what);
    } catch (err) {
      if (err instanceof LocationStoreError) throw err;
      throw new LocationStoreError(`location store ${what} failed: ${describe(err)}`, this.#o.retryAfterSeconds, { cause: err });
    }
  }

  async lookup(aor: string): Promise<Binding[]> {
    return this.#op('lookup', async (client) => {
      const rs = await client.execute(`SELECT ${BINDING_COLUMNS} FROM "${this.#ks}".bindings WHERE aor = ?`, [aor], {
        prepare: true,
        consistency: this.#read,
        isIdempotent: true,
      });
      const now = this.#o.now();
      const out: Binding[] = [];
      for (const row of rs.rows) {
        const expiresAt = (row.get('expires_at') as Date).getTime();
        // TTLs have one-second granularity plus our grace: the row may outlive its binding a little.
        if (expiresAt <= now) continue;
        out.push(rowToBinding(aor, row, expiresAt));
      }
      return out;
    });
  }

  async update(aor: string, upsert: Binding[], removeKeys: string[]): Promise<void> {
    for (const b of upsert) if (b.aor !== aor) throw new TypeError(`binding of ${b.aor} passed to update(${aor})`);
    const now = this.#o.now();
    const upsertKeys = new Set(upsert.map((b) => b.key));
    const queries: Array<{ query: string; params: unknown[] }> = [];
    const del = `DELETE FROM "${this.#ks}".bindings WHERE aor = ? AND key = ?`;
    // An upsert of a key also listed for removal wins, as in the memory store (delete, then write).
    for (const key of removeKeys) if (!upsertKeys.has(key)) queries.push({ query: del, params: [aor, key] });
    for (const b of upsert) {
      const remaining = Math.ceil((b.expiresAt - now) / 1000);
      if (remaining <= 0) {
        queries.push({ query: del, params: [aor, b.key] });
        continue;
      }
      queries.push({
        query: `INSERT INTO "${this.#ks}".bindings (aor, ${BINDING_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?`,
        params: [
          aor,
          b.key,
          b.contact,
          // Absent values are written as null, not left unset: a refresh replaces the whole binding.
          b.instance ?? null,
          b.regId ?? null,
          b.path,
          b.received ?? null,
          b.q,
          b.callId,
          cassandra.types.Long.fromNumber(b.cseq),
          b.userAgent ?? null,
          new Date(b.expiresAt),
          new Date(b.createdAt),
          remaining + this.#o.ttlGraceSeconds,
        ],
      });
    }
    if (queries.length === 0) return;
    await this.#op('update', async (client) => {
      const options = { prepare: true, consistency: this.#write, isIdempotent: true };
      if (queries.length === 1) {
        await client.execute(queries[0]!.query, queries[0]!.params, options);
        return;
      }
      // One partition: Cassandra applies the whole batch as a single mutation, atomically and in
      // isolation, so an unlogged batch costs no batch log.
      await client.batch(queries, { ...options, logged: false });
    });
  }

  async removeAll(aor: string): Promise<void> {
    await this.#op('removeAll', async (client) => {
      await client.execute(`DELETE FROM "${this.#ks}".bindings WHERE aor = ?`, [aor], {
        prepare: true,
        consistency: this.#write,
        isIdempotent: true,
      });
    });
  }

  async getSubscriber(user: string, domain: string): Promise<Subscriber | undefined> {
    return this.#op('getSubscriber', async (client) => {
      const rs = await client.execute(`SELECT ha1_md5, ha1_sha256 FROM "${this.#ks}".subscribers WHERE domain = ? AND user = ?`, [domain, user], {
        prepare: true,
        consistency: this.#read,
        isIdempotent: true,
      });
      const row = rs.first();
      if (!row) return undefined;
      return { user, domain, ha1Md5: String(row.get('ha1_md5') ?? ''), ha1Sha256: String(row.get('ha1_sha256') ?? '') };
    });
  }

  async putSubscriber(s: Subscriber): Promise<void> {
    await this.#op('putSubscriber', async (client) => {
      await client.execute(
        `INSERT INTO "${this.#ks}".subscribers (domain, user, ha1_md5, ha1_sha256) VALUES (?, ?, ?, ?)`,
        [s.domain, s.user, s.ha1Md5, s.ha1Sha256],
        { prepare: true, consistency: this.#write, isIdempotent: true },
      );
    });
  }

  /** Ready when connected, migrated, and a node of the local DC answers a query. */
  async ping(): Promise<void> {
    await this.#op('ping', async (client) => {
      await client.execute('SELECT release_version FROM system.local', [], { prepare: true, isIdempotent: true });
    }, this.#o.startTimeoutMs);
  }

  /** The driver's view of the cluster for a status API: every known node, its DC, rack, tokens, up/down. */
  ringView(): RingHost[] {
    const client = this.#client;
    if (!client) return [];
    return client.hosts.values().map((h) => ({
      address: h.address,
      datacenter: h.datacenter,
      rack: h.rack,
      tokens: [...(h.tokens ?? [])],
      up: h.isUp(),
      cassandraVersion: h.cassandraVersion,
    }));
  }

  /** Bounded like everything else: shutting the driver down aborts a connect still in progress. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#rejectClosing(new LocationStoreError('location store is closed', this.#o.retryAfterSeconds));
    this.#ready = undefined;
    const client = this.#client;
    this.#client = undefined;
    if (client) await deadline(client.shutdown(), 5000, 'driver shutdown').catch(() => {});
  }
}

function rowToBinding(aor: string, row: cassandra.types.Row, expiresAt: number): Binding {
  const b: Binding = {
    aor,
    key: row.get('key') as string,
    contact: row.get('contact') as string,
    q: row.get('q') as number,
    path: [...((row.get('path') as string[] | null) ?? [])],
    callId: row.get('call_id') as string,
    cseq: (row.get('cseq') as cassandra.types.Long).toNumber(),
    expiresAt,
    createdAt: (row.get('created_at') as Date).getTime(),
  };
  const instance = row.get('instance') as string | null;
  if (instance !== null && instance !== undefined) b.instance = instance;
  const regId = row.get('reg_id') as number | null;
  if (regId !== null && regId !== undefined) b.regId = regId;
  const received = row.get('received') as string | null;
  if (received !== null && received !== undefined) b.received = received;
  const userAgent = row.get('user_agent') as string | null;
  if (userAgent !== null && userAgent !== undefined) b.userAgent = userAgent;
  return b;
}
