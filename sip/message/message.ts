/**
 * Request and Response: the message model behind the SipRequest / SipResponse contract.
 *
 * Header fields are kept as the strings that arrived (name spelling included) and parsed only when
 * somebody asks: the parsed value is cached per header and the cache entry of a header is dropped
 * whenever that header is mutated through set/append/prepend/remove/removeFirstValue. Parsed
 * values are snapshots: changing a returned Via or NameAddr object does not change the message;
 * write the new text back with set()/prepend() (proxy-helpers.ts does this for the usual cases).
 * The one exception is the Request-URI, which a proxy rewrites often: `uri` may be assigned, and
 * in-place changes to the object it returns are also noticed when the message is serialised.
 */
import { isAscii } from 'node:buffer';
import type { CSeq, HeaderField, SipMessageBase, SipRequest, SipResponse } from './model.js';
import type { SipUri } from '../grammar/uri.js';
import type { NameAddr } from '../grammar/name-addr.js';
import type { Via } from '../grammar/via.js';
import { SipParseError } from './errors.js';
import { canonicalHeaderName, headerKey, isListHeader, isNameAddrHeader } from './headers.js';
import { parseCSeq, parseUintHeader } from './header-values.js';
import { findTopLevelComma, splitList } from '../grammar/list.js';
import { TOKEN } from '../grammar/chars.js';
import { formatUri, parseUri } from '../grammar/uri.js';
import { parseNameAddr, parseNameAddrList, parseNameAddrListRange, parseNameAddrRange } from '../grammar/name-addr.js';
import { parseVia, parseViaRange } from '../grammar/via.js';

/**
 * A header field line plus its lookup key (see headerKey): what the message stores. Fields do not
 * change once the parser has built them (a message edits its list, never a field in it), so copies
 * of a message share them.
 */
export class Field implements HeaderField {
  readonly name: string;
  /** headerKey(name), computed once. */
  readonly key: string;
  /** The value; for a field read from the wire, sliced out of src on first use. */
  #value: string | undefined;
  /**
   * The parsed message text and the value's place in it, for fields read from the wire (not for
   * added or folded ones): the grammar parsers scan the value in place, which is faster than
   * scanning a sliced-out copy, and values nobody reads are never sliced. Dropped when the value
   * is assigned.
   */
  src: string | undefined;
  start: number;
  end: number;

  constructor(name: string, value: string | undefined, key: string, src?: string, start = 0, end = 0) {
    this.name = name;
    this.key = key;
    this.#value = value;
    this.src = src;
    this.start = start;
    this.end = end;
  }

  get value(): string {
    return (this.#value ??= this.src!.slice(this.start, this.end));
  }

  set value(value: string) {
    this.#value = value;
    this.src = undefined;
  }

  /** Logs and JSON show the header, not the message text it points into. */
  toJSON(): HeaderField {
    return { name: this.name, value: this.value };
  }

  [Symbol.for('nodejs.util.inspect.custom')](): HeaderField {
    return this.toJSON();
  }
}

function viasOf(f: Field, out: Via[]): Via[] {
  return f.src !== undefined ? parseViaRange(f.src, f.start, f.end, out) : parseVia(f.value, out);
}

function nameAddrOf(f: Field): NameAddr {
  return f.src !== undefined ? parseNameAddrRange(f.src, f.start, f.end) : parseNameAddr(f.value);
}

function nameAddrListOf(f: Field, out: NameAddr[]): NameAddr[] {
  return f.src !== undefined ? parseNameAddrListRange(f.src, f.start, f.end, out) : parseNameAddrList(f.value, out);
}

/** What the constructors accept as headers. */
export type HeaderInit = Iterable<HeaderField | readonly [string, string]>;

const EMPTY_BODY = Buffer.alloc(0);

/** A clone owns its body bytes; an empty body has none to own. */
function copyBody(body: Buffer): Buffer {
  return body.length === 0 ? EMPTY_BODY : Buffer.from(body);
}

const SKELETON_KEYS = new Set(['via', 'from', 'to', 'call-id', 'cseq']);

/** Passed by the parser so the constructor adopts its Field array without copying or checking. */
const ADOPT: unique symbol = Symbol('adopt');

function checkName(name: string): void {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c > 127 || TOKEN[c] === 0) throw new TypeError(`invalid SIP header name: ${JSON.stringify(name)}`);
  }
  if (name.length === 0) throw new TypeError('empty SIP header name');
}

