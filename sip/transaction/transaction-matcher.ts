/**
 * The transaction tables and the matching rules: responses to client transactions (§17.1.3 plus the
 * §18.1.2 sent-by check), requests to server transactions (§17.2.3, both the magic-cookie rule and
 * the RFC 2543 fallback), and CANCEL to the INVITE it cancels (§9.2).
 *
 * Parsed header accessors may throw SipParseError on malformed input; callers catch.
 */
import type { SipUri } from '../grammar/uri.js';
import { uriEquals } from '../grammar/uri.js';
import type { SipRequest, SipResponse } from '../message/model.js';
import type { ClientTransaction } from './client-transaction.js';
import type { ServerInviteTransaction } from './server-invite-transaction.js';
import type { ServerTransaction } from './server-transaction.js';
import { branchOf, cancelTargetKey, clientKey, sentBy, serverKey, viaIdentity } from './transaction-key.js';

/** The fields RFC 2543 matching compares, captured when the transaction is created. */
interface LegacyRecord {
  tx: ServerTransaction;
  bucket: string;
  method: string;
  requestUri: SipUri;
  toTag: string | undefined;
  via: string;
}

function tagOf(params: Map<string, string | null>): string | undefined {
  return params.get('tag') ?? undefined;
}

/** Call-ID, CSeq number and From tag: equal for every request of one RFC 2543 transaction, ACK and CANCEL included. */
function legacyBucket(request: SipRequest): string {
  return `${request.callId}\u0000${request.cseq.seq}\u0000${tagOf(request.from.params) ?? ''}`;
}

export class TransactionMatcher {
  readonly #clients = new Map<string, ClientTransaction>();
  readonly #servers = new Map<string, ServerTransaction>();
  readonly #legacy = new Map<string, LegacyRecord[]>();
  readonly #legacyByTx = new Map<ServerTransaction, LegacyRecord>();
  #legacySeq = 0;

  get clientCount(): number {
    return this.#clients.size;
  }

  get serverCount(): number {
    return this.#servers.size + this.#legacyByTx.size;
  }

  /** The key a client transaction for this request gets; undefined without a top Via branch. */
  static clientKeyFor(request: SipRequest): string | undefined {
    const branch = branchOf(request.topVia);
    return branch === undefined ? undefined : clientKey(branch, request.method);
  }

  /**
   * The id a new server transaction for this request gets: its §17.2.3 key, or for an RFC 2543
   * request a unique id (those are found through the field-by-field records instead).
   */
  serverIdFor(request: SipRequest, key: string | undefined = serverKey(request.topVia, request.method)): string {
    return key ?? `rfc2543 ${legacyBucket(request).replaceAll('\u0000', ' ')} ${request.method} #${++this.#legacySeq}`;
  }

  hasClient(id: string): boolean {
    return this.#clients.has(id);
  }

  addClient(tx: ClientTransaction): void {
    this.#clients.set(tx.id, tx);
  }

