/**
 * Small pure helpers for proxies (RFC 3261 §16, RFC 3581, RFC 3327). No I/O: each takes a message
 * or a header value and returns or writes text.
 */
import { createHash } from 'node:crypto';
import type { SipMessageBase, SipRequest } from './model.js';
import type { Via } from '../grammar/via.js';
import type { NameAddr } from '../grammar/name-addr.js';
import { MAGIC_COOKIE, formatVia, parseVia } from '../grammar/via.js';
import { randomToken } from './factory.js';
import { parseNameAddrList, formatNameAddr } from '../grammar/name-addr.js';

export { MAGIC_COOKIE };

/**
 * A branch: always starts with the magic cookie (RFC 3261 §8.1.1.7). Random when no seed is
 * given; with a seed, a hash of it, so a stateless proxy produces the same branch for a
 * retransmission (§16.11) and loop detection can compare branches (§16.6 step 8, §16.3 step 4).
 */
export function generateBranch(seed?: string): string {
  if (seed === undefined) return MAGIC_COOKIE + randomToken(16);
  return MAGIC_COOKIE + createHash('sha1').update(seed).digest('base64url').slice(0, 22);
}

/**
 * Seed for a stateless proxy's branch (RFC 3261 §16.11): equal for retransmissions of a request
 * and for the CANCEL or non-2xx ACK of an INVITE (they share the top Via branch and Request-URI),
 * different for a spiral that changed the Request-URI. For a pre-RFC 3261 top Via (no cookie), the
 * §16.6 step 8 ingredients are used instead.
 */
export function statelessBranchSeed(req: SipRequest): string {
  const top = req.topVia;
  const branch = top?.params.get('branch');
  if (branch && branch.startsWith(MAGIC_COOKIE)) return branch + '|' + top!.host + ':' + (top!.port ?? '') + '|' + req.uriText;
  return [
    req.to.params.get('tag') ?? '', req.from.params.get('tag') ?? '', req.callId, String(req.cseq.seq),
    req.uriText, req.get('via') ?? '',
  ].join('|');
}

export interface AddViaOptions {
  transport: string;
  host: string;
  port?: number;
  branch: string;
  /** Add an empty rport parameter (RFC 3581 §3) so the next hop reports our source port. */
  rport?: boolean;
}

/** Pushes our Via on top (RFC 3261 §16.6 step 8) and returns it. */
export function addVia(msg: SipMessageBase, opts: AddViaOptions): Via {
  const via: Via = { protocol: 'SIP/2.0', transport: opts.transport.toUpperCase(), host: opts.host, params: new Map() };
  if (opts.port !== undefined) via.port = opts.port;
  via.params.set('branch', opts.branch);
  if (opts.rport === true) via.params.set('rport', null);
  msg.prepend('Via', formatVia(via));
  return via;
}

function bareHost(host: string): string {
  const h = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return h.toLowerCase();
}

/**
 * RFC 3261 §18.2.1: "If the host portion of the 'sent-by' field contains a domain name, or if it
 * contains an IP address that differs from the packet source address, the server MUST add a
 * 'received' parameter to that Via header field value." RFC 3581 §4: when rport is present the
 * server "MUST set the value of the parameter to the source port of the request" and "MUST insert
 * a 'received' parameter ... even if it is identical to the value of the 'sent-by' component".
 *
 * Given a Via, changes it in place and returns it. Given a message, rewrites its top Via (only
 * when something changed) and returns the new top Via, or undefined when there is none.
 */
export function applyReceived(via: Via, sourceIp: string, sourcePort: number): Via;
export function applyReceived(msg: SipMessageBase, sourceIp: string, sourcePort: number): Via | undefined;
export function applyReceived(target: Via | SipMessageBase, sourceIp: string, sourcePort: number): Via | undefined {
  if ('headers' in target) {
    const top = target.topVia;
    if (top === undefined) return undefined;
    const copy: Via = { ...top, params: new Map(top.params) };
    if (!applyToVia(copy, sourceIp, sourcePort)) return top;
    target.removeFirstValue('Via');
    target.prepend('Via', formatVia(copy));
    return copy;
  }
  applyToVia(target, sourceIp, sourcePort);
  return target;
}

