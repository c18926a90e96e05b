/**
 * The two Cassandra layouts the project runs on this machine, as plain data:
 *  - '1': one node on 127.0.0.2, the everyday development and test store;
 *  - '2x2': the seed's ring, two data centers of two single-token nodes on 127.0.0.11-14, one rack
 *    per node, offset mirror tokens, so NetworkTopologyStrategy {DC1:1, DC2:1} is exercised for real.
 * Every node listens for CQL on 9042 and for other nodes on 7000, each on its own loopback address.
 *
 * A third shape is built from the caller's addresses instead of a name: `namespacedRing`, a ring
 * whose data centers each live in their own network namespace (the datacenter-cut fault test puts
 * a firewall between them). Its nodes have their own names, so their data folders never mix with
 * the two layouts above.
 */
import { isIPv4 } from 'node:net';
import { dcName, offsetMirrorToken, rackName, type Partitioner } from './tokens.js';

export type TopologyName = '1' | '2x2';
export const TOPOLOGIES: readonly TopologyName[] = ['1', '2x2'];

export interface NodeSpec {
  /** Folder name under `<home>/nodes/`. */
  name: string;
  ip: string;
  cqlPort: number;
  storagePort: number;
  dc: string;
  rack: string;
  clusterName: string;
  partitioner: Partitioner;
  /** Single-token nodes: the offset mirror token, as a decimal string. */
  initialToken: string;
  /** `ip:storagePort` of the seed nodes. */
  seeds: string[];
  /** Milliseconds Cassandra waits for gossip on join; small for fresh local rings. */
  ringDelayMs: number;
  /**
   * Network namespace the JVM runs in (launched through `ip netns exec`, which needs root); absent:
   * the namespace of the process that starts it. `ip` must reach the node from there.
   */
  netns?: string;
}

export const CQL_PORT = 9042;
export const STORAGE_PORT = 7000;

export function topologyNodes(topology: TopologyName, partitioner: Partitioner = 'murmur3'): NodeSpec[] {
  if (topology === '1') {
    return [
      {
        name: 'single',
        ip: '127.0.0.2',
        cqlPort: CQL_PORT,
        storagePort: STORAGE_PORT,
        dc: dcName(0),
        rack: rackName(0),
        clusterName: 'sipflow-dev',
        partitioner,
        initialToken: offsetMirrorToken(0, 0, 1, partitioner).toString(),
        seeds: [`127.0.0.2:${STORAGE_PORT}`],
        ringDelayMs: 1000,
      },
    ];
  }
  return ringNodes({
    namePrefix: 'ring',
    clusterName: 'sipflow-ring',
    partitioner,
    dcs: [0, 1].map((dc) => ({ ips: [0, 1].map((node) => `127.0.0.${11 + dc * 2 + node}`) })),
    // The first node is the seed and is started first; the others join through it.
    seeds: [`127.0.0.11:${STORAGE_PORT}`],
    cqlPort: CQL_PORT,
    storagePort: STORAGE_PORT,
  });
}

/**
 * The nodes of a multi-DC ring, DC by DC: offset mirror tokens (node i of every DC mirrors node i
 * of DC1), one rack per node position, names `<namePrefix>-dc<k>-n<i>`.
 */
function ringNodes(o: {
  namePrefix: string;
  clusterName: string;
  partitioner: Partitioner;
  dcs: readonly { ips: readonly string[]; netns?: string }[];
  seeds: string[];
  cqlPort: number;
  storagePort: number;
}): NodeSpec[] {
  const perDc = o.dcs[0]!.ips.length;
  return o.dcs.flatMap((d, dc) =>
    d.ips.map((ip, node) => ({
      name: `${o.namePrefix}-${dcName(dc).toLowerCase()}-n${node}`,
      ip,
      cqlPort: o.cqlPort,
      storagePort: o.storagePort,
      dc: dcName(dc),
      rack: rackName(node),
      clusterName: o.clusterName,
      partitioner: o.partitioner,
      initialToken: offsetMirrorToken(dc, node, perDc, o.partitioner).toString(),
      seeds: o.seeds,
      ringDelayMs: 3000,
      ...(d.netns !== undefined ? { netns: d.netns } : {}),
    })),
  );
}

export interface NamespacedDc {
  /** An existing network namespace (`ip netns add`); the DC's nodes all run in it. */
  netns: string;
  /** One IPv4 address per node, configured inside that namespace; listen, rpc and seed address. */
  ips: readonly string[];
}

export interface NamespacedRingOptions {
  /** Node names are `<namePrefix>-dc<k>-n<i>`, and are also their data folders' names. */
  namePrefix: string;
  clusterName: string;
  dcs: readonly NamespacedDc[];
  partitioner?: Partitioner;
  cqlPort?: number;
  storagePort?: number;
}

/**
 * A multi-DC ring whose DCs run in network namespaces, with the same offset mirror tokens and one
 * rack per node position as the '2x2' layout. The first node of every DC is a seed: a DC cut off
 * from the others still has a seed of its own, the usual advice for multi-DC rings. Nodes are
 * meant to be started DC by DC, in the order returned.
 */
export function namespacedRing(o: NamespacedRingOptions): NodeSpec[] {
  if (!/^[a-z][a-z0-9-]*$/.test(o.namePrefix)) throw new RangeError(`namePrefix must be lowercase letters, digits and '-', got '${o.namePrefix}'`);
  // The fixed layouts own these folder names; a namespaced ring must never reuse their data.
  if (o.namePrefix === 'ring' || o.namePrefix === 'single') throw new RangeError(`namePrefix '${o.namePrefix}' is taken by the '1'/'2x2' layouts`);
  if (o.dcs.length === 0) throw new RangeError('a ring needs at least one DC');
  const perDc = o.dcs[0]!.ips.length;
  if (perDc === 0 || o.dcs.some((d) => d.ips.length !== perDc)) throw new RangeError('every DC needs the same, non-zero number of nodes (offset mirror tokens)');
  const ips = o.dcs.flatMap((d) => d.ips);
  const bad = ips.find((ip) => !isIPv4(ip));
  if (bad !== undefined) throw new RangeError(`not an IPv4 address: ${bad}`);
  if (new Set(ips).size !== ips.length) throw new RangeError('two nodes share an address');
  const storagePort = o.storagePort ?? STORAGE_PORT;
  return ringNodes({
    namePrefix: o.namePrefix,
    clusterName: o.clusterName,
    partitioner: o.partitioner ?? 'murmur3',
    dcs: o.dcs,
    seeds: o.dcs.map((d) => `${d.ips[0]!}:${storagePort}`),
    cqlPort: o.cqlPort ?? CQL_PORT,
    storagePort,
  });
}

export function parseTopology(value: string): TopologyName {
  if (value === '1' || value === 'single') return '1';
  if (value === '2x2' || value === 'ring') return '2x2';
  throw new RangeError(`unknown topology '${value}' (use 1 or 2x2)`);
}
