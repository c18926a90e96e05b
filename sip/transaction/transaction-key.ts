/**
 * Transaction keys (RFC 3261 §17.1.3, §17.2.3): strings that identify a transaction so matching is
 * one Map lookup. Only requests whose branch carries the RFC 3261 magic cookie get a key; older
 * (RFC 2543) requests are matched field by field in transaction-matcher.ts.
 */
import { MAGIC_COOKIE, type Via } from '../grammar/via.js';
import { unbracket } from '../transport/response-target.js';
import { defaultPort, protocolFromVia } from '../transport/transport.js';

/** "The branch ID inserted by an element compliant with this specification MUST always begin with the characters "z9hG4bK"." */
export { MAGIC_COOKIE };

export function branchOf(via: Via | undefined): string | undefined {
  const b = via?.params.get('branch');
  return b === null || b === undefined || b === '' ? undefined : b;
}

export function isRfc3261Branch(branch: string | undefined): branch is string {
  return branch !== undefined && branch.startsWith(MAGIC_COOKIE) && branch.length > MAGIC_COOKIE.length;
}

/** sent-by as host:port with the port defaulted, so "a.example" and "a.example:5060" compare equal. */
export function sentBy(via: Via): string {
  const protocol = protocolFromVia(via.transport) ?? 'udp';
  return `${unbracket(via.host).toLowerCase()}:${via.port ?? defaultPort(protocol)}`;
}

/**
 * Client side, §17.1.3: the branch of the top Via and the CSeq method ("the method is needed since a
 * CANCEL request constitutes a different transaction, but shares the same value of the branch
 * parameter"). Branch is a token, compared case-insensitively (§7.3.1).
 */
export function clientKey(branch: string, method: string): string {
  return flat([branch.toLowerCase(), ' ', method]);
}

/**
 * Server side, §17.2.3 rule 1: branch, sent-by, and method — "except for ACK, where the method of the
 * request that created the transaction is INVITE". Undefined without a magic-cookie branch.
 */
export function serverKey(via: Via | undefined, method: string): string | undefined {
  const branch = branchOf(via);
  if (!via || !isRfc3261Branch(branch)) return undefined;
  return flat([branch.toLowerCase(), ' ', sentBy(via), ' ', method === 'ACK' ? 'INVITE' : method]);
}

/**
 * A key is kept as long as its transaction (32 s for a non-INVITE server one on UDP). Concatenation
 * would make it a tree of string pieces, the branch a slice of the whole received message text;
 * join() writes one new flat string and keeps none of them.
 */
function flat(parts: string[]): string {
  return parts.join('');
}

/**
 * The key of the INVITE server transaction a CANCEL cancels (§9.2): the same branch and sent-by,
 * method INVITE.
 */
export function cancelTargetKey(via: Via | undefined): string | undefined {
  return serverKey(via, 'INVITE');
}

/**
 * A Via compared for RFC 2543 matching ("top Via header field match"): protocol, transport,
 * sent-by and parameters, ignoring received/rport which this hop stamped itself.
 */
export function viaIdentity(via: Via): string {
  const params = [...via.params.entries()]
    .filter(([name]) => name !== 'received' && name !== 'rport')
    .map(([name, value]) => (value === null ? name : `${name}=${value.toLowerCase()}`))
    .sort();
  return `${via.protocol.toUpperCase()}/${via.transport.toUpperCase()} ${sentBy(via)};${params.join(';')}`;
}
