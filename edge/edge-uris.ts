/**
 * The URIs this edge writes into messages and how it recognises them when they come back: Path for
 * REGISTER (RFC 3327), the double Record-Route of a dialog (RFC 5658 style, one URI per side), and
 * the flow token in the user part (RFC 5626 §5.2). Pure functions; the edge's addresses are passed in.
 */
import type { SipUri } from '../sip/grammar/uri.js';
import type { SipRequest } from '../sip/message/model.js';

export interface Endpoint {
  host: string;
  port: number;
}

/** Where this edge can be reached, as written into URIs (advertised, not necessarily bound, addresses). */
export interface EdgeIdentity {
  /** Core-facing address (UDP, and TCP on the same port when coreTransport is tcp); also the node id cores route on. */
  udp: Endpoint;
  /** How the edge and the cores reach each other; written into Path, Record-Route and Via. Default udp. */
  coreTransport?: CoreTransport;
  ws?: Endpoint;
  wss?: Endpoint;
}

export type CoreTransport = 'udp' | 'tcp';

/** IPv6 literals go in brackets inside a URI (RFC 3261 §19.1.1 IPv6reference). */
export function uriHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

function bare(host: string): string {
  return (host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host).toLowerCase();
}

/**
 * RFC 3327 §5.2 / RFC 5626 §5.2: the Path a first-hop edge adds to a REGISTER. The flow token in
 * the user part brings requests for this registration back to this connection; `ob` tells the
 * registrar the edge supports outbound, and is only added when the UA asked for it.
 */
export function pathUri(token: string, id: EdgeIdentity, outbound: boolean): string {
  return `<sip:${token}@${uriHost(id.udp.host)}:${id.udp.port};transport=${id.coreTransport ?? 'udp'};lr${outbound ? ';ob' : ''}>`;
}

/** The core-facing Record-Route: what the far end's route set reaches the edge by. */
export function coreSideRecordRoute(id: EdgeIdentity): string {
  return `<sip:${uriHost(id.udp.host)}:${id.udp.port};transport=${id.coreTransport ?? 'udp'};lr>`;
}

/**
 * The WebSocket-facing Record-Route: first in the browser's route set, and carrying the flow token
 * so a request the far end sends in the dialog finds the browser's connection (RFC 7118 §5, and
 * RFC 5626 §5.3 for `ob`: requests in this dialog must use this flow).
 */
export function wsSideRecordRoute(token: string, transport: 'ws' | 'wss', at: Endpoint): string {
  return `<sip:${token}@${uriHost(at.host)}:${at.port};transport=${transport};lr;ob>`;
}

/** True when a Route URI points at this edge (any of its sides); the port must match, defaulting per RFC 3261 §19.1.2. */
export function namesThisEdge(uri: SipUri, id: EdgeIdentity): boolean {
  if (uri.scheme !== 'sip' && uri.scheme !== 'sips') return false;
  const host = bare(uri.host);
  const candidates: Array<[Endpoint | undefined, number]> = [
    [id.udp, 5060],
    [id.ws, 5060],
    [id.wss, 5061],
  ];
  for (const [ep, defaultPort] of candidates) {
    if (ep && bare(ep.host) === host && (uri.port ?? defaultPort) === ep.port) return true;
  }
  return false;
}

/**
 * RFC 5626 §5.1: the UA supports outbound when it says so in Supported, or registers a Contact
 * with reg-id (which only an outbound UA sends).
 */
export function wantsOutbound(request: SipRequest): boolean {
  if (request.values('Supported').some((v) => v.trim().toLowerCase() === 'outbound')) return true;
  try {
    const contacts = request.contacts;
    return contacts !== '*' && contacts.some((c) => c.params.has('reg-id'));
  } catch {
    return false;
  }
}

/** Methods whose out-of-dialog request may create a dialog (RFC 3261 INVITE, RFC 6665 SUBSCRIBE/NOTIFY, RFC 3515 REFER). */
const DIALOG_CREATING = new Set(['INVITE', 'SUBSCRIBE', 'REFER', 'NOTIFY']);

/** Record-Route matters only on a request that can create a dialog and is not inside one yet. */
export function isDialogCreating(request: SipRequest): boolean {
  if (!DIALOG_CREATING.has(request.method)) return false;
  return !request.to.params.has('tag');
}