/**
 * CR, LF or NUL in a value would let it inject header lines. Three native character searches, not
 * a regular expression or a loop: values built by the registrar (Contact with GRUUs, Path) run to
 * hundreds of characters, and for a 361-character Contact the searches take 25 ns where
 * /[\r\n\0]/ took 167.
 */
function checkValue(value: string): void {
  if (typeof value !== 'string') throw new TypeError('SIP header value must be a string');
  if (value.indexOf('\r') >= 0 || value.indexOf('\n') >= 0 || value.indexOf('\0') >= 0) {
    throw new TypeError('SIP header value contains CR, LF or NUL');
  }
}

function toFields(init: HeaderInit | undefined): Field[] {
  const out: Field[] = [];
  if (init === undefined) return out;
  for (const h of init) {
    // A field of another message is checked already (the parser or a set() built it) and never
    // changes: the new message shares it.
    if (h instanceof Field) {
      out.push(h);
      continue;
    }
    const name = Array.isArray(h) ? (h as readonly [string, string])[0] : (h as HeaderField).name;
    const value = Array.isArray(h) ? (h as readonly [string, string])[1] : (h as HeaderField).value;
    checkName(name);
    checkValue(value);
    out.push(new Field(name, value, headerKey(name)));
  }
  return out;
}

function isLatin1(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0xff) return false;
  return true;
}

/** Rethrows a grammar error with the header named and a reason phrase naming it. */
function headerError(e: unknown, header: string): never {
  if (e instanceof SipParseError) {
    if (e.header === header) throw e;
    throw new SipParseError(e.code, `Bad ${header} Header`, header);
  }
  throw e;
}

let primeCache: (m: Message, key: string, value: unknown) => void;
let markLatin1: (m: Message) => void;

/**
 * Internal: lets the parser store values it already parsed (CSeq) and mark a header section that
 * was not UTF-8. Not part of the public API.
 */
export function _primeCache(m: Message, key: string, value: unknown): void {
  primeCache(m, key, value);
}
export function _markLatin1(m: Message): void {
  markLatin1(m);
}

export abstract class Message implements SipMessageBase {
  abstract readonly kind: 'request' | 'response';
  body: Buffer;
  #fields: Field[];
  // Parsed values of the hot headers have their own slots; the rest go in #cache by key.
  #vias: Via[] | undefined = undefined;
  #topVia: Via | undefined = undefined;
  #from: NameAddr | undefined = undefined;
  #to: NameAddr | undefined = undefined;
  #cseq: CSeq | undefined = undefined;
  #contacts: NameAddr[] | '*' | undefined = undefined;
  #cache: Map<string, unknown> | undefined = undefined;
  /**
   * The header section arrived as bytes that are not UTF-8 and was read one char per byte; it is
   * written back the same way so unknown bytes survive a relay unchanged.
   */
  #latin1 = false;

  static {
    primeCache = (m, key, value) => m.#store(key, value);
    markLatin1 = (m) => {
      m.#latin1 = true;
    };
  }

  protected constructor(fields: Field[], body: Buffer) {
    this.#fields = fields;
    this.body = body;
  }

  /** The start line without CRLF. */
  abstract startLine(): string;

  get headers(): readonly HeaderField[] {
    return this.#fields;
  }

  // ---- raw header access -------------------------------------------------------------------

  get(name: string): string | undefined {
    const key = headerKey(name);
    const fields = this.#fields;
    for (let i = 0; i < fields.length; i++) if (fields[i]!.key === key) return fields[i]!.value;
    return undefined;
  }

