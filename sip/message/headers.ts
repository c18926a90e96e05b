/**
 * Header names: canonical spelling, compact forms (RFC 3261 §7.3.3 and later RFCs) and which
 * headers are comma-separated lists (RFC 3261 §7.3.1). Everything here is table look-ups; the
 * parser calls headerKey() once per header line, so it is memoised.
 */

/** Canonical spellings of the headers we know. Anything else keeps the spelling it came with. */
const CANONICAL_NAMES = [
  'Accept', 'Accept-Contact', 'Accept-Encoding', 'Accept-Language', 'Accept-Resource-Priority',
  'Alert-Info', 'Allow', 'Allow-Events', 'Answer-Mode', 'Authentication-Info', 'Authorization',
  'Call-ID', 'Call-Info', 'Contact', 'Content-Disposition', 'Content-Encoding', 'Content-ID',
  'Content-Language', 'Content-Length', 'Content-Type', 'CSeq', 'Date', 'Diversion', 'Error-Info',
  'Event', 'Expires', 'Feature-Caps', 'From', 'Flow-Timer', 'Geolocation', 'History-Info', 'Identity',
  'Identity-Info', 'In-Reply-To', 'Info-Package', 'Max-Breadth', 'Max-Forwards', 'MIME-Version',
  'Min-Expires', 'Min-SE', 'Organization', 'P-Access-Network-Info', 'P-Asserted-Identity',
  'P-Associated-URI', 'P-Called-Party-ID', 'P-Charging-Vector', 'P-Preferred-Identity',
  'P-Visited-Network-ID', 'Path', 'Priority', 'Priv-Answer-Mode', 'Privacy', 'Proxy-Authenticate',
  'Proxy-Authorization', 'Proxy-Require', 'RAck', 'Reason', 'Record-Route', 'Recv-Info',
  'Refer-Sub', 'Refer-To', 'Referred-By', 'Reject-Contact', 'Replaces', 'Reply-To',
  'Request-Disposition', 'Require', 'Resource-Priority', 'Retry-After', 'Route', 'RSeq',
  'Security-Client', 'Security-Server', 'Security-Verify', 'Server', 'Service-Route',
  'Session-Expires', 'SIP-ETag', 'SIP-If-Match', 'Subject', 'Subscription-State', 'Supported',
  'Target-Dialog', 'Timestamp', 'To', 'Unsupported', 'User-Agent', 'Via', 'Warning',
  'WWW-Authenticate',
] as const;

/** Compact form → canonical name (RFC 3261 §7.3.3; RFC 3265, 3515, 3841, 3892, 4028, 4474). */
export const COMPACT_FORMS: ReadonlyMap<string, string> = new Map([
  ['a', 'Accept-Contact'],
  ['b', 'Referred-By'],
  ['c', 'Content-Type'],
  ['d', 'Request-Disposition'],
  ['e', 'Content-Encoding'],
  ['f', 'From'],
  ['i', 'Call-ID'],
  ['j', 'Reject-Contact'],
  ['k', 'Supported'],
  ['l', 'Content-Length'],
  ['m', 'Contact'],
  ['o', 'Event'],
  ['r', 'Refer-To'],
  ['s', 'Subject'],
  ['t', 'To'],
  ['u', 'Allow-Events'],
  ['v', 'Via'],
  ['x', 'Session-Expires'],
  ['y', 'Identity'],
]);

/**
 * Headers whose grammar is `#element` (RFC 3261 §7.3.1): several lines may be joined with commas
 * and a comma-joined line may be split. The authentication headers are deliberately absent: their
 * values contain commas between auth-params and a line is one challenge or one credential.
 */
const LIST_HEADERS = new Set([
  'accept', 'accept-contact', 'accept-encoding', 'accept-language', 'accept-resource-priority',
  'alert-info', 'allow', 'allow-events', 'call-info', 'contact', 'content-encoding',
  'content-language', 'diversion', 'error-info', 'feature-caps', 'geolocation', 'history-info',
  'in-reply-to', 'p-asserted-identity', 'p-associated-uri', 'p-preferred-identity', 'path',
  'proxy-require', 'reason', 'record-route', 'recv-info', 'reject-contact', 'request-disposition',
  'require', 'resource-priority', 'route', 'security-client', 'security-server', 'security-verify',
  'service-route', 'supported', 'unsupported', 'via', 'warning',
]);

/** Headers whose elements are name-addr / addr-spec with header parameters. */
const NAME_ADDR_HEADERS = new Set([
  'contact', 'diversion', 'from', 'history-info', 'p-asserted-identity', 'p-associated-uri',
  'p-called-party-id', 'p-preferred-identity', 'path', 'record-route', 'refer-to', 'referred-by',
  'reply-to', 'route', 'service-route', 'to',
]);

/** Headers a message may carry at most once (RFC 3261 §7.3.1: not a list, so no second line). */
const SINGLETON_HEADERS = new Set([
  'call-id', 'content-length', 'content-type', 'cseq', 'from', 'max-forwards', 'to',
]);

/** lower-case long name → canonical spelling */
const CANONICAL_BY_KEY = new Map<string, string>();
for (const name of CANONICAL_NAMES) CANONICAL_BY_KEY.set(name.toLowerCase(), name);

const COMPACT_BY_KEY = new Map<string, string>();
for (const [letter, name] of COMPACT_FORMS) COMPACT_BY_KEY.set(name.toLowerCase(), letter);

