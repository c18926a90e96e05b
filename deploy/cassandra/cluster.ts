/**
 * A topology's nodes started, stopped and inspected together. Starting is sequential, seed first,
 * each node waited for before the next: on two cores parallel JVM starts only slow each other down,
 * and a node joining a ring needs its seed to answer. One lock file serialises every start of a
 * node set (the named layouts share one), so two processes asking at once get one JVM per node.
 * A set is either a named topology or explicit nodes (`namespacedRing`: DCs in network namespaces).
 */
import { join } from 'node:path';
import { fetchCassandra, type Installation, type Progress } from './fetch.js';
import { withFileLock } from './file-lock.js';
import type { JvmOptions } from './jvm-options.js';
import { cleanNode, nodeStatus, startNode, stopNode, type NodeStatus, type StartNodeResult } from './node-process.js';
import { cassandraHome } from './paths.js';
import type { Partitioner } from './tokens.js';
import { topologyNodes, type NodeSpec, type TopologyName } from './topology.js';

export interface ClusterOptions {
  home?: string;
  topology?: TopologyName;
  /** Explicit nodes (e.g. `namespacedRing(...)`) instead of a named topology; `topology` is then ignored. */
  nodes?: readonly NodeSpec[];
  partitioner?: Partitioner;
  progress?: Progress;
}

export interface StartClusterOptions extends ClusterOptions {
  /** Per node. */
  timeoutMs?: number;
  fresh?: boolean;
  jvm?: JvmOptions;
  /** Cassandra version to fetch/use; default newest available. */
  version?: string;
}

export interface StartClusterResult {
  install: Installation;
  nodes: Array<StartNodeResult & { spec: NodeSpec }>;
  seconds: number;
}

/**
 * Start, stop and clean all take this one lock: a start must not find a node "already running"
 * that a concurrent stop is about to kill, nor a stop kill a node another process is starting.
 */
function lockFile(home: string, options: ClusterOptions): string {
  // The named layouts share one lock (a start of one must see a stop of the other); explicit node
  // sets have their own folders and ports, so they only serialise with themselves.
  const own = options.nodes?.[0]?.clusterName;
  return join(home, own === undefined ? 'cluster.lock' : `cluster-${own}.lock`);
}

function specsOf(options: ClusterOptions): NodeSpec[] {
  return options.nodes ? [...options.nodes] : topologyNodes(options.topology ?? '1', options.partitioner);
}

export async function startCluster(options: StartClusterOptions = {}): Promise<StartClusterResult> {
  const home = options.home ?? cassandraHome();
  const progress = options.progress ?? (() => {});
  const specs = specsOf(options);
  const started = Date.now();
  const install = await fetchCassandra({ home, progress, ...(options.version ? { version: options.version } : {}) });
  return withFileLock(
    lockFile(home, options),
    {
      // Long enough for another process to start a whole ring.
      timeoutMs: specs.length * (options.timeoutMs ?? 240_000) + 60_000,
      onWait: (pid) => progress(`another sipflow process (pid ${pid}) is starting or stopping Cassandra; waiting for it`),
    },
    async () => {
      const nodes: StartClusterResult['nodes'] = [];
      for (const spec of specs) {
        const r = await startNode(spec, {
          home,
          install,
          progress,
          ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
          ...(options.fresh ? { fresh: true } : {}),
          ...(options.jvm ? { jvm: options.jvm } : {}),
        });
        nodes.push({ ...r, spec });
      }
      return { install, nodes, seconds: (Date.now() - started) / 1000 };
    },
  );
}

/** Stops the topology's nodes, last started first; returns the names of those that were running. */
export async function stopCluster(options: ClusterOptions & { graceMs?: number } = {}): Promise<string[]> {
  const home = options.home ?? cassandraHome();
  const progress = options.progress ?? (() => {});
  const specs = specsOf(options).reverse();
  return withFileLock(
    lockFile(home, options),
    { timeoutMs: 15 * 60_000, onWait: (pid) => progress(`another sipflow process (pid ${pid}) is starting or stopping Cassandra; waiting for it`) },
    async () => {
      const stopped: string[] = [];
      for (const spec of specs) {
        if (await stopNode(spec, { home, progress, ...(options.graceMs ? { graceMs: options.graceMs } : {}) })) stopped.push(spec.name);
      }
      return stopped;
    },
  );
}

export async function clusterStatus(options: ClusterOptions = {}): Promise<NodeStatus[]> {
  const home = options.home ?? cassandraHome();
  const specs = specsOf(options);
  return Promise.all(specs.map((s) => nodeStatus(s, home)));
}

export async function cleanCluster(options: ClusterOptions = {}): Promise<string[]> {
  const home = options.home ?? cassandraHome();
  const specs = specsOf(options);
  return withFileLock(lockFile(home, options), { timeoutMs: 15 * 60_000 }, async () => {
    for (const s of specs) cleanNode(s, home);
    return specs.map((s) => s.name);
  });
}
