/**
 * REGISTER processing as a pure function: given the request's contacts, the bindings the store
 * holds for the AOR and the registrar's policy, decide what to write and what to answer. No I/O,
 * so every RFC rule here is unit-tested without sockets or a store.
 */
import type { SipRequest } from '../../sip/message/model.js';
import type { NameAddr } from '../../sip/grammar/name-addr.js';
import { formatUri } from '../../sip/grammar/uri.js';
import type { Binding } from '../location/location-store.js';
import type { RegistrarError } from './registrar-error.js';
import { callIdHash, pubGruu, type TempGruuCodec } from './gruu.js';

export interface RegistrarPolicy {
  minExpires: number;
  maxExpires: number;
  defaultExpires: number;
  /** Seconds between keepalives we ask outbound UAs for (RFC 5626 Flow-Timer). */
  flowTimer: number;
  maxContactsPerAor: number;
}

export const DEFAULT_REGISTRAR_POLICY: RegistrarPolicy = {
  minExpires: 60,
  maxExpires: 3600,
  defaultExpires: 3600,
  flowTimer: 120,
  maxContactsPerAor: 16,
};

/** Who holds the UA's flow: an edge that understands outbound, an edge that doesn't, or this core. */
export type FirstHop = 'outbound-edge' | 'plain-edge' | 'self';

export interface RegisterInput {
  request: SipRequest;
  aor: string;
  domain: string;
  now: number;
  policy: RegistrarPolicy;
  firstHop: FirstHop;
  /** Path vector to store with new bindings, top first (already including this core's own entry when it is the first hop). */
  path: string[];
  /** Source of the REGISTER, 'udp:ip:port', for the binding's received column. */
  received?: string;
  existing: Binding[];
  tempGruus: TempGruuCodec;
}

export type RegisterDecision =
  | { ok: false; error: RegistrarError; minExpires?: number }
  | {
      ok: true;
      upsert: Binding[];
      removeKeys: string[];
      /** Bindings as they will be after the write: what the 200 OK lists. */
      current: Binding[];
      outbound: boolean;
    };

function headerExpires(request: SipRequest): number | undefined | 'bad' {
  const text = request.get('Expires');
  if (text === undefined) return undefined;
  const trimmed = text.trim();
  if (!/^\d{1,10}$/.test(trimmed)) return 'bad';
  return Number(trimmed);
}

function unquoteInstance(value: string | null | undefined): string | undefined {
  if (!value) return undefined;
  const v = value.replace(/^"|"$/g, '').trim();
  const m = /^<(.+)>$/.exec(v);
  return m ? m[1] : v;
}

export function bindingKey(contactUri: string, instance: string | undefined, regId: number | undefined): string {
  if (instance !== undefined && regId !== undefined) return `${instance};${regId}`;
  if (instance !== undefined) return instance;
  return contactUri;
}

interface ParsedContact {
  uri: string;
  expires: number;
  q: number;
  instance?: string;
  regId?: number;
  key: string;
}

function parseContact(na: NameAddr, fallbackExpires: number): ParsedContact | 'bad' {
  const p = na.params;
  let expires = fallbackExpires;
  const e = p.get('expires');
  if (e !== undefined) {
    if (e === null || !/^\d{1,10}$/.test(e)) return 'bad';
    expires = Number(e);
  }
  let q = 1;
  const qText = p.get('q');
  if (qText !== undefined) {
    if (qText === null || !/^(0(\.\d{0,3})?|1(\.0{0,3})?)$/.test(qText)) return 'bad';
    q = Number(qText);
  }
  const instance = unquoteInstance(p.get('+sip.instance'));
  let regId: number | undefined;
  const r = p.get('reg-id');
  if (r !== undefined) {
    if (r === null || !/^\d{1,10}$/.test(r) || Number(r) === 0) return 'bad';
    regId = Number(r);
  }
  const uri = formatUri(na.uri);
  // RFC 5626 §6: reg-id without +sip.instance is ignored as outbound (treated as a plain contact).
  if (instance === undefined) regId = undefined;
  // Optional keys added only when present (absent, not undefined), without a spread's temporary objects.
  const c: ParsedContact = { uri, expires, q, key: bindingKey(uri, instance, regId) };
  if (instance !== undefined) c.instance = instance;
  if (regId !== undefined) c.regId = regId;
  return c;
}

