/**
 * Per-call cost of small helpers every SIP message goes through on both roles: a labelled
 * HotCounter inc() (a node counts each message in and out), a random token as a branch used as a
 * Map key, and a response built with a Contact as long as a registrar's 200 carries (its header
 * values are checked for CR, LF and NUL), the framing of REGISTERs as a relay forwards them,
 * eight to a TCP read as they arrive between nodes under load, and the registrar's decision on such
 * a REGISTER (`decideRegister`, its binding already stored, as on every refresh), a temp-GRUU minted
 * for it, and the core's REGISTER duration observed in its histogram. With a baseline build
 * (SIPFLOW_HARNESS_BASELINE=<other checkout>/dist) the same calls of that build alternate with
 * these, round by round. Figures are ns per call, the median of the rounds.
 *
 *   npm run bench -- hot-paths     (SIPFLOW_HARNESS_COUNT calls per round: 2000000; _RUNS: 7)
 */
import { pathToFileURL } from 'node:url';
import { HotCounter } from '../../runtime/hot-counter.js';
import { randomToken } from '../../sip/message/factory.js';
import { Response } from '../../sip/message/message.js';
import { StreamParser } from '../../sip/message/stream-parser.js';
import { parseMessage } from '../../sip/message/parser.js';
import type { SipRequest } from '../../sip/message/model.js';
import { decideRegister, DEFAULT_REGISTRAR_POLICY } from '../../core/registrar/registration.js';
import { TempGruuCodec, callIdHash } from '../../core/registrar/gruu.js';
import { CoreMetrics } from '../../core/core-metrics.js';
import type { Binding } from '../../core/location/location-store.js';
import { envCount, importBuild, median } from '../harness/closed-loop.js';
import { FORWARDED_REGISTER_DOMAIN, forwardedRegister } from '../harness/forwarded-register.js';

interface Helpers {
  HotCounter: typeof HotCounter;
  randomToken: typeof randomToken;
  Response: typeof Response;
  StreamParser: typeof StreamParser;
  decideRegister: typeof decideRegister;
  TempGruuCodec: typeof TempGruuCodec;
  CoreMetrics: typeof CoreMetrics;
}

export interface HotPathFigures {
  /** inc() with two labels, one of them a string built per call as the nodes do, ns. */
  inc: number;
  /** randomToken(16). */
  token: number;
  /** A branch (cookie + token) set in a Map and deleted again. */
  branchKey: number;
  /** A 200 made with one Contact of a registrar's length (GRUUs, +sip.instance: 361 characters). */
  contact: number;
  /** One REGISTER (~1 KB, 15 header lines) framed out of a stream, not parsed (a relay's onFrame takes it). */
  frame: number;
  /** decideRegister on a relay-forwarded REGISTER (parsed beforehand) whose binding is stored: a refresh. */
  decide: number;
  /** TempGruuCodec.mint() of a urn:uuid instance's claims (the binary form), as every 200 to a REGISTER with +sip.instance has. */
  mint: number;
  /** The core's REGISTER duration histogram: one observe(). */
  observe: number;
}

const REGISTRAR_CONTACT =
  '<sip:ua17@abcdefghij.invalid;transport=ws;ob>;expires=600;+sip.instance="<urn:uuid:0b6f2d7e-1c2a-4f8e-9a3b-5d6c7e8f9a0b>";reg-id=1;' +
  'pub-gruu="sip:ua17@bench.example;gr=urn:uuid:0b6f2d7e-1c2a-4f8e-9a3b-5d6c7e8f9a0b";' +
  `temp-gruu="sip:tgruu.${'AbCdEfGhIjKlMnOpQrStUvWxYz0123456789'.repeat(3)}@bench.example;gr"`;

export interface HotPathResult {
  calls: number;
  runs: number;
  mine: HotPathFigures;
  baseline?: HotPathFigures;
}

function nsPerCall(calls: number, body: () => void): number {
  const started = process.hrtime.bigint();
  body();
  return Number(process.hrtime.bigint() - started) / calls;
}