  getAll(name: string): string[] {
    const key = headerKey(name);
    const out: string[] = [];
    for (const f of this.#fields) if (f.key === key) out.push(f.value);
    return out;
  }

  /** List headers are split on top-level commas; other headers give one element per line. */
  values(name: string): string[] {
    const key = headerKey(name);
    const list = isListHeader(key);
    const out: string[] = [];
    for (const f of this.#fields) {
      if (f.key !== key) continue;
      if (list) splitList(f.value, out);
      else out.push(f.value);
    }
    return out;
  }

  has(name: string): boolean {
    const key = headerKey(name);
    for (const f of this.#fields) if (f.key === key) return true;
    return false;
  }

  set(name: string, value: string): void {
    checkName(name);
    checkValue(value);
    const key = headerKey(name);
    const fields = this.#fields;
    const first = fields.findIndex((f) => f.key === key);
    if (first < 0) {
      fields.push(new Field(canonicalHeaderName(name), value, key));
    } else {
      // Keep the spelling the message already uses for this header (a compact form stays compact).
      fields[first] = new Field(fields[first]!.name, value, key);
      for (let i = fields.length - 1; i > first; i--) if (fields[i]!.key === key) fields.splice(i, 1);
    }
    this.#invalidate(key);
  }

  append(name: string, value: string): void {
    checkName(name);
    checkValue(value);
    const key = headerKey(name);
    const fields = this.#fields;
    let last = -1;
    for (let i = 0; i < fields.length; i++) if (fields[i]!.key === key) last = i;
    const field = new Field(canonicalHeaderName(name), value, key);
    if (last < 0) fields.push(field);
    else fields.splice(last + 1, 0, field);
    this.#invalidate(key);
  }

  prepend(name: string, value: string): void {
    checkName(name);
    checkValue(value);
    const key = headerKey(name);
    const fields = this.#fields;
    const first = fields.findIndex((f) => f.key === key);
    const field = new Field(canonicalHeaderName(name), value, key);
    if (first < 0) fields.push(field);
    else fields.splice(first, 0, field);
    this.#invalidate(key);
  }

  remove(name: string): number {
    const key = headerKey(name);
    const before = this.#fields.length;
    this.#fields = this.#fields.filter((f) => f.key !== key);
    const removed = before - this.#fields.length;
    if (removed > 0) this.#invalidate(key);
    return removed;
  }

  removeFirstValue(name: string): string | undefined {
    const key = headerKey(name);
    const fields = this.#fields;
    const list = isListHeader(key);
    for (let idx = 0; idx < fields.length; idx++) {
      const f = fields[idx]!;
      if (f.key !== key) continue;
      if (!list) {
        fields.splice(idx, 1);
        this.#invalidate(key);
        return f.value;
      }
      // Drop empty leading elements (", a") the way values() ignores them.
      let rest = f.value;
      for (;;) {
        const comma = findTopLevelComma(rest);
        const first = (comma < 0 ? rest : rest.slice(0, comma)).trim();
        rest = comma < 0 ? '' : rest.slice(comma + 1).trim();
        if (first.length > 0 || rest.length === 0) {
          if (rest.length === 0) fields.splice(idx, 1);
          else fields[idx] = new Field(f.name, rest, key);
          this.#invalidate(key);
          if (first.length > 0) return first;
          idx--; // the field was removed; look at the next one
          break;
        }
      }
    }
    return undefined;
  }

  // ---- parsed, cached accessors --------------------------------------------------------------

  #store(key: string, value: unknown): void {
    if (key === 'cseq') this.#cseq = value as CSeq;
    else (this.#cache ??= new Map()).set(key, value);
  }

  #invalidate(key: string): void {
    switch (key) {
      case 'via':
        this.#vias = undefined;
        this.#topVia = undefined;
        return;
      case 'from':
        this.#from = undefined;
        return;
      case 'to':
        this.#to = undefined;
        return;
      case 'cseq':
        this.#cseq = undefined;
        return;
      case 'contact':
        this.#contacts = undefined;
        return;
      default:
        this.#cache?.delete(key);
    }
  }

  #firstField(key: string): Field | undefined {
    const fields = this.#fields;
    for (let i = 0; i < fields.length; i++) if (fields[i]!.key === key) return fields[i];
    return undefined;
  }