export function decideRegister(input: RegisterInput): RegisterDecision {
  const { request, now, policy } = input;
  const live = input.existing.filter((b) => b.expiresAt > now);
  const hdrExpires = headerExpires(request);
  if (hdrExpires === 'bad') return { ok: false, error: 'bad-expires' };
  const callId = request.callId;
  const cseq = request.cseq.seq;
  let contacts: NameAddr[] | '*';
  try {
    contacts = request.contacts;
  } catch {
    return { ok: false, error: 'invalid-contact' };
  }

  // RFC 3261 §10.3 step 6: "*" is only valid alone, with Expires: 0; it removes every binding
  // except those where the Call-ID matches and the CSeq is not higher.
  if (contacts === '*') {
    if (hdrExpires !== 0 || request.getAll('Contact').length > 1) return { ok: false, error: 'wildcard-misuse' };
    for (const b of live) {
      if (b.callId === callId && cseq <= b.cseq) return { ok: false, error: 'out-of-order' };
    }
    return { ok: true, upsert: [], removeKeys: live.map((b) => b.key), current: [], outbound: false };
  }

  const fallback = hdrExpires ?? policy.defaultExpires;
  const parsed: ParsedContact[] = [];
  for (const na of contacts) {
    if (na.uri.scheme !== 'sip' && na.uri.scheme !== 'sips') return { ok: false, error: 'invalid-contact' };
    const c = parseContact(na, fallback);
    if (c === 'bad') return { ok: false, error: 'invalid-contact' };
    // §10.3 step 7: an interval shorter than we allow (but not 0, which means remove) → 423 with Min-Expires.
    if (c.expires !== 0 && c.expires < policy.minExpires) return { ok: false, error: 'interval-too-brief', minExpires: policy.minExpires };
    if (c.expires > policy.maxExpires) c.expires = policy.maxExpires;
    parsed.push(c);
  }

  const outbound = parsed.some((c) => c.regId !== undefined);
  // RFC 5626 §6: "If the registrar receives a REGISTER with reg-id ... and the first Path URI does
  // not contain 'ob' ... it MUST reject the request with a 439" — unless we hold the flow ourselves.
  if (outbound && input.firstHop === 'plain-edge') return { ok: false, error: 'first-hop-lacks-outbound' };

  // The AOR's bindings as they will be, in the store's order with new ones last (what a Map by key
  // gave). An array searched by key: an AOR holds a handful of bindings (maxContactsPerAor), and a
  // Map per REGISTER was the largest of the registrar's allocations. `live` is this call's own copy.
  const current = live;
  const upsert: Binding[] = [];
  const removeKeys: string[] = [];
  const userAgent = request.get('User-Agent');
  for (const c of parsed) {
    const at = indexOfKey(current, c.key);
    const old = at < 0 ? undefined : current[at];
    // §10.3 step 7: "If the binding does exist ... if the Call-ID is the same, the CSeq must be higher
    // ... If it is not, the registrar MUST ... abort the request" (out-of-order refresh).
    if (old && old.callId === callId && cseq <= old.cseq) return { ok: false, error: 'out-of-order' };
    if (c.expires === 0) {
      if (old) {
        removeKeys.push(c.key);
        current.splice(at, 1);
      }
      continue;
    }
    const binding: Binding = {
      aor: input.aor,
      key: c.key,
      contact: c.uri,
      q: c.q,
      path: input.path,
      callId,
      cseq,
      expiresAt: now + c.expires * 1000,
      createdAt: old && old.callId === callId ? old.createdAt : now,
    };
    if (c.instance !== undefined) binding.instance = c.instance;
    if (c.regId !== undefined) binding.regId = c.regId;
    if (input.received !== undefined) binding.received = input.received;
    if (userAgent !== undefined) binding.userAgent = userAgent.slice(0, 200);
    upsert.push(binding);
    if (old) current[at] = binding;
    else current.push(binding);
  }
  if (current.length > policy.maxContactsPerAor) return { ok: false, error: 'too-many-contacts' };
  return { ok: true, upsert, removeKeys, current, outbound };
}

function indexOfKey(bindings: readonly Binding[], key: string): number {
  for (let i = 0; i < bindings.length; i++) if (bindings[i]!.key === key) return i;
  return -1;
}

/** Contact header values for the 200 OK: every current binding with its remaining expiry and GRUUs. */
export function contactsForReply(
  current: Binding[],
  opts: { now: number; domain: string; gruu: boolean; tempGruus: TempGruuCodec },
): string[] {
  return current.map((b) => {
    const remaining = Math.max(0, Math.round((b.expiresAt - opts.now) / 1000));
    let v = `<${b.contact}>;expires=${remaining}`;
    if (b.q !== 1) v += `;q=${b.q}`;
    if (b.instance !== undefined) {
      v += `;+sip.instance="<${b.instance}>"`;
      if (b.regId !== undefined) v += `;reg-id=${b.regId}`;
      // RFC 5627 §5: only a UA that said Supported: gruu gets GRUUs back.
      if (opts.gruu) {
        const temp = opts.tempGruus.mint({ aor: b.aor, instance: b.instance, callIdHash: callIdHash(b.callId) });
        v += `;pub-gruu="${pubGruu(b.aor, b.instance)}";temp-gruu="sip:${temp}@${opts.domain};gr"`;
      }
    }
    return v;
  });
}