function applyToVia(via: Via, sourceIp: string, sourcePort: number): boolean {
  const ip = bareHost(sourceIp);
  let changed = false;
  const hasRport = via.params.has('rport');
  if (hasRport || bareHost(via.host) !== ip) {
    if (via.params.get('received') !== ip) {
      via.params.set('received', ip);
      changed = true;
    }
  }
  if (hasRport && via.params.get('rport') !== String(sourcePort)) {
    via.params.set('rport', String(sourcePort));
    changed = true;
  }
  return changed;
}

/**
 * RFC 3261 §16.6 step 3: "If the copy contains a Max-Forwards header field, the proxy MUST
 * decrement its value by one (1). If the copy does not contain a Max-Forwards header field, the
 * proxy MUST add one with a field value, which SHOULD be 70." Returns the new value, or null
 * when the value was already 0 (then §16.3 step 3 applies: answer 483 Too Many Hops; the message
 * is left alone). Throws SipParseError when the header is malformed.
 */
export function decrementMaxForwards(msg: SipMessageBase, initial = 70): number | null {
  const mf = msg.maxForwards;
  if (mf === undefined) {
    msg.set('Max-Forwards', String(initial));
    return initial;
  }
  if (mf === 0) return null;
  msg.set('Max-Forwards', String(mf - 1));
  return mf - 1;
}

/**
 * RFC 3261 §16.4: "If the first value in the Route header field indicates this proxy, the proxy
 * MUST remove that value from the request." Returns the removed route, or undefined when the top
 * Route is absent or not ours.
 */
export function popRouteIfMatches(msg: SipMessageBase, isOurs: (route: NameAddr) => boolean): NameAddr | undefined {
  const routes = msg.routes;
  const top = routes[0];
  if (top === undefined || !isOurs(top)) return undefined;
  msg.removeFirstValue('Route');
  return top;
}

/**
 * RFC 3261 §16.4 (strict-routing previous hop): "If the Request-URI contains a value this proxy
 * previously placed into a Record-Route header field, the proxy MUST replace the Request-URI in the
 * request with the last value from the Route header field, and remove that value from the Route
 * header field." Returns true when it did so.
 */
export function restoreStrictRoute(req: SipRequest, isOurRecordRoute: (uri: SipRequest['uri']) => boolean): boolean {
  if (!isOurRecordRoute(req.uri)) return false;
  const routeLines = req.getAll('Route');
  if (routeLines.length === 0) return false;
  const all: NameAddr[] = [];
  for (const line of routeLines) parseNameAddrList(line, all);
  const last = all.pop();
  if (last === undefined) return false;
  req.uri = last.uri;
  req.remove('Route');
  for (const na of all) req.append('Route', formatNameAddr(na));
  return true;
}

function angle(uriText: string): string {
  const t = uriText.trim();
  return t.startsWith('<') || t.includes('<') ? t : '<' + t + '>';
}

/** Adds our Record-Route on top (RFC 3261 §16.6 step 4); include ';lr' in uriText for loose routing. */
export function prependRecordRoute(msg: SipMessageBase, uriText: string): void {
  msg.prepend('Record-Route', angle(uriText));
}

/** Adds our Path on top (RFC 3327 §5.2: a proxy "inserts a Path header field value ... at the top"). */
export function addPath(msg: SipMessageBase, uriText: string): void {
  msg.prepend('Path', angle(uriText));
}

/** True when a Via's branch carries the RFC 3261 magic cookie. */
export function isRfc3261Branch(via: Via): boolean {
  const b = via.params.get('branch');
  return typeof b === 'string' && b.startsWith(MAGIC_COOKIE);
}

/** Reads all Via values of a raw header line list (for code holding strings, not messages). */
export function parseViaLines(lines: readonly string[]): Via[] {
  const out: Via[] = [];
  for (const l of lines) parseVia(l, out);
  return out;
}
