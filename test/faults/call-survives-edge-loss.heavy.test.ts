/**
 * A browser call survives the loss of its edge. Two Chromium softphones on a real `sipflow cluster`
 * (memory store, three edges) in a loopback-only namespace: alice on edge 1 calls bob on edge 2,
 * then edge 1 is killed with SIGKILL. Alice's page registers again through the next edge of its list
 * with the same instance (same GRUU) and sends a re-INVITE with an ICE restart; the cores route it
 * through the dialog's stale route set (stale WebSocket-side entries dropped), and bob's in-dialog
 * requests reach alice through her new flow (the cores follow her GRUU). Nobody sends BYE until
 * bob hangs up.
 *
 * Two more shapes of the same fault, each on its own cluster: the caller moves to an edge neither
 * party was on, and the callee (the dialog's UAS) is the one losing its edge.
 *
 * Media is browser to browser (no rtpengine for WebRTC ⇄ WebRTC), so the edge loss only cuts the
 * signalling; the test measures how long until the call is resumed (re-INVITE answered and ACKed)
 * and audio is seen flowing on both pages after that.
 *
 * Prints `FAULT-REPORT {...}` for the faults report (the first scenario, the one the report names).
 */
import { execFileSync } from 'node:child_process';
import t, { type Test } from 'tap';
import type { Page } from 'playwright-core';
import { until } from '../helpers/browser.js';
import { mediaStats, snapshot, startWebCluster, text, type MediaView, type PhoneView } from '../e2e/fixtures/web-cluster.js';

/** What phone.ts puts in a call snapshot and in stats() beyond what the e2e fixture types. */
type CallView = NonNullable<PhoneView['call']> & { resumes: number; resumedVia?: string; resumedAt?: number };
type Phone = Omit<PhoneView, 'call'> & { call?: CallView };
type Media = MediaView & { localIceUfrag?: string; remoteIceUfrag?: string };

declare const window: { sipflow: { phone: EventTarget; snapshot(): Phone }; callStates?: string[] };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const phone = async (page: Page) => (await snapshot(page)) as Phone;
const media = async (page: Page) => (await mediaStats(page)) as Media;

/** One SIP message from the page's SIP trace (the events log with "SIP trace" ticked). */
interface Traced {
  dir: 'in' | 'out';
  start: string;
  headers: [string, string][];
  body: string;
}

/** The events log of a page (`HH:MM:SS.mmm  line`, SIP trace entries as `>>> message` / `<<< message`). */
async function trace(page: Page): Promise<Traced[]> {
  const log = (await page.textContent('#log')) ?? '';
  const out: Traced[] = [];
  for (const entry of log.split(/\n(?=\d\d:\d\d:\d\d\.\d{3}  )/)) {
    const m = /^\d\d:\d\d:\d\d\.\d{3}  (>>>|<<<) ([\s\S]*)$/.exec(entry);
    if (!m) continue;
    const text = m[2]!.replace(/\r/g, '');
    const split = text.indexOf('\n\n');
    const head = (split < 0 ? text : text.slice(0, split)).split('\n');
    const headers = head.slice(1).map((l): [string, string] => {
      const i = l.indexOf(':');
      return [l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim()];
    });
    out.push({ dir: m[1] === '>>>' ? 'out' : 'in', start: head[0]!, headers, body: split < 0 ? '' : text.slice(split + 2) });
  }
  return out;
}

const COMPACT: Record<string, string> = { via: 'v', 'call-id': 'i', to: 't', from: 'f', contact: 'm' };
function header(m: Traced, name: string): string | undefined {
  return m.headers.find(([n]) => n === name || n === COMPACT[name])?.[1];
}
const cseq = (m: Traced) => header(m, 'cseq') ?? '';
const hasToTag = (m: Traced) => /;\s*tag=/i.test(header(m, 'to') ?? '');
const isRequest = (m: Traced, method: string) => m.start.startsWith(`${method} `);
const isResponse = (m: Traced, status: number, method: string) => m.start.startsWith(`SIP/2.0 ${status} `) && cseq(m).endsWith(` ${method}`);
/** host:port of the top Via (the hop that delivered a request to the page). */
const topVia = (m: Traced) => /^SIP\/2\.0\/\S+\s+([^;,\s]+)/i.exec(header(m, 'via') ?? '')?.[1];
const hostPort = (wsUrl: string) => new URL(wsUrl).host;

