/**
 * RFC 3261 §16.5 target determination against the location store, with GRUU (RFC 5627 §7) and
 * Outbound (RFC 5626 §5.3) rules: a GRUU reaches only its instance; an instance registered over
 * several flows (reg-ids) gets ONE branch, the newest flow first, with the others kept as
 * alternates for when that flow fails (430, timeout, transport error).
 */
import type { Binding } from '../location/location-store.js';
import { callIdHash, type TempGruuClaims } from '../registrar/gruu.js';

export interface Target {
  /** New Request-URI: the registered contact. */
  uri: string;
  /** Pre-loaded Route set: the binding's Path. */
  routes: string[];
  q: number;
  binding: Binding;
  /** Other flows of the same instance, to try in order if this one fails. */
  alternates: Target[];
}

function toTarget(b: Binding): Target {
  return { uri: b.contact, routes: b.path, q: b.q, binding: b, alternates: [] };
}

/** Groups flows per instance; bindings without an instance are targets of their own. */
export function targetsFromBindings(bindings: Binding[], now: number): Target[] {
  const live = bindings.filter((b) => b.expiresAt > now);
  const perInstance = new Map<string, Binding[]>();
  const out: Target[] = [];
  for (const b of live) {
    if (b.instance === undefined) {
      out.push(toTarget(b));
      continue;
    }
    const list = perInstance.get(b.instance) ?? [];
    list.push(b);
    perInstance.set(b.instance, list);
  }
  for (const flows of perInstance.values()) {
    // Newest registration first: the flow a UA refreshed most recently is the one most likely alive.
    flows.sort((a, b) => b.expiresAt - a.expiresAt || (a.regId ?? 0) - (b.regId ?? 0));
    const [first, ...rest] = flows.map(toTarget);
    first!.alternates = rest;
    first!.q = Math.max(...flows.map((f) => f.q));
    out.push(first!);
  }
  return out;
}

/** §16.6 + RFC 3261 §16.5 "q-value ... in order": parallel within a q group, groups tried highest q first. */
export function groupByQ(targets: Target[]): Target[][] {
  const groups = new Map<number, Target[]>();
  for (const t of targets) {
    const g = groups.get(t.q) ?? [];
    g.push(t);
    groups.set(t.q, g);
  }
  return [...groups.entries()].sort((a, b) => b[0] - a[0]).map(([, g]) => g);
}

/** Bindings a pub-gruu (`;gr=<instance>`) reaches: only that instance. */
export function bindingsForPubGruu(bindings: Binding[], instance: string): Binding[] {
  return bindings.filter((b) => b.instance === instance);
}

/** A temp-gruu is valid only while a binding of its instance still carries the Call-ID it was minted for. */
export function bindingsForTempGruu(bindings: Binding[], claims: TempGruuClaims): Binding[] {
  const mine = bindings.filter((b) => b.instance === claims.instance);
  return mine.some((b) => callIdHash(b.callId) === claims.callIdHash) ? mine : [];
}
