/**
 * Offset mirror tokens (design origin: the seed, "Scaling SIP Proxies"): compute each data center's
 * single-token nodes as if that DC were the whole ring, then offset DC d by +d so no two nodes share
 * a token. With NetworkTopologyStrategy every DC then owns the same evenly split ranges, so a
 * replica written in DC0 lands on the mirror node in DC1 instead of piling onto one remote node.
 *
 *   token(dc, node) = node * (range / nodesPerDc) + dc      (then shifted into the partitioner's range)
 *
 * Pure BigInt arithmetic, no I/O: the seed's worked example is a unit test.
 */

export type Partitioner = 'random' | 'murmur3';

export const PARTITIONER_CLASS: Record<Partitioner, string> = {
  random: 'org.apache.cassandra.dht.RandomPartitioner',
  murmur3: 'org.apache.cassandra.dht.Murmur3Partitioner',
};

/** Size and lowest token of each partitioner's ring. */
export function tokenRange(partitioner: Partitioner): { min: bigint; size: bigint } {
  // RandomPartitioner tokens are 0..2^127 (the seed's numbers); Murmur3 is a signed 64-bit ring.
  return partitioner === 'random' ? { min: 0n, size: 2n ** 127n } : { min: -(2n ** 63n), size: 2n ** 64n };
}

export interface NodeToken {
  /** 0-based data center index (DC1 is 0). */
  dc: number;
  /** 0-based node index inside its DC. */
  node: number;
  token: bigint;
}

export function offsetMirrorToken(dc: number, node: number, nodesPerDc: number, partitioner: Partitioner): bigint {
  if (!Number.isInteger(dc) || dc < 0) throw new RangeError(`dc must be a non-negative integer, got ${dc}`);
  if (!Number.isInteger(nodesPerDc) || nodesPerDc < 1) throw new RangeError(`nodesPerDc must be a positive integer, got ${nodesPerDc}`);
  if (!Number.isInteger(node) || node < 0 || node >= nodesPerDc) throw new RangeError(`node must be in 0..${nodesPerDc - 1}, got ${node}`);
  const { min, size } = tokenRange(partitioner);
  const step = size / BigInt(nodesPerDc);
  // The +dc offset must stay below the gap between two nodes of one DC, or DCs would interleave.
  if (BigInt(dc) >= step) throw new RangeError(`too many data centers (${dc + 1}) for ${nodesPerDc} nodes per DC`);
  return min + BigInt(node) * step + BigInt(dc);
}

/** Every node's token, DC by DC, node by node. */
export function offsetMirrorTokens(dcs: number, nodesPerDc: number, partitioner: Partitioner = 'murmur3'): NodeToken[] {
  if (!Number.isInteger(dcs) || dcs < 1) throw new RangeError(`dcs must be a positive integer, got ${dcs}`);
  const out: NodeToken[] = [];
  for (let dc = 0; dc < dcs; dc++) {
    for (let node = 0; node < nodesPerDc; node++) out.push({ dc, node, token: offsetMirrorToken(dc, node, nodesPerDc, partitioner) });
  }
  return out;
}

/** Names used everywhere else: DC1.., RAC1.. (the seed's topology file spelling). */
export function dcName(dc: number): string {
  return `DC${dc + 1}`;
}

export function rackName(node: number): string {
  return `RAC${node + 1}`;
}