/** Audio is flowing into `page`: bytes keep arriving and the decoded level is above zero. */
async function audioFlowing(page: Page, who: string): Promise<Media> {
  const first = await until(`${who} receiving audio`, async () => {
    const s = await media(page);
    return s.bytesReceived > 1000 && s.audioLevel > 0 ? s : undefined;
  }, 10_000);
  await sleep(1000);
  const later = await media(page);
  if (later.bytesReceived <= first.bytesReceived) throw new Error(`${who}: bytesReceived stopped at ${later.bytesReceived}`);
  return later;
}

interface Scenario {
  ns: string;
  base: number;
  /** Edge index (0-based) each page starts on. */
  aliceEdge: number;
  bobEdge: number;
  /** Whose edge is killed. */
  loser: 'alice' | 'bob';
  /** Print the FAULT-REPORT line for this one. */
  report?: boolean;
}

/** Sum of one counter over the cores' /metrics (read from inside the namespace, where they listen). */
function coreCounter(ns: string, ports: number[], name: string): number {
  const script = `Promise.all(${JSON.stringify(ports)}.map((p) => fetch('http://127.0.0.1:' + p + '/metrics').then((r) => r.text()))).then((ts) => process.stdout.write(ts.join('\\n')))`;
  const textOut = execFileSync('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { encoding: 'utf8', timeout: 10_000 });
  let sum = 0;
  for (const m of textOut.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+(?:\\.\\d+)?)$`, 'gm'))) sum += Number(m[1]);
  return sum;
}

async function survive(t: Test, o: Scenario): Promise<void> {
  const c = await startWebCluster(t, { ns: o.ns, base: o.base, edges: 3 });
  t.equal(c.edges.length, 3, 'three edges');
  const corePorts = [o.base + 50, o.base + 51];
  const reroutes = () => coreCounter(o.ns, corePorts, 'sipflow_core_dialog_reroutes_total');
  const report = { scenario: 'call survives edge loss', load: '1 browser call', faults: 'kill -9 edge', bindingsLost: 1, callsFailed: 1, recoverySeconds: -1 };
  if (o.report) {
    t.teardown(() => {
      // One line for the faults report script, whatever happened above.
      process.stdout.write(`FAULT-REPORT ${JSON.stringify(report)}\n`);
    });
  }

  const alice = await c.phone('alice', o.aliceEdge);
  const bob = await c.phone('bob', o.bobEdge);
  const pages = { alice, bob };
  const moverName = o.loser;
  const stayerName = o.loser === 'alice' ? 'bob' : 'alice';
  const mover = pages[moverName];
  const stayer = pages[stayerName];
  const moverStart = o.loser === 'alice' ? o.aliceEdge : o.bobEdge;
  const moverNext = (moverStart + 1) % c.edges.length;
  for (const p of [alice, bob]) await p.check('#trace-sip');
  // Every call state the stayer's page goes through, in order, from now on.
  await stayer.evaluate(() => {
    const states: string[] = [];
    window.callStates = states;
    window.sipflow.phone.addEventListener('change', () => {
      const s = window.sipflow.snapshot().call?.state;
      if (s && states[states.length - 1] !== s) states.push(s);
    });
  });
  const moverBefore = await phone(mover);
  t.equal((await phone(alice)).edge, c.edges[o.aliceEdge], `alice holds her flow on edge ${o.aliceEdge + 1}`);
  t.equal((await phone(bob)).edge, c.edges[o.bobEdge], `bob holds his flow on edge ${o.bobEdge + 1}`);
  t.match(moverBefore.gruu, /;gr=urn:uuid:/, `${moverName} has a public GRUU`);

  let before: { mover: Media; stayer: Media } | undefined;
  await t.test('alice calls bob; audio flows both ways', async (t) => {
    await alice.fill('#target', 'bob');
    await alice.click('#call');
    await bob.waitForSelector('#incoming:not([hidden])', { timeout: 10_000 });
    await bob.click('#answer');
    for (const [p, who] of [[alice, 'alice'], [bob, 'bob']] as const) {
      await until(`${who} established`, async () => (await phone(p)).call?.state === 'established', 10_000);
    }
    const a = await audioFlowing(alice, 'alice');
    const b = await audioFlowing(bob, 'bob');
    t.ok(a.audioLevel > 0, `alice hears bob (bytesReceived ${a.bytesReceived}, audioLevel ${a.audioLevel.toFixed(3)})`);
    t.ok(b.audioLevel > 0, `bob hears alice (bytesReceived ${b.bytesReceived}, audioLevel ${b.audioLevel.toFixed(3)})`);
    t.ok(a.localIceUfrag && a.remoteIceUfrag, 'the ICE credentials of both descriptions are readable');
    before = o.loser === 'alice' ? { mover: a, stayer: b } : { mover: b, stayer: a };
  });
  if (!before) return;

  let resumed = false;
  await t.test(`kill -9 ${moverName}'s edge: ${moverName} moves to another edge and resumes the call with an ICE restart`, async (t) => {
    const pid = c.nodes.find((n) => n.role === 'edge' && n.address === c.edges[moverStart])?.pid;
    t.ok(pid, `edge ${moverStart + 1} runs as pid ${pid}`);
    const traceBefore = { mover: (await trace(mover)).length, stayer: (await trace(stayer)).length };
    const killedAt = Date.now();
    process.kill(pid!, 'SIGKILL');

    // Poll both pages every 250 ms: first until the call is resumed (re-INVITE accepted), then
    // until bytesReceived grew on both pages after that moment. Also keep the longest stall.
    let resumedSeen: { mover: number; stayer: number } | undefined;
    let recoveredAt: number | undefined;
    const last = { mover: { bytes: before!.mover.bytesReceived, at: killedAt }, stayer: { bytes: before!.stayer.bytesReceived, at: killedAt } };
    let longestStall = 0;
    for (let i = 0; i < 80 && recoveredAt === undefined; i++) {
      await sleep(250);
      const now = Date.now();
      const [s, mm, ms] = await Promise.all([phone(mover), media(mover), media(stayer)]);
      for (const [who, m] of [['mover', mm], ['stayer', ms]] as const) {
        if (m.bytesReceived > last[who].bytes) last[who] = { bytes: m.bytesReceived, at: now };
        longestStall = Math.max(longestStall, now - last[who].at);
      }
      if (!resumedSeen && (s.call?.resumes ?? 0) >= 1) resumedSeen = { mover: mm.bytesReceived, stayer: ms.bytesReceived };
      else if (resumedSeen && mm.bytesReceived > resumedSeen.mover && ms.bytesReceived > resumedSeen.stayer) recoveredAt = now;
    }
    const m = await phone(mover);
    const events = (await text(mover, '#log')).split('\n').filter((l) => /^\d\d:\d\d:\d\d\.\d{3} {2}(?!>>>|<<<)/.test(l)).slice(-5);
    report.bindingsLost = m.registration === 'registered' && m.gruu === moverBefore.gruu ? 0 : 1;
    t.ok(resumedSeen, `${moverName}'s page resumed the call (last events: ${events.join(' | ')})`);
    t.ok(recoveredAt, 'audio grew on both pages after the resumption');
    if (!resumedSeen || !recoveredAt) return;
    const took = recoveredAt - killedAt;
    report.recoverySeconds = Math.round(took / 100) / 10;
    t.ok(took <= 5000, `call resumed with audio both ways ${took} ms after the kill (re-INVITE accepted at +${m.call!.resumedAt! - killedAt} ms; longest media stall seen ${longestStall} ms)`);

    t.equal(m.registration, 'registered', `${moverName} is registered again`);
    t.not(m.edge, c.edges[moverStart], 'through another edge');
    t.equal(m.edge, c.edges[moverNext], `the next edge of the list, edge ${moverNext + 1}`);
    t.equal(m.recoveries, 1, 'one flow recovery');
    t.equal(m.gruu, moverBefore.gruu, 'RFC 5626 §4.2: same instance and reg-id, so the same public GRUU');
    t.equal(m.call?.state, 'established', 'the call is still established');
    t.equal(m.call?.resumes, 1, 'one ICE-restart re-INVITE accepted');
    t.equal(m.call?.resumedVia, m.edge, 'resumed through the new edge');
    t.match(await text(mover, '#log'), new RegExp(`call resumed through edge ${moverNext + 1} \\(`), 'the events log says so');

    // RFC 8839 §4.4.1.1.1: an ICE restart changes ice-ufrag/ice-pwd; both pages applied new ones.
    const mm = await media(mover);
    const ms = await media(stayer);
    t.not(mm.localIceUfrag, before!.mover.localIceUfrag, `${moverName}'s ICE credentials changed (restart offered)`);
    t.not(mm.remoteIceUfrag, before!.mover.remoteIceUfrag, `${stayerName}'s answer carried new ICE credentials`);
    t.equal(ms.remoteIceUfrag, mm.localIceUfrag, `${stayerName} applied the new credentials`);
    t.ok(mm.iceState === 'connected' || mm.iceState === 'completed', `${moverName} ICE ${mm.iceState}`);
    t.ok(ms.iceState === 'connected' || ms.iceState === 'completed', `${stayerName} ICE ${ms.iceState}`);
    t.ok(mm.audioLevel > 0 && ms.audioLevel > 0, `both pages play audio (levels ${mm.audioLevel.toFixed(3)} / ${ms.audioLevel.toFixed(3)})`);

    // The SIP each page saw since the kill.
    const mt = (await trace(mover)).slice(traceBefore.mover);
    const st = (await trace(stayer)).slice(traceBefore.stayer);
    const reinvites = mt.filter((x) => x.dir === 'out' && isRequest(x, 'INVITE') && hasToTag(x));
    t.equal(reinvites.length, 1, `${moverName} sent one re-INVITE`);
    const re = reinvites[0];
    if (re) {
      // (ufrags may hold '+' and '/': compared as text, not as a pattern)
      t.ok(re.body.includes(`a=ice-ufrag:${mm.localIceUfrag}\n`), `it offers the new ICE credentials (ufrag ${mm.localIceUfrag})`);
      const n = cseq(re);
      t.ok(mt.some((x) => x.dir === 'in' && isResponse(x, 200, 'INVITE') && cseq(x) === n), `${moverName} got 200 for CSeq ${n}`);
      t.ok(mt.some((x) => x.dir === 'out' && isRequest(x, 'ACK') && cseq(x) === n.replace('INVITE', 'ACK')), 'and sent the ACK');
      t.ok(st.some((x) => x.dir === 'in' && isRequest(x, 'INVITE') && cseq(x) === n), `the re-INVITE reached ${stayerName}`);
      t.ok(st.some((x) => x.dir === 'out' && isResponse(x, 200, 'INVITE') && cseq(x) === n), `${stayerName} answered 200`);
      t.ok(st.some((x) => x.dir === 'in' && isRequest(x, 'ACK') && cseq(x) === n.replace('INVITE', 'ACK')), `the ACK reached ${stayerName}`);
    }
    t.notOk([...mt, ...st].some((x) => isRequest(x, 'BYE')), 'no BYE on either page');
    const states = await stayer.evaluate(() => window.callStates ?? []);
    t.same(states.slice(states.indexOf('established')), ['established'], `${stayerName}'s call never left established (${states.join(' → ')})`);
    const s = await phone(stayer);
    t.equal(s.registration, 'registered', `${stayerName}, on a surviving edge, stayed registered`);
    t.equal(s.recoveries, 0, `${stayerName} needed no recovery`);
    resumed = true;
  });
  if (!resumed) return;

  let held = false;
  await t.test(`${stayerName} holds and resumes: the re-INVITEs reach ${moverName} through the new flow`, async (t) => {
    const newEdge = (await phone(mover)).edge!;
    const from = (await trace(mover)).length;
    const reroutedBefore = reroutes();
    await stayer.click('#hold');
    await until(`${stayerName} on hold`, async () => (await phone(stayer)).call?.held === true, 10_000);
    await until(`${moverName} told of the hold`, async () => (await phone(mover)).call?.remoteHeld === true, 10_000);
    t.match(await text(mover, '#call-flags'), /held by peer/, `${moverName}'s page shows the hold`);
    t.equal((await media(mover)).currentDirection, 'recvonly', `${moverName} negotiated recvonly`);
    await stayer.click('#hold');
    await until(`${stayerName} resumed`, async () => (await phone(stayer)).call?.held === false, 10_000);
    await until(`${moverName} no longer held`, async () => (await phone(mover)).call?.remoteHeld === false, 10_000);
    t.equal((await media(mover)).currentDirection, 'sendrecv', 'sendrecv again');
    const invites = (await trace(mover)).slice(from).filter((x) => x.dir === 'in' && isRequest(x, 'INVITE'));
    t.equal(invites.length, 2, `${moverName} received both re-INVITEs`);
    for (const x of invites) t.equal(topVia(x), hostPort(newEdge), `${cseq(x)} was delivered by the new edge (${hostPort(newEdge)})`);
    const rerouted = reroutes() - reroutedBefore;
    t.ok(rerouted >= 2, `the cores re-routed them by the GRUU (sipflow_core_dialog_reroutes_total +${rerouted})`);
    const a = await audioFlowing(mover, `${moverName} after resume`);
    const b = await audioFlowing(stayer, `${stayerName} after resume`);
    t.ok(a.audioLevel > 0 && b.audioLevel > 0, 'audio both ways after the resume');
    const states = await stayer.evaluate(() => window.callStates ?? []);
    t.same(states.slice(states.indexOf('established')), ['established'], `${stayerName}'s call still never left established`);
    held = true;
  });
  if (!held) return;

  await t.test(`${stayerName} hangs up: the BYE reaches ${moverName} through the new flow and the page shows the call ended`, async (t) => {
    const newEdge = (await phone(mover)).edge!;
    const from = (await trace(mover)).length;
    const reroutedBefore = reroutes();
    await stayer.click('#hangup');
    for (const p of [alice, bob]) await until('call ended', async () => (await phone(p)).call?.state === 'ended', 10_000);
    t.equal(await text(mover, '#call-state'), 'ended', `${moverName}'s page shows the call ended`);
    t.equal(await text(mover, '#end-reason'), 'the other side hung up');
    const byes = (await trace(mover)).slice(from).filter((x) => x.dir === 'in' && isRequest(x, 'BYE'));
    t.equal(byes.length, 1, `${moverName} received the BYE`);
    if (byes[0]) t.equal(topVia(byes[0]), hostPort(newEdge), 'delivered by the new edge');
    t.ok(reroutes() > reroutedBefore, 'the cores re-routed it by the GRUU');
    report.callsFailed = 0;
  });
}

t.test('a browser call survives the loss of the caller\'s edge (alice on edge 1 moves to edge 2, where bob is)', (t) =>
  survive(t, { ns: 'sfsurv1', base: 24700, aliceEdge: 0, bobEdge: 1, loser: 'alice', report: true }));

t.test('the caller moves to an edge neither party was on (alice edge 1 → edge 2, bob on edge 3)', (t) =>
  survive(t, { ns: 'sfsurv2', base: 24700, aliceEdge: 0, bobEdge: 2, loser: 'alice' }));

t.test('the callee loses its edge (bob edge 2 → edge 3, alice stays on edge 1)', (t) =>
  survive(t, { ns: 'sfsurv3', base: 24700, aliceEdge: 0, bobEdge: 1, loser: 'bob' }));