function measure(h: Helpers, calls: number): HotPathFigures {
  const counter = new h.HotCounter({ name: 'bench_total', help: 'bench', labelNames: ['side', 'type'] as const, registers: [] });
  const keys = new Map<string, number>();
  // Distinct strings, as each REGISTER's Contact is: a value seen before may be cached by V8.
  const contacts = Array.from({ length: 64 }, (_, i) => REGISTRAR_CONTACT.replace('ua17', `ua${i}`));
  const reads = Array.from({ length: 8 }, (_, r) => Buffer.from(Array.from({ length: 8 }, (_, i) => forwardedRegister(r * 8 + i, r + 1, 'A'.repeat(54))).join('')));
  let framed = 0;
  const framer = new h.StreamParser({ onFrame: () => (framed++, true) });
  const refresh = refreshes();
  let decided = 0;
  const codec = new h.TempGruuCodec(['hot-paths-secret']);
  const claims = Array.from({ length: 64 }, (_, i) => ({
    aor: `sip:ua${i}@${FORWARDED_REGISTER_DOMAIN}`,
    instance: `urn:uuid:0b6f2d7e-1c2a-4f8e-9a3b-5d6c7e8f${(0x1000 + i).toString(16)}`,
    callIdHash: callIdHash(`ua${i}-harness`),
  }));
  let minted = 0;
  const histogram = new h.CoreMetrics().registerSeconds;
  return {
    inc: nsPerCall(calls, () => {
      for (let i = 0; i < calls; i++) counter.inc({ side: 'tcp', type: `${(i & 3) + 1}xx` });
    }),
    token: nsPerCall(calls, () => {
      for (let i = 0; i < calls; i++) h.randomToken(16);
    }),
    branchKey: nsPerCall(calls, () => {
      for (let i = 0; i < calls; i++) {
        const branch = 'z9hG4bK' + h.randomToken(16);
        keys.set(branch, i);
        keys.delete(branch);
      }
    }),
    contact: nsPerCall(calls, () => {
      for (let i = 0; i < calls; i++) new h.Response(200, 'OK', [['Contact', contacts[i & 63]!]]);
    }),
    frame: nsPerCall(calls, () => {
      for (let i = 0; i < calls; i += 8) framer.push(reads[(i >> 3) & 7]!);
      if (framed < calls) throw new Error(`framed ${framed} of ${calls} REGISTERs`);
      framed = 0;
    }),
    decide: nsPerCall(calls, () => {
      for (let i = 0; i < calls; i++) {
        // A literal, as the registrar passes it: built as { ...common, request, aor, existing } the
        // input alone cost ~3 µs per call (Node 20 makes a spread of seven properties followed by
        // new keys in a slow path), more than the decision.
        const c = refresh.common;
        const d = h.decideRegister({ request: refresh.requests[i & 63]!, aor: refresh.aors[i & 63]!, domain: c.domain, now: c.now, policy: c.policy, firstHop: c.firstHop, path: c.path, received: c.received, existing: refresh.stored[i & 63]!, tempGruus: c.tempGruus });
        if (d.ok) decided += d.current.length;
      }
      if (decided < calls) throw new Error(`decided ${decided} of ${calls} REGISTERs`);
      decided = 0;
    }),
    mint: nsPerCall(calls, () => {
      for (let i = 0; i < calls; i++) minted += codec.mint(claims[i & 63]!).length;
      if (minted < calls * 80) throw new Error(`temp-GRUUs of ${minted / calls} characters`);
      minted = 0;
    }),
    observe: nsPerCall(calls, () => {
      // Durations in seconds as a core's REGISTERs take them: 0 to 3.5 ms, over the first four buckets.
      for (let i = 0; i < calls; i++) histogram.observe((i & 7) / 2000);
    }),
  };
}

/**
 * 64 relay-forwarded REGISTERs, parsed once (decideRegister reads the parse caches, as in the core),
 * each with the binding it refreshes already stored (an earlier CSeq of the same Call-ID).
 */
function refreshes(): { requests: SipRequest[]; aors: string[]; stored: Binding[][]; common: { domain: string; now: number; policy: typeof DEFAULT_REGISTRAR_POLICY; firstHop: 'outbound-edge'; path: string[]; received: string; tempGruus: TempGruuCodec } } {
  const common = {
    domain: FORWARDED_REGISTER_DOMAIN,
    now: Date.now(),
    policy: DEFAULT_REGISTRAR_POLICY,
    firstHop: 'outbound-edge' as const,
    path: ['<sip:token@127.0.0.1:5999;transport=tcp;lr;ob>'],
    received: 'tcp:127.0.0.1:5999',
    tempGruus: new TempGruuCodec(['hot-paths-secret']),
  };
  const requests: SipRequest[] = [];
  const aors: string[] = [];
  const stored: Binding[][] = [];
  for (let ua = 0; ua < 64; ua++) {
    const parsed = parseMessage(Buffer.from(forwardedRegister(ua, 5, 'A'.repeat(54))));
    if (!parsed.ok || parsed.message.kind !== 'request') throw new Error('the bench REGISTER does not parse');
    const request = parsed.message;
    const aor = `sip:ua${ua}@${FORWARDED_REGISTER_DOMAIN}`;
    // The binding as the registrar makes it of this REGISTER, stored one CSeq earlier.
    const first = decideRegister({ request, aor, ...common, existing: [] });
    if (!first.ok || first.upsert.length !== 1) throw new Error('the bench REGISTER makes no binding');
    requests.push(request);
    aors.push(aor);
    stored.push([{ ...first.upsert[0]!, cseq: request.cseq.seq - 1 }]);
  }
  return { requests, aors, stored, common };
}

