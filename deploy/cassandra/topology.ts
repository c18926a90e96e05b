/**
 * The two Cassandra layouts the project runs on this machine, as plain data:
 *  - '1': one node on 127.0.0.2, the everyday development and test store;
 *  - '2x2': the seed's ring, two data centers of two single-token nodes on 127.0.0.11-14, one rack
 *    per node, offset mirror tokens, so NetworkTopologyStrategy {DC1:1, DC2:1} is exercised for real.
 * Every node listens for CQL on 9042 and for other nodes on 7000, each on its own loopback address.
 */
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
  const dcs = 2;
  const perDc = 2;
  const out: NodeSpec[] = [];
  for (let dc = 0; dc < dcs; dc++) {
    for (let node = 0; node < perDc; node++) {
      const ip = `127.0.0.${11 + dc * perDc + node}`;
      out.push({
        name: `ring-${dcName(dc).toLowerCase()}-n${node}`,
        ip,
        cqlPort: CQL_PORT,
        storagePort: STORAGE_PORT,
        dc: dcName(dc),
        rack: rackName(node),
        clusterName: 'sipflow-ring',
        partitioner,
        initialToken: offsetMirrorToken(dc, node, perDc, partitioner).toString(),
        // The first node is the seed and is started first; the others join through it.
        seeds: [`127.0.0.11:${STORAGE_PORT}`],
        ringDelayMs: 3000,
      });
    }
  }
  return out;
}

export function parseTopology(value: string): TopologyName {
  if (value === '1' || value === 'single') return '1';
  if (value === '2x2' || value === 'ring') return '2x2';
  throw new RangeError(`unknown topology '${value}' (use 1 or 2x2)`);
}
