/**
 * The location service, shaped for Cassandra: everything is partitioned by AOR, a binding is one
 * row keyed inside its AOR, and expiry is a TTL so nothing ever needs sweeping. The memory and the
 * Cassandra implementations both satisfy this interface and run the same test suite.
 */

export interface Binding {
  /** Canonical address of record: 'sip:user@domain' (lower-case host, no params). */
  aor: string;
  /** Key of this binding inside its AOR: `instance + ';' + regId` for outbound, else the contact URI. */
  key: string;
  /** The Contact URI as the UA registered it (no header params). */
  contact: string;
  /** +sip.instance value without the surrounding quotes and angle brackets, e.g. 'urn:uuid:...'. */
  instance?: string;
  /** RFC 5626 reg-id. */
  regId?: number;
  /** 0..1; 1 when the UA gave none. */
  q: number;
  /** Path header values, top first: the pre-loaded Route set towards this contact. */
  path: string[];
  /** Transport address the REGISTER arrived from, e.g. 'udp:192.0.2.1:5060' (RFC 3581 received/rport). */
  received?: string;
  callId: string;
  cseq: number;
  userAgent?: string;
  /** Absolute expiry, ms since the epoch. */
  expiresAt: number;
  /** When the binding was first created for this Call-ID (keeps temp-GRUUs verifiable). */
  createdAt: number;
}

export interface Subscriber {
  user: string;
  domain: string;
  /** HA1 = H(user:realm:password) for MD5 and SHA-256 (RFC 8760); realm is the domain. */
  ha1Md5: string;
  ha1Sha256: string;
}

export interface LocationStore {
  /** Live bindings of an AOR (expired ones filtered out even if the backend still has them). */
  lookup(aor: string): Promise<Binding[]>;
  /**
   * Writes bindings (insert or overwrite by key; TTL from expiresAt) and deletes the given keys of
   * one AOR. Each binding is its own row, so two cores refreshing different bindings of one AOR
   * never overwrite each other.
   */
  update(aor: string, upsert: Binding[], removeKeys: string[]): Promise<void>;
  /** Deletes every binding of an AOR. */
  removeAll(aor: string): Promise<void>;
  getSubscriber(user: string, domain: string): Promise<Subscriber | undefined>;
  putSubscriber(subscriber: Subscriber): Promise<void>;
  /** Readiness probe: resolves when the backend can serve. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Store failures carry this class so the registrar can answer 500/503 with Retry-After, not hang. */
export class LocationStoreError extends Error {
  readonly code = 'SIPFLOW_STORE_UNAVAILABLE';
  constructor(message: string, readonly retryAfterSeconds = 5, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LocationStoreError';
  }
}
