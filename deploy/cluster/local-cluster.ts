/**
 * The local cluster `npm start` runs: Cassandra (unless --store memory), core nodes, edge nodes,
 * rtpengine when installed, and the web demo. Cores run as their own processes against Cassandra;
 * with the memory store they run inside this process so they share one store (a memory store is
 * per process). Everything started is stopped on stop(), by pid, in reverse order.
 */
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from '../node-flags.js';
import { DEFAULT_DRAIN_MS } from '../../runtime/drain.js';
import type { Logger } from '../../runtime/logger.js';
import { formatHostPort, type HostPort } from '../../runtime/host-port.js';
import { Supervisor } from './supervisor.js';
import { startCluster, stopCluster } from '../cassandra/cluster.js';
import { topologyNodes, type TopologyName } from '../cassandra/topology.js';
import { runningPid } from '../cassandra/node-process.js';
import { cassandraHome, nodePaths } from '../cassandra/paths.js';
import { CoreNode } from '../../core/core-node.js';
import { MemoryLocationStore } from '../../core/location/memory-store.js';
import { CassandraLocationStore } from '../../core/location/cassandra-store.js';
import type { LocationStore } from '../../core/location/location-store.js';
import { addSubscriber } from '../../core/subscribers.js';
import { RtpengineClient } from '../../core/media/rtpengine-client.js';
import { startWebServer, MISSING_DIST, type WebNode } from './web-server.js';

export interface LocalClusterOptions {
  edges: number;
  cores: number;
  store: 'memory' | 'cassandra';
  cassandra: TopologyName;
  domain: string;
  host: string;
  coreBasePort: number;
  edgeWsBasePort: number;
  edgeUdpBasePort: number;
  /** How edges reach cores; every core listens on TCP at its UDP port either way. */
  coreTransport: 'udp' | 'tcp';
  metricsBasePort: number;
  demoPort: number;
  auth: boolean;
  demoUsers: { user: string; password: string }[];
  log: Logger;
  out?: (line: string) => void;
}

export const DEMO_USERS = [
  { user: 'alice', password: 'alice' },
  { user: 'bob', password: 'bob' },
  { user: 'carol', password: 'carol' },
  { user: 'deskphone', password: 'deskphone' },
];

export interface NodeInfo {
  role: 'cassandra' | 'core' | 'edge' | 'rtpengine' | 'web';
  name: string;
  address: string;
  metrics?: string;
  pid?: number;
}

export interface RunningCluster {
  nodes: NodeInfo[];
  demoUrl?: string;
  /** Stops everything: node processes one at a time (edges first), each given its drain. */
  stop(): Promise<void>;
  /** During stop(): the nodes stop now instead of draining (a second Ctrl-C). */
  hurry(): void;
}

/** Past a node's drain timeout, what its stop (closing flows, the store) may still take before SIGKILL. */
const STOP_MARGIN_MS = 5000;

const bin = fileURLToPath(new URL('../../../bin/sipflow.js', import.meta.url));

