/**
 * RFC 5626 §5.2 flow tokens: what a first-hop node (an edge for a browser's WebSocket, a core for a
 * desk phone's UDP/TCP flow) puts in the user part of the Path and Record-Route URIs it inserts,
 * so a request that comes back for the flow can find it without any shared state.
 *
 * The token is signed with a cluster secret (HMAC-SHA256, truncated) under a key derived per node,
 * so it cannot be forged, and a token minted by one node is worthless on another. It names the
 * node that holds the flow and the flow itself; a flow id is never reused, so a token cannot be
 * replayed onto a later connection from the same address.
 *
 * Wire form (URI-user safe, RFC 3261 unreserved characters only): `<payload-b64url>.<mac-b64url>`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { ownCopy } from '../message/own-copy.js';

export type FlowTransport = 'udp' | 'tcp' | 'tls' | 'ws' | 'wss';

export interface FlowRef {
  /** Id of the node holding the flow; verification fails on any other node. */
  node: string;
  transport: FlowTransport;
  /** Remote address of the flow as the node sees it. */
  host: string;
  port: number;
  /** Connection or flow identifier unique on that node; '' for connectionless UDP. */
  flow: string;
}

export type FlowTokenError = 'malformed' | 'bad-signature' | 'other-node';

const MAC_BYTES = 12;
const SEP = '|';

export class FlowTokenCodec {
  readonly #keys: Buffer[];
  readonly #node: string;
  /**
   * Tokens are deterministic, and the same few are signed and checked again and again (a flow's
   * Path on every refresh, its Record-Route on every call, each request a core sends back down):
   * an HMAC each time was ~2 % of an edge's CPU. Only tokens that verified are remembered, so
   * forged ones cannot fill the table; both tables are bounded.
   */
  readonly #encoded = new Map<string, string>();
  readonly #verified = new Map<string, { readonly ok: true; readonly ref: FlowRef }>();

  /**
   * @param secrets cluster secrets, newest first: tokens are signed with the first and accepted with any,
   *   so a secret can be rotated without dropping live flows.
   * @param node this node's id.
   */
  constructor(secrets: readonly string[], node: string) {
    if (secrets.length === 0 || secrets.some((s) => s.length < 16)) {
      throw new TypeError('flow-token secrets must be at least 16 characters each, and at least one is required');
    }
    if (node.includes(SEP)) throw new TypeError(`node id must not contain '${SEP}'`);
    this.#node = node;
    this.#keys = secrets.map((s) => createHmac('sha256', s).update('sipflow-flow-token:' + node).digest());
  }

  get node(): string {
    return this.#node;
  }

  encode(ref: Omit<FlowRef, 'node'>): string {
    const text = [this.#node, ref.transport, ref.host, String(ref.port), ref.flow].join(SEP);
    const known = this.#encoded.get(text);
    if (known !== undefined) return known;
    const payload = Buffer.from(text, 'utf8');
    const mac = createHmac('sha256', this.#keys[0]!).update(payload).digest().subarray(0, MAC_BYTES);
    const token = payload.toString('base64url') + '.' + mac.toString('base64url');
    remember(this.#encoded, text, token);
    return token;
  }

  /** Never throws: a token that is not ours, not well-formed or not signed by a current secret is an error value. */
  decode(token: string): { ok: true; ref: FlowRef } | { ok: false; error: FlowTokenError } {
    const known = this.#verified.get(token);
    if (known !== undefined) return known;
    const dot = token.indexOf('.');
    if (dot <= 0 || dot !== token.lastIndexOf('.') || token.length > 1024) return { ok: false, error: 'malformed' };
    const payload = Buffer.from(token.slice(0, dot), 'base64url');
    const mac = Buffer.from(token.slice(dot + 1), 'base64url');
    if (mac.length !== MAC_BYTES || payload.length === 0) return { ok: false, error: 'malformed' };
    const fields = payload.toString('utf8').split(SEP);
    if (fields.length !== 5) return { ok: false, error: 'malformed' };
    const [node, transport, host, portText, flow] = fields as [string, string, string, string, string];
    if (node !== this.#node) {
      // Checked before the MAC on purpose: the key is per node, so the MAC could not verify anyway,
      // and callers want to tell "forged" from "meant for a sibling node".
      return { ok: false, error: 'other-node' };
    }
    let valid = false;
    for (const key of this.#keys) {
      const expected = createHmac('sha256', key).update(payload).digest().subarray(0, MAC_BYTES);
      if (timingSafeEqual(expected, mac)) valid = true;
    }
    if (!valid) return { ok: false, error: 'bad-signature' };
    const port = Number(portText);
    if (!isTransport(transport) || !Number.isInteger(port) || port < 0 || port > 65535) return { ok: false, error: 'malformed' };
    const result = Object.freeze({ ok: true as const, ref: Object.freeze({ node, transport, host, port, flow }) });
    // Copied: a token read from a message is a slice of its whole text, which the key would keep.
    remember(this.#verified, ownCopy(token), result);
    return result;
  }

  /** Reads the node id out of a token without verifying it (to route a request to the node that can). */
  static peekNode(token: string): string | undefined {
    const dot = token.indexOf('.');
    if (dot <= 0 || token.length > 1024) return undefined;
    const text = Buffer.from(token.slice(0, dot), 'base64url').toString('utf8');
    const sep = text.indexOf(SEP);
    return sep > 0 ? text.slice(0, sep) : undefined;
  }
}

const REMEMBERED = 4096;

/** Adds to a bounded table, dropping the oldest entry when full. */
function remember<V>(table: Map<string, V>, key: string, value: V): void {
  if (table.size >= REMEMBERED) table.delete(table.keys().next().value as string);
  table.set(key, value);
}

function isTransport(t: string): t is FlowTransport {
  return t === 'udp' || t === 'tcp' || t === 'tls' || t === 'ws' || t === 'wss';
}
