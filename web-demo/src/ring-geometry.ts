/**
 * Where each Cassandra node's token ranges sit on the ring. Pure (no DOM) so it is unit-tested.
 *
 * Murmur3Partitioner tokens are signed 64-bit integers, the ring runs from -2^63 to 2^63-1, and a
 * node owns the range (previous token, its token]: the arc that ends at each of its tokens.
 */
export interface RingHost {
  address: string;
  /** The core reports `datacenter`; `dc` is accepted too. */
  datacenter?: string;
  dc?: string;
  rack?: string;
  tokens: string[];
  up?: boolean;
}

export interface RingArc {
  owner: string;
  /** Fractions of the circle, 0 at the top, clockwise; end may exceed 1 when the arc wraps. */
  start: number;
  end: number;
}

const SPAN = 2n ** 64n;
const HALF = 2n ** 63n;

/** Position of a token on the ring as a fraction in [0, 1). */
export function tokenPosition(token: string): number {
  const t = BigInt(token);
  if (t < -HALF || t >= HALF) throw new RangeError(`token out of the Murmur3 range: ${token}`);
  // Scale in BigInt first: a double cannot hold 2^64 distinct steps.
  return Number(((t + HALF) * 1_000_000_000n) / SPAN) / 1_000_000_000;
}

export function ringArcs(hosts: readonly RingHost[]): RingArc[] {
  const points = hosts
    .flatMap((h) => h.tokens.map((t) => ({ owner: h.address, token: BigInt(t), pos: tokenPosition(t) })))
    .sort((a, b) => (a.token < b.token ? -1 : a.token > b.token ? 1 : 0));
  if (points.length === 0) return [];
  return points.map((p, i) => {
    const prev = points[(i - 1 + points.length) % points.length]!;
    // The first token's range wraps around from the last token; a lone token owns everything.
    const start = i === 0 ? prev.pos - 1 : prev.pos;
    return { owner: p.owner, start: start < 0 ? start + 1 : start, end: start < 0 ? p.pos + 1 : p.pos };
  });
}

/** Share of the ring each node owns (primary ranges only, replication not counted). */
export function ownership(hosts: readonly RingHost[]): Map<string, number> {
  const share = new Map<string, number>(hosts.map((h) => [h.address, 0]));
  const arcs = ringArcs(hosts);
  for (const a of arcs) share.set(a.owner, (share.get(a.owner) ?? 0) + (a.end - a.start));
  return share;
}

/**
 * Hosts grouped by datacenter, in first-seen order. With NetworkTopologyStrategy each datacenter
 * places its replicas on its own ring, so ranges and shares only mean something within one DC
 * (offset-mirror tokens put DC2's nodes 1 token after DC1's: one global ring would show DC2 owning
 * nothing).
 */
export function byDatacenter(hosts: readonly RingHost[]): Map<string, RingHost[]> {
  const out = new Map<string, RingHost[]>();
  for (const h of hosts) {
    const dc = h.datacenter ?? h.dc ?? '?';
    out.set(dc, [...(out.get(dc) ?? []), h]);
  }
  return out;
}