export async function startLocalCluster(o: LocalClusterOptions): Promise<RunningCluster> {
  const out = o.out ?? ((l: string) => process.stdout.write(l + '\n'));
  const sup = new Supervisor(out);
  const secret = randomBytes(24).toString('base64url');
  const nodes: NodeInfo[] = [];
  const inProcessCores: CoreNode[] = [];
  let store: LocationStore | undefined;
  let startedCassandra = false;
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const f of stops.reverse()) {
      try {
        await f();
      } catch (err) {
        o.log.warn({ err }, 'stop step failed');
      }
    }
  };
  sup.onUnexpectedExit = (name, code, signal) => o.log.error({ node: name, code, signal }, `${name} exited unexpectedly`);

  try {
    const corePorts = Array.from({ length: o.cores }, (_, i) => o.coreBasePort + i * 2);
    const edgeUdp = Array.from({ length: o.edges }, (_, i) => o.edgeUdpBasePort + i * 2);
    const coreList = corePorts.map((p) => `${o.host}:${p}`).join(',');
    // The cores exempt their edges from the rate limit and read the browser's address below an
    // edge's Via. Over TCP an edge's connections come from ephemeral ports, so edges are known by
    // address then (in production each edge has an address of its own; here all share one).
    const trusted = o.coreTransport === 'tcp' ? o.host : edgeUdp.map((p) => `${o.host}:${p}`).join(',');

    let cassandraSpecs = topologyNodes(o.cassandra);
    if (o.store === 'cassandra') {
      const home = cassandraHome();
      const alreadyRunning = cassandraSpecs.every((s) => runningPid(nodePaths(home, s.name)) !== undefined);
      out(`[cluster] Cassandra (${o.cassandra === '1' ? 'one node' : '2 DCs x 2 nodes'}): ${alreadyRunning ? 'already running, reusing it' : 'starting (the first run downloads it from Maven Central)'}`);
      const started = await startCluster({ topology: o.cassandra, progress: (l) => out(`[cassandra] ${l}`) });
      startedCassandra = !alreadyRunning;
      if (startedCassandra) stops.push(async () => void (await stopCluster({ topology: o.cassandra, progress: (l) => out(`[cassandra] ${l}`) })));
      for (const n of started.nodes) nodes.push({ role: 'cassandra', name: n.spec.name, address: `${n.spec.ip}:${n.spec.cqlPort}`, ...(n.pid ? { pid: n.pid } : {}) });
      const replication = Object.fromEntries([...new Set(cassandraSpecs.map((s) => s.dc))].map((dc) => [dc, 1]));
      const first = cassandraSpecs[0]!;
      store = new CassandraLocationStore({ contactPoints: [`${first.ip}:${first.cqlPort}`], localDataCenter: first.dc, replication, readConsistency: 'LOCAL_ONE', writeConsistency: 'LOCAL_QUORUM', nodeId: 'launcher' });
    } else {
      cassandraSpecs = [];
      store = new MemoryLocationStore();
    }
    const sharedStore = store;
    stops.push(async () => sharedStore.close());
    await store.ping();
    for (const u of o.demoUsers) await addSubscriber(store, u.user, o.domain, u.password);
    out(`[cluster] demo users provisioned in ${o.domain}: ${o.demoUsers.map((u) => `${u.user}/${u.password}`).join(', ')}`);

    let rtpengine: HostPort | undefined;
    if (spawnSync('sh', ['-c', 'command -v rtpengine'], { stdio: 'ignore' }).status === 0) {
      const p = await sup.start({
        name: 'rtpengine',
        command: 'rtpengine',
        args: ['--config-file=none', '--table=-1', '--foreground', '--log-stderr', '--no-log-timestamps', '-L', '5', `--interface=${o.host}`, `--listen-ng=${o.host}:22222`, '--port-min=30000', '--port-max=30199', '--delete-delay=0', '--dtls-passive'],
        // rtpengine prints nothing at this log level once up: it is ready when it answers an ng ping.
        probe: async () => {
          const client = new RtpengineClient({ instances: [{ host: o.host, port: 22222 }], timeoutMs: 200, attempts: 1 });
          try {
            await client.ping();
            return true;
          } catch {
            return false;
          } finally {
            client.close();
          }
        },
        readyTimeoutMs: 10_000,
      })
        .catch((err: Error) => {
          out(`[cluster] rtpengine did not start (${err.message}); calls between browsers and desk phones will lack media`);
          return undefined;
        });
      if (p) {
        nodes.push({ role: 'rtpengine', name: 'rtpengine', address: `ng:${o.host}:22222`, pid: p.pid });
        rtpengine = { host: o.host, port: 22222 };
      }
    } else {
      out('[cluster] rtpengine not installed (apt-get install rtpengine-daemon): browser <-> desk phone calls will lack media');
    }
    for (let i = 0; i < o.cores; i++) {
      const udp: HostPort = { host: o.host, port: corePorts[i]! };
      const metrics: HostPort = { host: o.host, port: o.metricsBasePort + i };
      if (o.store === 'memory') {
        const node = new CoreNode({ udp, tcp: udp, domain: o.domain, aliases: [], auth: o.auth, secrets: [secret], metrics, trustedSources: trusted.split(','), version: 'local', ...(rtpengine ? { rtpengine: [rtpengine] } : {}) }, { store, log: o.log.child({ node: `core-${i + 1}` }) });
        await node.start();
        inProcessCores.push(node);
        stops.push(() => node.stop());
        nodes.push({ role: 'core', name: `core-${i + 1}`, address: `udp:${formatHostPort(udp)}`, metrics: formatHostPort(metrics), pid: process.pid });
        out(`core-${i + 1}    | ready (in-process, memory store) on udp:${formatHostPort(udp)}`);
      } else {
        const spec = cassandraSpecs[i % cassandraSpecs.length]!;
        const p = await sup.start({
          name: `core-${i + 1}`,
          command: process.execPath,
          args: [...NODE_FLAGS, bin, 'core', '--udp', formatHostPort(udp), '--tcp', formatHostPort(udp), '--domain', o.domain, '--store', 'cassandra', '--cassandra', `${spec.ip}:${spec.cqlPort}`, '--dc', spec.dc, '--consistency', 'LOCAL_QUORUM', '--auth', o.auth ? 'on' : 'off', '--metrics', formatHostPort(metrics), '--trusted', trusted, ...(rtpengine ? ['--rtpengine', formatHostPort(rtpengine)] : [])],
          env: { SIPFLOW_SECRET: secret },
          readyWhen: /core ready/,
          readyTimeoutMs: 60_000,
          stopGraceMs: DEFAULT_DRAIN_MS.core + STOP_MARGIN_MS,
        });
        nodes.push({ role: 'core', name: p.name, address: `udp:${formatHostPort(udp)}`, metrics: formatHostPort(metrics), pid: p.pid });
      }
    }

    for (let j = 0; j < o.edges; j++) {
      const ws: HostPort = { host: o.host, port: o.edgeWsBasePort + j };
      const udp: HostPort = { host: o.host, port: edgeUdp[j]! };
      const metrics: HostPort = { host: o.host, port: o.metricsBasePort + 50 + j };
      const p = await sup.start({
        name: `edge-${j + 1}`,
        command: process.execPath,
        args: [...NODE_FLAGS, bin, 'edge', '--ws', formatHostPort(ws), '--udp', formatHostPort(udp), '--core-transport', o.coreTransport, '--core', coreList, '--metrics', formatHostPort(metrics)],
        env: { SIPFLOW_SECRET: secret },
        readyWhen: /ready/i,
        readyTimeoutMs: 30_000,
        stopGraceMs: DEFAULT_DRAIN_MS.edge + STOP_MARGIN_MS,
      });
      nodes.push({ role: 'edge', name: p.name, address: `ws://${formatHostPort(ws)}`, metrics: formatHostPort(metrics), pid: p.pid });
    }

    // The web demo: the softphone gets the edges from /config.json, the cluster page every /status.
    const web = await startWebServer({
      host: o.host,
      port: o.demoPort,
      domain: o.domain,
      edges: nodes.filter((n) => n.role === 'edge').map((n) => n.address),
      nodes: nodes
        .filter((n): n is NodeInfo & { role: WebNode['role'] } => n.role !== 'web')
        .map((n) => ({ name: n.name, role: n.role, address: n.address, ...(n.metrics ? { status: `http://${n.metrics}/status` } : {}) })),
    });
    stops.push(() => web.close());
    nodes.push({ role: 'web', name: 'web-demo', address: web.url, pid: process.pid });
    if (web.missingDist) out(`[cluster] ${MISSING_DIST}`);
    stops.push(() => sup.stopAll());
    return { nodes, demoUrl: web.url, stop, hurry: () => sup.hurry() };
  } catch (err) {
    await sup.stopAll();
    await stop();
    throw err;
  }
}