/**
 * Spelling as written → key. Pre-filled with the spellings real stacks send so the parser's
 * look-up is one Map hit; grows with what it meets, but only up to KEY_CACHE_MAX so a peer
 * sending random header names cannot grow it without bound.
 */
const KEY_CACHE = new Map<string, string>();
const KEY_CACHE_MAX = 4096;

function computeKey(name: string): string {
  const lower = name.toLowerCase();
  if (lower.length === 1) {
    const long = COMPACT_FORMS.get(lower);
    if (long !== undefined) return long.toLowerCase();
  }
  return lower;
}

for (const name of CANONICAL_BY_KEY.values()) {
  KEY_CACHE.set(name, name.toLowerCase());
  KEY_CACHE.set(name.toLowerCase(), name.toLowerCase());
}
for (const [letter, name] of COMPACT_FORMS) {
  KEY_CACHE.set(letter, name.toLowerCase());
  KEY_CACHE.set(letter.toUpperCase(), name.toLowerCase());
}
// Spellings seen in the wild that differ from the canonical one.
for (const name of ['Call-Id', 'CALL-ID', 'Cseq', 'CSEQ', 'Www-Authenticate', 'Mime-Version', 'Sip-Etag', 'Sip-If-Match', 'Rack', 'Rseq', 'Min-Se']) {
  KEY_CACHE.set(name, computeKey(name));
}

/**
 * The lookup key of a header: its long name in lower case ('v' → 'via', 'Call-Id' → 'call-id').
 * Two names denote the same header exactly when their keys are equal.
 */
export function headerKey(name: string): string {
  let key = KEY_CACHE.get(name);
  if (key === undefined) {
    key = computeKey(name);
    if (KEY_CACHE.size < KEY_CACHE_MAX) KEY_CACHE.set(name, key);
  }
  return key;
}

/**
 * Canonical spelling: compact forms expanded, known headers spelled as in their RFC ('call-id' →
 * 'Call-ID', 'cseq' → 'CSeq'). Unknown headers are returned unchanged: their spelling is the
 * sender's business and we forward it as it came.
 */
export function canonicalHeaderName(name: string): string {
  return CANONICAL_BY_KEY.get(headerKey(name)) ?? name;
}

/** The compact form of a header, if it has one ('Via' → 'v'). */
export function compactFormOf(name: string): string | undefined {
  return COMPACT_BY_KEY.get(headerKey(name));
}

export function isListHeader(name: string): boolean {
  return LIST_HEADERS.has(headerKey(name));
}

export function isNameAddrHeader(name: string): boolean {
  return NAME_ADDR_HEADERS.has(headerKey(name));
}

export function isSingletonHeader(name: string): boolean {
  return SINGLETON_HEADERS.has(headerKey(name));
}

/** Keys (see headerKey) of headers a request must carry (RFC 3261 §8.1.1). Max-Forwards is tolerated when absent. */
export const MANDATORY_REQUEST_KEYS = ['via', 'to', 'from', 'call-id', 'cseq'] as const;
/** Keys of headers a response must carry (RFC 3261 §8.2.6.2). */
export const MANDATORY_RESPONSE_KEYS = ['via', 'to', 'from', 'call-id', 'cseq'] as const;

/**
 * Spellings that arrive in nearly every message: the parser recognises them in the message text
 * without slicing the name out, and then uses these constant, already-hashed strings as name and key.
 */
const COMMON_SPELLINGS: string[] = [
  ...CANONICAL_NAMES, 'From', 'Call-Id', 'Cseq', 'CSEQ', 'call-id', 'cseq', 'via', 'to', 'from', 'contact',
  'max-forwards', 'content-length', 'content-type', 'route', 'record-route', 'expires', 'supported',
  'allow', 'user-agent', 'authorization', 'Www-Authenticate',
  ...[...COMPACT_FORMS.keys()], ...[...COMPACT_FORMS.keys()].map((k) => k.toUpperCase()),
];

/** A header spelling known in advance, with its key. */
export interface KnownSpelling {
  readonly name: string;
  readonly key: string;
}

/**
 * Table of known spellings by a slot computed from a name's length and its first and last
 * characters, so the parser finds the one candidate without looking at the other characters,
 * then verifies it with startsWith (native, cheaper than a character loop).
 */
const SLOT_MASK = 1023;
const SPELLINGS_BY_SLOT: (KnownSpelling[] | undefined)[] = new Array(SLOT_MASK + 1).fill(undefined);

function slot(length: number, first: number, last: number): number {
  return (length * 61 + first * 31 + last) & SLOT_MASK;
}

for (const sp of new Set(COMMON_SPELLINGS)) {
  const i = slot(sp.length, sp.charCodeAt(0), sp.charCodeAt(sp.length - 1));
  (SPELLINGS_BY_SLOT[i] ??= []).push({ name: sp, key: computeKey(sp) });
}

/** The known spelling equal to s[start, end), if it is a common one; undefined otherwise. */
export function knownSpelling(s: string, start: number, end: number): KnownSpelling | undefined {
  const length = end - start;
  if (length <= 0) return undefined;
  const bucket = SPELLINGS_BY_SLOT[slot(length, s.charCodeAt(start), s.charCodeAt(end - 1))];
  if (bucket === undefined) return undefined;
  for (let i = 0; i < bucket.length; i++) {
    const sp = bucket[i]!;
    if (sp.name.length === length && s.startsWith(sp.name, start)) return sp;
  }
  return undefined;
}
