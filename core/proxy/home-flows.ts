/**
 * The core as home proxy for UAs attached to it directly (desk phones over UDP/TCP): the URIs it
 * mints so requests find their way back to a flow it holds, and the reverse — recognising its own
 * URIs in Route and Request-URI and turning them back into a transport target.
 */
import { FlowTokenCodec, type FlowRef, type FlowTokenError } from '../../sip/outbound/flow-token.js';
import type { SipUri } from '../../sip/grammar/uri.js';
import type { ReceivedFrom, TransportTarget, TransportProtocol } from '../../sip/transport/transport.js';
import { parseHostPort } from '../../runtime/host-port.js';

export interface SelfAddress {
  host: string;
  port: number;
}

export class HomeFlows {
  readonly codec: FlowTokenCodec;
  readonly #secrets: readonly string[];
  readonly #advertise: SelfAddress;
  readonly #selfHosts: Set<string>;
  readonly #selfPorts: Set<number>;
  /** Codecs of the other nodes whose tokens this core has checked (verifiesFor). */
  readonly #peers = new Map<string, FlowTokenCodec>();
  /** Path entries found to be this cluster's (isClusterPath). */
  readonly #clusterPaths = new Set<string>();

  /**
   * @param advertise the address other nodes reach this core at (its node id is `host:port`).
   * @param listening every address this core listens on, to recognise Route entries naming it.
   */
  constructor(secrets: readonly string[], advertise: SelfAddress, listening: SelfAddress[]) {
    this.#advertise = advertise;
    this.#secrets = secrets;
    this.codec = new FlowTokenCodec(secrets, nodeIdOf(advertise));
    this.#selfHosts = new Set([advertise.host, ...listening.map((l) => l.host)].map(normHost));
    if (this.#selfHosts.has('0.0.0.0')) this.#selfHosts.add('127.0.0.1');
    this.#selfPorts = new Set([advertise.port, ...listening.map((l) => l.port)]);
  }

  get nodeId(): string {
    return this.codec.node;
  }

  get advertise(): SelfAddress {
    return this.#advertise;
  }

  isSelf(host: string, port: number | undefined): boolean {
    return this.#selfHosts.has(normHost(host)) && this.#selfPorts.has(port ?? 5060);
  }

  tokenFor(source: ReceivedFrom): string {
    return this.codec.encode({
      transport: source.protocol === 'udp' ? 'udp' : source.protocol === 'tls' ? 'tls' : 'tcp',
      host: source.remoteAddress,
      port: source.remotePort,
      flow: source.connectionId ?? '',
    });
  }

  /** The Path entry (without <>) for a UA registering directly here. */
  pathFor(source: ReceivedFrom, outbound: boolean): string {
    return this.routeUri(this.tokenFor(source)) + (outbound ? ';ob' : '');
  }

  /** A loose-route URI naming this node and, in its user part, a flow it holds (Path, Record-Route). */
  routeUri(token: string): string {
    const a = this.#advertise;
    return `sip:${token}@${hostForUri(a.host)}:${a.port};transport=udp;lr`;
  }

  decode(token: string): { ok: true; ref: FlowRef } | { ok: false; error: FlowTokenError } {
    return this.codec.decode(token);
  }

  /**
   * True when `token` was minted by the cluster node `node` (every node derives every node's key
   * from the shared secrets). A node id read from a token with `peekNode` is attacker-controlled
   * until this says yes: relaying to it unchecked would send requests wherever a forger wrote.
   */
  verifiesFor(node: string, token: string): boolean {
    let codec = this.#peers.get(node);
    if (codec === undefined) {
      try {
        codec = new FlowTokenCodec(this.#secrets, node);
      } catch {
        return false; // not a possible node id
      }
      // Nodes are few; a forger inventing node ids only ever gets the table emptied.
      if (this.#peers.size >= 256) this.#peers.clear();
      this.#peers.set(node, codec);
    }
    return codec.decode(token).ok;
  }

  /**
   * RFC 3327 §5.3 leaves it to the registrar which Path it believes. Ours: one written by a node of
   * this cluster, naming that node, with a flow token it signed. Anything else would let a UA make
   * the cores send requests for its AOR to an address of its choosing.
   */
  isClusterPath(entry: string): boolean {
    if (this.#clusterPaths.has(entry)) return true;
    // <sip:TOKEN@host:port;...>, as the nodes write it: the token's node must be that host:port.
    const m = CLUSTER_PATH.exec(entry);
    if (m === null) return false;
    const token = m[1]!;
    const node = FlowTokenCodec.peekNode(token);
    if (node === undefined || node.toLowerCase() !== m[2]!.toLowerCase() || !this.verifiesFor(node, token)) return false;
    // A flow's Path comes back on every refresh; bounded, and only entries that verified.
    if (this.#clusterPaths.size >= 8192) this.#clusterPaths.clear();
    this.#clusterPaths.add(entry);
    return true;
  }

  static targetOf(ref: FlowRef): TransportTarget {
    const protocol: TransportProtocol = ref.transport === 'udp' ? 'udp' : ref.transport === 'tls' ? 'tls' : 'tcp';
    const host = ref.host.startsWith('[') ? ref.host.slice(1, -1) : ref.host;
    return { protocol, host, port: ref.port, ...(ref.flow ? { connectionId: ref.flow, noConnect: true } : {}) };
  }

  /** Where to send a request for a token minted by another node: that node's UDP address. */
  static nodeTarget(nodeId: string): TransportTarget | undefined {
    const hp = parseHostPort(nodeId);
    return hp ? { protocol: 'udp', host: hp.host, port: hp.port } : undefined;
  }

  /** A Route/Request-URI of ours: names this node; its user part may hold a flow token. */
  isOurUri(uri: SipUri): boolean {
    return (uri.scheme === 'sip' || uri.scheme === 'sips') && this.isSelf(uri.host.replace(/^\[|\]$/g, ''), uri.port);
  }
}

export function nodeIdOf(a: SelfAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** A Path entry a node wrote: `<sip:TOKEN@host:port;...>` (IPv6 hosts in brackets). */
const CLUSTER_PATH = /^\s*<sips?:([A-Za-z0-9_.-]+)@(\[[0-9A-Fa-f:.]+\]:\d{1,5}|[^\s:;>@?]+:\d{1,5})[;>]/;

function normHost(h: string): string {
  return h.replace(/^\[|\]$/g, '').toLowerCase();
}

function hostForUri(h: string): string {
  return h.includes(':') && !h.startsWith('[') ? `[${h}]` : h;
}