  #required(key: string): Field {
    const f = this.#firstField(key);
    if (f === undefined) {
      const name = canonicalHeaderName(key);
      throw new SipParseError('MISSING_HEADER', `Missing ${name} Header`, name);
    }
    return f;
  }

  get vias(): Via[] {
    let vias = this.#vias;
    if (vias === undefined) {
      vias = [];
      for (const f of this.#fields) if (f.key === 'via') viasOf(f, vias);
      this.#vias = vias;
    }
    return vias;
  }

  /** Parses only the first Via line, so a proxy routing a response need not parse the others. */
  get topVia(): Via | undefined {
    if (this.#vias !== undefined) return this.#vias[0];
    let top = this.#topVia;
    if (top === undefined) {
      const f = this.#firstField('via');
      if (f === undefined) return undefined;
      top = viasOf(f, [])[0];
      this.#topVia = top;
    }
    return top;
  }

  #nameAddr(key: 'from' | 'to'): NameAddr {
    const f = this.#required(key);
    try {
      return nameAddrOf(f);
    } catch (e) {
      headerError(e, key === 'from' ? 'From' : 'To');
    }
  }

  get from(): NameAddr {
    return (this.#from ??= this.#nameAddr('from'));
  }

  get to(): NameAddr {
    return (this.#to ??= this.#nameAddr('to'));
  }

  get callId(): string {
    const value = this.#required('call-id').value;
    if (value.length === 0) throw new SipParseError('BAD_HEADER', 'Bad Call-ID Header', 'Call-ID');
    return value;
  }

  get cseq(): CSeq {
    return (this.#cseq ??= parseCSeq(this.#required('cseq').value));
  }

  get maxForwards(): number | undefined {
    const f = this.#firstField('max-forwards');
    return f === undefined ? undefined : parseUintHeader(f.value, 'Max-Forwards');
  }

  get contacts(): NameAddr[] | '*' {
    let contacts = this.#contacts;
    if (contacts === undefined) {
      const list: NameAddr[] = [];
      let star = false;
      let lines = 0;
      for (const f of this.#fields) {
        if (f.key !== 'contact') continue;
        lines++;
        if (f.value === '*') {
          star = true;
          continue;
        }
        try {
          nameAddrListOf(f, list);
        } catch (e) {
          headerError(e, 'Contact');
        }
      }
      // RFC 3261 §10.2.2: the wildcard is only valid alone.
      if (star && (lines > 1 || list.length > 0)) {
        throw new SipParseError('BAD_NAME_ADDR', 'Bad Contact Header', 'Contact');
      }
      contacts = star ? '*' : list;
      this.#contacts = contacts;
    }
    return contacts;
  }

  #nameAddrList(key: string): NameAddr[] {
    let list = this.#cache?.get(key) as NameAddr[] | undefined;
    if (list === undefined) {
      list = [];
      for (const f of this.#fields) {
        if (f.key !== key) continue;
        try {
          nameAddrListOf(f, list);
        } catch (e) {
          headerError(e, canonicalHeaderName(key));
        }
      }
      this.#store(key, list);
    }
    return list;
  }

  get routes(): NameAddr[] {
    return this.#nameAddrList('route');
  }

  get recordRoutes(): NameAddr[] {
    return this.#nameAddrList('record-route');
  }

  /** Path (RFC 3327), top first. */
  get paths(): NameAddr[] {
    return this.#nameAddrList('path');
  }

  /** Content-Length as received; undefined when absent (toBuffer() writes the real length). */
  get contentLength(): number | undefined {
    const f = this.#firstField('content-length');
    return f === undefined ? undefined : parseUintHeader(f.value, 'Content-Length');
  }

  /** Expires header (RFC 3261 §20.19) as seconds; undefined when absent. */
  get expires(): number | undefined {
    const f = this.#firstField('expires');
    return f === undefined ? undefined : parseUintHeader(f.value, 'Expires', 0xffffffff);
  }

  /** Media type of the body, lower-cased, without parameters ('application/sdp'); undefined when absent. */
  get contentType(): string | undefined {
    const v = this.get('content-type');
    if (v === undefined) return undefined;
    const semi = v.indexOf(';');
    return (semi < 0 ? v : v.slice(0, semi)).trim().toLowerCase();
  }

  /**
   * The parsed value of any header, for code that does not know which header it holds: Via[] for
   * Via, NameAddr / NameAddr[] / '*' for address headers, CSeq, a number for the numeric headers,
   * string[] for other list headers, and the raw string (first line) for the rest; undefined when
   * absent. Throws SipParseError when the header is malformed.
   */
  parsedValue(name: string): unknown {
    const key = headerKey(name);
    if (!this.has(key)) return undefined;
    switch (key) {
      case 'via': return this.vias;
      case 'from': return this.from;
      case 'to': return this.to;
      case 'call-id': return this.callId;
      case 'cseq': return this.cseq;
      case 'contact': return this.contacts;
      case 'max-forwards': return this.maxForwards;
      case 'content-length': return this.contentLength;
      case 'expires': return this.expires;
      case 'min-expires':
      case 'rseq':
        return parseUintHeader(this.get(key)!, canonicalHeaderName(key), 0xffffffff);
      default:
        break;
    }
    if (isNameAddrHeader(key)) return this.#nameAddrList(key);
    if (isListHeader(key)) {
      let list = this.#cache?.get(key) as string[] | undefined;
      if (list === undefined) {
        list = this.values(key);
        this.#store(key, list);
      }
      return list;
    }
    return this.get(key);
  }

  // ---- copying and serialising ---------------------------------------------------------------

  protected cloneFields(): Field[] {
    return this.#fields.slice();
  }

  /**
   * The Via, From, To, Call-ID and CSeq lines only (see skeleton()).
   * @param lead text to store in front of the values (the Request-URI or reason phrase), returned
   *   as `lead` sliced from the same new string.
   */
  protected skeletonFields(lead: string): { fields: Field[]; lead: string } {
    const kept = this.#fields.filter((f) => SKELETON_KEYS.has(f.key));
    // Everything goes into one new string: slices of the received text would keep all of it alive.
    const text = [lead, ...kept.map((f) => f.value)].join('\n');
    const out = new Array<Field>(kept.length);
    let pos = lead.length + 1;
    for (let i = 0; i < kept.length; i++) {
      const f = kept[i]!;
      const end = pos + f.value.length;
      out[i] = new Field(f.name, undefined, f.key, text, pos, end);
      pos = end + 1;
    }
    return { fields: out, lead: text.slice(0, lead.length) };
  }

  protected copyEncodingTo(other: Message): void {
    other.#latin1 = this.#latin1;
  }

  abstract clone(): this;

  /**
   * A copy with the start line and only the headers that identify the message's transaction and
   * that a response copies (RFC 3261 §8.2.6.2, §17.1.3, §17.2.3): Via, From, To, Call-ID, CSeq; no
   * body. What a transaction keeps while it only waits out retransmissions: a parsed REGISTER
   * with its caches is several KiB, and at thousands per second held for 64*T1 that is what the
   * garbage collector spends its time on.
   */
  abstract skeleton(): this;

  /**
   * The skeleton (see skeleton()) as message text in one new string: what a transaction keeps
   * while it waits, one object instead of a parsed message with a field object per header, parsed
   * again only if something asks for it. undefined for a message read byte for byte because it was
   * not UTF-8: its text form would not give back the same bytes.
   */
  skeletonText(): string | undefined {
    if (this.#latin1) return undefined;
    const parts = [this.startLine()];
    for (const f of this.#fields) if (SKELETON_KEYS.has(f.key)) parts.push(f.name + ': ' + f.value);
    parts.push('', '');
    // join() copies into a new string: nothing of the received text stays referenced.
    return parts.join('\r\n');
  }

  /** Start line and headers, ending with the empty line; Content-Length set from the body. */
  #head(): string {
    const bodyLength = this.body.length;
    let head = this.startLine() + '\r\n';
    let sawLength = false;
    const fields = this.#fields;
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      if (f.key === 'content-length') {
        if (sawLength) continue;
        sawLength = true;
        head += f.name + ': ' + bodyLength + '\r\n';
      } else {
        head += f.name + ': ' + f.value + '\r\n';
      }
    }
    if (!sawLength) head += 'Content-Length: ' + bodyLength + '\r\n';
    return head + '\r\n';
  }

  toBuffer(): Buffer {
    const head = this.#head();
    const encoding: BufferEncoding = this.#latin1 && isLatin1(head) ? 'latin1' : 'utf8';
    const body = this.body;
    const headLength = Buffer.byteLength(head, encoding);
    const out = Buffer.allocUnsafe(headLength + body.length);
    out.write(head, 0, encoding);
    if (body.length > 0) body.copy(out, headLength);
    return out;
  }

  toText(): string | undefined {
    if (this.#latin1) return undefined;
    const body = this.body;
    if (body.length === 0) return this.#head();
    // An ASCII body reads back as the same bytes; anything else might not (a lone byte ≥ 0x80).
    return isAscii(body) ? this.#head() + body.toString('latin1') : undefined;
  }

  toString(): string {
    return this.#head() + this.body.toString('utf8');
  }
}

export class Request extends Message implements SipRequest {
  readonly kind = 'request' as const;
  method: string;
  #uriText: string;
  #uri: SipUri | undefined;
  /** formatUri(#uri) when #uri was produced, to notice in-place changes to the object. */
  #uriFormatted: string | undefined;

  constructor(method: string, uri: string | SipUri, headers?: HeaderInit, body?: Buffer);
  /** @internal used by the parser */
  constructor(method: string, uri: string, headers: Field[], body: Buffer, adopt: typeof ADOPT);
  constructor(method: string, uri: string | SipUri, headers?: HeaderInit | Field[], body?: Buffer, adopt?: typeof ADOPT) {
    super(adopt === ADOPT ? (headers as Field[]) : toFields(headers as HeaderInit | undefined), body ?? EMPTY_BODY);
    if (adopt !== ADOPT) {
      checkName(method);
    }
    this.method = method;
    if (typeof uri === 'string') {
      if (adopt !== ADOPT && (uri.length === 0 || /[\s\0]/.test(uri))) throw new TypeError('invalid Request-URI text');
      this.#uriText = uri;
    } else {
      this.#uriText = formatUri(uri);
      this.#uri = uri;
      this.#uriFormatted = this.#uriText;
    }
  }

  /** @internal */
  static _adopt(method: string, uriText: string, fields: Field[], body: Buffer): Request {
    return new Request(method, uriText, fields, body, ADOPT);
  }

  get uri(): SipUri {
    if (this.#uri === undefined) {
      let uri: SipUri;
      try {
        uri = parseUri(this.#uriText);
      } catch (e) {
        headerError(e, 'Request-URI');
      }
      this.#uri = uri;
      this.#uriFormatted = formatUri(uri);
    }
    return this.#uri;
  }

  set uri(uri: SipUri) {
    this.#uri = uri;
    this.#uriText = formatUri(uri);
    this.#uriFormatted = this.#uriText;
  }

  get uriText(): string {
    if (this.#uri !== undefined) {
      const now = formatUri(this.#uri);
      if (now !== this.#uriFormatted) {
        this.#uriText = now;
        this.#uriFormatted = now;
      }
    }
    return this.#uriText;
  }

  /** Sets the Request-URI from text (parsed lazily, like a received one). */
  setUriText(text: string): void {
    if (text.length === 0 || /[\s\0]/.test(text)) throw new TypeError('invalid Request-URI text');
    this.#uriText = text;
    this.#uri = undefined;
    this.#uriFormatted = undefined;
  }

  startLine(): string {
    return this.method + ' ' + this.uriText + ' SIP/2.0';
  }

  clone(): this {
    const copy = new Request(this.method, this.uriText, this.cloneFields(), copyBody(this.body), ADOPT);
    this.copyEncodingTo(copy);
    return copy as this;
  }

  skeleton(): this {
    const { fields, lead: uriText } = this.skeletonFields(this.uriText);
    const copy = new Request(this.method, uriText, fields, EMPTY_BODY, ADOPT);
    this.copyEncodingTo(copy);
    return copy as this;
  }
}

export class Response extends Message implements SipResponse {
  readonly kind = 'response' as const;
  status: number;
  reason: string;

  constructor(status: number, reason: string, headers?: HeaderInit, body?: Buffer);
  /** @internal used by the parser */
  constructor(status: number, reason: string, headers: Field[], body: Buffer, adopt: typeof ADOPT);
  constructor(status: number, reason: string, headers?: HeaderInit | Field[], body?: Buffer, adopt?: typeof ADOPT) {
    super(adopt === ADOPT ? (headers as Field[]) : toFields(headers as HeaderInit | undefined), body ?? EMPTY_BODY);
    if (adopt !== ADOPT) {
      if (!Number.isInteger(status) || status < 100 || status > 699) throw new RangeError(`invalid SIP status ${status}`);
      checkValue(reason);
    }
    this.status = status;
    this.reason = reason;
  }

  /** @internal */
  static _adopt(status: number, reason: string, fields: Field[], body: Buffer): Response {
    return new Response(status, reason, fields, body, ADOPT);
  }

  startLine(): string {
    return 'SIP/2.0 ' + this.status + ' ' + this.reason;
  }

  clone(): this {
    const copy = new Response(this.status, this.reason, this.cloneFields(), copyBody(this.body), ADOPT);
    this.copyEncodingTo(copy);
    return copy as this;
  }

  skeleton(): this {
    const { fields, lead: reason } = this.skeletonFields(this.reason);
    const copy = new Response(this.status, reason, fields, EMPTY_BODY, ADOPT);
    this.copyEncodingTo(copy);
    return copy as this;
  }
}

export function isRequest(m: SipMessageBase & { kind: string }): m is Request {
  return m.kind === 'request';
}
