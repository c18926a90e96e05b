/**
 * The contract of the SIP message model. Everything above the parser (transactions, transports,
 * proxy, registrar, edge) codes against these types only, so the parser can stay lazy: a header's
 * value is parsed the first time somebody asks for it, and a proxy that only touches Via, Route,
 * To, From, Call-ID, CSeq, Max-Forwards and Contact never pays for the rest.
 */
import type { SipUri } from '../grammar/uri.js';
import type { NameAddr } from '../grammar/name-addr.js';
import type { Via } from '../grammar/via.js';

/** One header field line as it arrived (or was added). `name` keeps its original spelling. */
export interface HeaderField {
  name: string;
  value: string;
}

export interface CSeq {
  seq: number;
  method: string;
}

export interface SipMessageBase {
  /** Header fields in wire order. Mutate only through the methods below so parsed caches stay right. */
  readonly headers: readonly HeaderField[];
  body: Buffer;

  /** First field value for a header, matched case-insensitively and by compact form ("v" = "Via"). */
  get(name: string): string | undefined;
  /** Every field value of a header, in order, one per header line (not split on commas). */
  getAll(name: string): string[];
  /** Every element of a list header (Via, Route, Contact, Supported, ...): lines split on top-level commas. */
  values(name: string): string[];
  has(name: string): boolean;
  /** Replaces every field of this header with one field. */
  set(name: string, value: string): void;
  /** Adds a field after the last field of this header (or at the end). */
  append(name: string, value: string): void;
  /** Adds a field before the first field of this header (or at the end if there is none): how Via and Record-Route grow. */
  prepend(name: string, value: string): void;
  /** Removes every field of this header; returns how many were removed. */
  remove(name: string): number;
  /** Removes the first element of a list header (top Via, top Route), splitting a comma-joined line if needed. */
  removeFirstValue(name: string): string | undefined;

  /** Parsed accessors; throw SipParseError when the header is present but malformed. */
  readonly vias: Via[];
  readonly topVia: Via | undefined;
  readonly from: NameAddr;
  readonly to: NameAddr;
  readonly callId: string;
  readonly cseq: CSeq;
  /** undefined when absent */
  readonly maxForwards: number | undefined;
  /** '*' for a wildcard Contact (REGISTER); [] when absent. */
  readonly contacts: NameAddr[] | '*';
  readonly routes: NameAddr[];
  readonly recordRoutes: NameAddr[];

  /** A deep copy whose later mutation does not affect this message. */
  clone(): this;
  /** A copy with only the start line, Via, From, To, Call-ID and CSeq (what a waiting transaction keeps). */
  skeleton(): this;
  /** The skeleton as message text; undefined when the message was not UTF-8 (see Message.skeletonText). */
  skeletonText(): string | undefined;
  /** Wire form; Content-Length is set from the body. */
  toBuffer(): Buffer;
  /**
   * The wire form as text whose UTF-8 encoding is exactly toBuffer(), or undefined when there is
   * none (a body that is not ASCII, a message read byte for byte because it was not UTF-8).
   */
  toText(): string | undefined;
  toString(): string;
}

export interface SipRequest extends SipMessageBase {
  readonly kind: 'request';
  method: string;
  /** Request-URI; parsed lazily, assignable. */
  uri: SipUri;
  /** The Request-URI text as received or last assigned. */
  readonly uriText: string;
}

export interface SipResponse extends SipMessageBase {
  readonly kind: 'response';
  status: number;
  reason: string;
}

export type SipMessage = SipRequest | SipResponse;