function medians(rounds: HotPathFigures[]): HotPathFigures {
  const of = (k: keyof HotPathFigures): number => Math.round(median(rounds.map((r) => r[k]).sort((a, b) => a - b)));
  return { inc: of('inc'), token: of('token'), branchKey: of('branchKey'), contact: of('contact'), frame: of('frame'), decide: of('decide'), mint: of('mint'), observe: of('observe') };
}

export async function runHotPaths(o: { calls: number; runs: number; baseline?: string }): Promise<HotPathResult> {
  const mine: Helpers = { HotCounter, randomToken, Response, StreamParser, decideRegister, TempGruuCodec, CoreMetrics };
  let theirs: Helpers | undefined;
  if (o.baseline !== undefined) {
    const counter = await importBuild(o.baseline, 'runtime/hot-counter.js');
    const factory = await importBuild(o.baseline, 'sip/message/factory.js');
    const message = await importBuild(o.baseline, 'sip/message/message.js');
    const stream = await importBuild(o.baseline, 'sip/message/stream-parser.js');
    const registration = await importBuild(o.baseline, 'core/registrar/registration.js');
    const gruu = await importBuild(o.baseline, 'core/registrar/gruu.js');
    const metrics = await importBuild(o.baseline, 'core/core-metrics.js');
    theirs = {
      HotCounter: counter.HotCounter as typeof HotCounter,
      randomToken: factory.randomToken as typeof randomToken,
      Response: message.Response as typeof Response,
      StreamParser: stream.StreamParser as typeof StreamParser,
      decideRegister: registration.decideRegister as typeof decideRegister,
      TempGruuCodec: gruu.TempGruuCodec as typeof TempGruuCodec,
      CoreMetrics: metrics.CoreMetrics as typeof CoreMetrics,
    };
  }
  const rounds: { mine: HotPathFigures[]; theirs: HotPathFigures[] } = { mine: [], theirs: [] };
  // One unmeasured round each: V8 compiles the loops and the helpers.
  measure(mine, Math.min(o.calls, 100_000));
  if (theirs) measure(theirs, Math.min(o.calls, 100_000));
  for (let i = 0; i < o.runs; i++) {
    const first = i % 2 === 0 || !theirs;
    if (first) rounds.mine.push(measure(mine, o.calls));
    if (theirs) rounds.theirs.push(measure(theirs, o.calls));
    if (!first) rounds.mine.push(measure(mine, o.calls));
  }
  return { calls: o.calls, runs: o.runs, mine: medians(rounds.mine), ...(theirs ? { baseline: medians(rounds.theirs) } : {}) };
}

/** `npm run bench -- hot-paths`. */
export async function runHotPathsBench(): Promise<HotPathResult> {
  const baseline = process.env.SIPFLOW_HARNESS_BASELINE || undefined;
  const o = { calls: envCount('SIPFLOW_HARNESS_COUNT', 2_000_000), runs: envCount('SIPFLOW_HARNESS_RUNS', 7), ...(baseline ? { baseline } : {}) };
  const r = await runHotPaths(o);
  const line = (name: string, f: HotPathFigures): string => `${name}: inc() with two labels ${f.inc} ns, randomToken(16) ${f.token} ns, a branch set and deleted as a Map key ${f.branchKey} ns, a 200 with a registrar's Contact ${f.contact} ns, a forwarded REGISTER framed out of a stream ${f.frame} ns, decideRegister on a refresh ${f.decide} ns, a temp-GRUU minted ${f.mint} ns, a REGISTER duration observed ${f.observe} ns\n`;
  process.stdout.write(`hot paths: ${o.runs} rounds of ${o.calls} calls, median ns per call\n` + line('this build', r.mine) + (r.baseline ? line(`baseline (${baseline})`, r.baseline) : ''));
  return r;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await runHotPathsBench();