  removeClient(tx: ClientTransaction): void {
    if (this.#clients.get(tx.id) === tx) this.#clients.delete(tx.id);
  }

  /** `keyed`: the transaction's id is its §17.2.3 key (see serverIdFor); otherwise it is matched the RFC 2543 way. */
  addServer(tx: ServerTransaction, keyed: boolean = serverKey(tx.request.topVia, tx.request.method) !== undefined): void {
    const request = tx.request;
    if (keyed) {
      this.#servers.set(tx.id, tx);
      return;
    }
    const via = request.topVia;
    const record: LegacyRecord = {
      tx,
      bucket: legacyBucket(request),
      method: request.method,
      requestUri: request.uri,
      toTag: tagOf(request.to.params),
      via: via ? viaIdentity(via) : '',
    };
    const list = this.#legacy.get(record.bucket);
    if (list) list.push(record);
    else this.#legacy.set(record.bucket, [record]);
    this.#legacyByTx.set(tx, record);
  }

  removeServer(tx: ServerTransaction): void {
    if (this.#servers.get(tx.id) === tx) {
      this.#servers.delete(tx.id);
      return;
    }
    const record = this.#legacyByTx.get(tx);
    if (!record) return;
    this.#legacyByTx.delete(tx);
    const list = this.#legacy.get(record.bucket);
    if (!list) return;
    const rest = list.filter((r) => r !== record);
    if (rest.length) this.#legacy.set(record.bucket, rest);
    else this.#legacy.delete(record.bucket);
  }

  /**
   * §17.1.3: "1. If the response has the same value of the branch parameter in the top Via header
   * field as the branch parameter in the top Via header field of the request that created the
   * transaction. 2. If the method parameter in the CSeq header field matches the method of the
   * request that created the transaction." Plus §18.1.2: the sent-by must be the one we inserted,
   * so a colliding branch from elsewhere is not taken for ours.
   */
  matchResponse(response: SipResponse): ClientTransaction | undefined {
    const via = response.topVia;
    const branch = branchOf(via);
    if (!via || branch === undefined) return undefined;
    const tx = this.#clients.get(clientKey(branch, response.cseq.method));
    if (!tx) return undefined;
    const ours = tx.request.topVia;
    return ours && sentBy(ours) === sentBy(via) ? tx : undefined;
  }

  /**
   * §17.2.3. With a magic-cookie branch: "1. the branch parameter in the request is equal to the
   * one in the top Via header field of the request that created the transaction, and 2. the sent-by
   * value in the top Via of the request is equal to the one in the request that created the
   * transaction, and 3. the method of the request matches the one that created the transaction,
   * except for ACK, where the method of the request that created the transaction is INVITE."
   * Without one, the RFC 2543 rules (legacyMatch).
   */
  matchRequest(request: SipRequest, key: string | undefined = serverKey(request.topVia, request.method)): ServerTransaction | undefined {
    if (key !== undefined) return this.#servers.get(key);
    return this.#legacyMatch(request, request.method === 'ACK' ? 'ack' : 'same-method');
  }

  /**
   * §9.2: "the CANCEL is matched to the transaction [...] using the transaction matching procedures
   * of Section 17.2.3" with the method INVITE: the INVITE server transaction being cancelled.
   */
  matchCancel(cancel: SipRequest): ServerInviteTransaction | undefined {
    const key = cancelTargetKey(cancel.topVia);
    const tx = key !== undefined ? this.#servers.get(key) : this.#legacyMatch(cancel, 'cancel');
    return tx?.kind === 'server-invite' ? (tx as ServerInviteTransaction) : undefined;
  }

  /**
   * RFC 2543 fallback (§17.2.3): "The INVITE request matches a transaction if the Request-URI, To
   * tag, From tag, Call-ID, CSeq, and top Via header field match those of the INVITE request which
   * created the transaction. [...] The ACK request matches a transaction if the Request-URI, From
   * tag, Call-ID, CSeq number (not the method), and top Via header field match those of the INVITE
   * request which created the transaction, and the To tag of the ACK matches the To tag of the
   * response sent by the server transaction. [...] For all other request methods, a request is
   * matched to a transaction if the Request-URI, To tag, From tag, Call-ID, CSeq (including the
   * method), and top Via header field match those of the request that created the transaction."
   */
  #legacyMatch(request: SipRequest, mode: 'same-method' | 'ack' | 'cancel'): ServerTransaction | undefined {
    const list = this.#legacy.get(legacyBucket(request));
    if (!list) return undefined;
    const topVia = request.topVia;
    const via = topVia ? viaIdentity(topVia) : '';
    const toTag = tagOf(request.to.params);
    for (const r of list) {
      if (r.via !== via) continue;
      if (mode === 'same-method') {
        if (r.method !== request.method || r.toTag !== toTag) continue;
      } else {
        if (r.method !== 'INVITE') continue;
        // For ACK the To tag is the one we answered with; a CANCEL carries the INVITE's own To.
        const expected = mode === 'ack' ? r.tx.responseToTag : r.toTag;
        if (expected !== toTag) continue;
      }
      if (!uriEquals(r.requestUri, request.uri)) continue;
      return r.tx;
    }
    return undefined;
  }

  /** Every live transaction (for shutdown). */
  *all(): IterableIterator<ClientTransaction | ServerTransaction> {
    yield* this.#clients.values();
    yield* this.#servers.values();
    yield* this.#legacyByTx.keys();
  }
}
