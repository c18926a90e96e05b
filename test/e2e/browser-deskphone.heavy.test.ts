/**
 * Calls between a Chromium softphone (WebRTC: ICE, DTLS-SRTP, rtcp-mux) and a desk phone (baresip
 * 1.0.0, plain RTP/AVP G.711) through a real `sipflow cluster --store memory`, in a loopback-only
 * namespace. The core anchors the media in rtpengine because the two sides speak different
 * profiles: the browser must hear the desk phone's 440 Hz tone and the desk phone must decode the
 * browser's fake-microphone beep, in both call directions; either side hangs up once. rtpengine's
 * own counters (ng `query`) confirm both legs carried packets, and its call is gone after the BYE.
 *
 * The desk phone reaches its core through fixtures/md5-challenge-relay.ts: baresip 1.0.0 gives up
 * on the core's SHA-256-first challenge list (a baresip bug, explained there); the core still does
 * the digest check. The last call subtest records a cluster bug and fails until it is fixed.
 *
 * Ports inside the namespace sfdesk1 (isolated, 127.0.0.1 only): cluster base 24300 (demo 24300,
 * edges 24301-24302, cores 24310/24312, edge UDP 24330/24332, status 24350..), rtpengine ng 22222
 * and media 30000-30199 (the launcher's fixed values), baresip SIP 24370 (+24371), ctrl_tcp 24375,
 * RTP 24380-24399, the MD5 challenge relay 24360 (phone side) and 24361 (core side).
 */
import t, { type Test } from 'tap';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { until } from '../helpers/browser.js';
import { wavStats } from '../helpers/baresip.js';
import { mediaStats, SCREENSHOTS, snapshot, startWebCluster, text, type MediaView, type WebCluster } from './fixtures/web-cluster.js';
import { startDeskPhone, type DeskPhone } from './fixtures/desk-phone.js';
import { queryCall } from './fixtures/rtpengine-query.js';

const NS = 'sfdesk1';
const HOST = '127.0.0.1';
const DOMAIN = 'sipflow.test';
const BASE = 24300;
/** The launcher's fixed rtpengine settings (deploy/cluster/local-cluster.ts). */
const NG = { host: HOST, port: 22222 };
const RTPENGINE_PORTS = [30000, 30199] as const;
const DESK = { sip: 24370, ctrl: 24375, relayPhone: 24360, relayCore: 24361, rtp: [24380, 24399] as [number, number] };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** stats() also reports the codec's MIME type (web-demo/src/phone.ts). */
type Media = MediaView & { codec?: string };

/** Audio is flowing into the page: bytes keep arriving and the played level is above zero. */
async function pageHears(page: Page): Promise<{ first: Media; later: Media }> {
  const first = await until('the page receiving audio', async () => {
    const s = (await mediaStats(page)) as Media;
    return s.bytesReceived > 1000 && s.audioLevel > 0 ? s : undefined;
  }, 10_000);
  await sleep(1500);
  const later = (await mediaStats(page)) as Media;
  return { first, later };
}

type Dir = 'core->phone' | 'phone->core';

/** The relay's trace split into messages: direction, start line, the whole text (LF line ends). */
function messages(trace: string): { dir: Dir; start: string; text: string }[] {
  return trace
    .split(/^--- /m)
    .map((b) => {
      const nl = b.indexOf('\n');
      const dir = b.slice(0, b.indexOf(' ')) as Dir;
      const text = b.slice(nl + 1);
      return { dir, start: text.slice(0, text.indexOf('\n')), text };
    })
    .filter((m) => m.dir === 'core->phone' || m.dir === 'phone->core');
}

/** The newest message in `dir` whose start line matches `start` (and `also`, if given). */
function lastMessage(trace: string, dir: Dir, start: RegExp, also?: RegExp): string {
  return messages(trace).filter((m) => m.dir === dir && start.test(m.start) && (!also || also.test(m.text))).pop()?.text ?? '';
}

function sdpOf(message: string): string {
  const body = message.indexOf('\n\n');
  return body > 0 && /^v=0/m.test(message.slice(body)) ? message.slice(body + 2) : '';
}

const header = (message: string, name: string) => new RegExp(`^${name}: *(.*)$`, 'mi').exec(message)?.[1]?.trim() ?? '';

/** The newest message of call `callId` the page received (its event log with the SIP trace on: `HH:MM:SS.mmm  <<< ...`). */
function pageReceived(log: string, start: RegExp, callId: string): string {
  const entries = log.split(/^\d\d:\d\d:\d\d\.\d{3} {2}/m).filter((e) => e.startsWith('<<< '));
  return entries
    .map((e) => e.slice(4))
    .filter((m) => start.test(m) && header(m, 'Call-ID') === callId)
    .pop() ?? '';
}

/** The Via sent-by values of a message, topmost first. */
const vias = (message: string) => [...message.matchAll(/^Via: SIP\/2\.0\/\S+ ([^;\s]+)/gim)].map((m) => m[1]!);

/** The page's event log (SIP trace on), the desk phone's side and the cluster's output (rtpengine, cores). */
async function diagnostics(c: WebCluster, desk: DeskPhone | undefined, page: Page | undefined): Promise<string> {
  const log = page ? await text(page, '#log').catch(() => '') : '';
  return [
    `--- page log (tail) ---\n${log.slice(-8000)}`,
    desk?.diagnostics() ?? '',
    `--- cluster output (tail) ---\n${c.output().slice(-6000)}`,
    `--- browser console (tail) ---\n${c.browser.console.slice(-30).join('\n')}`,
  ].join('\n');
}

/** Runs `f`; a failure carries the SIP both ways, rtpengine's log and baresip's log. */
async function explained(t: Test, c: WebCluster, desk: DeskPhone | undefined, page: Page | undefined, f: () => Promise<void>): Promise<void> {
  try {
    await f();
  } catch (err) {
    t.fail(`${(err as Error).message}\n${await diagnostics(c, desk, page)}`);
    return;
  }
  if (!t.passing()) t.comment(await diagnostics(c, desk, page));
}

/**
 * rtpengine's own counters for the call: the phone leg is plain RTP/AVP from the port baresip put
 * in its SDP, the browser leg is SRTP (DTLS-SRTP suite) from the browser's ICE candidate, and each
 * carried a steady stream of G.711 packets (50 per second).
 */
async function relayCounters(t: Test, callId: string, deskRtp: number): Promise<void> {
  const q = await queryCall(NS, NG, callId);
  const phone = q.legs.find((l) => l.protocol === 'RTP/AVP');
  const browser = q.legs.find((l) => l.protocol === 'UDP/TLS/RTP/SAVPF');
  t.equal(q.legs.length, 2, `rtpengine holds two legs for ${callId}`);
  t.equal(phone?.rtp.endpoint, `${HOST}:${deskRtp}`, 'the phone leg receives from the port in baresip’s SDP');
  t.ok((phone?.rtp.packets ?? 0) > 50, `rtpengine got ${phone?.rtp.packets} RTP packets (${phone?.rtp.bytes} bytes) from the desk phone`);
  t.ok((browser?.rtp.packets ?? 0) > 50, `rtpengine got ${browser?.rtp.packets} SRTP packets (${browser?.rtp.bytes} bytes, ${browser?.rtp.errors} errors) from the browser, relayed to the desk phone`);
  t.match(browser?.rtp.cryptoSuite ?? '', /AES/, `the browser leg is SRTP (${browser?.rtp.cryptoSuite})`);
  t.match(`${phone?.codec} ${browser?.codec}`, /^(PCMU|PCMA)\/8000 (PCMU|PCMA)\/8000$/, `G.711 on both legs (${phone?.codec}, ${browser?.codec})`);
}

/** RFC 3261 §15.1.2: after the BYE the core deletes the call in rtpengine (media-anchor release). */
async function relayReleased(t: Test, callId: string): Promise<void> {
  const gone = await until('rtpengine to forget the call', async () => {
    try {
      await queryCall(NS, NG, callId);
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  }, 5000, 250).catch((err: Error) => `still there: ${err.message}`);
  t.match(gone, /Unknown call-id|not found/i, `rtpengine released the call after the BYE (${gone})`);
}

/** Decoded-audio dumps baresip wrote since `before` (sndfile writes one `*-dec.wav` per call). */
function newDecoded(desk: DeskPhone, before: Set<string>): string[] {
  return desk.baresip.recordings().decoded.filter((f) => !before.has(f));
}

t.test('calls between a browser and a desk phone, media anchored in rtpengine', async (t) => {
  const c = await startWebCluster(t, { ns: NS, base: BASE });
  const rtpengine = c.nodes.find((n) => n.role === 'rtpengine');
  // Fails, never skips: without rtpengine there is no media between the two profiles.
  if (!rtpengine) throw new Error(`the cluster started no rtpengine (apt-get install -y --no-install-recommends rtpengine-daemon):\n${c.output().slice(-2000)}`);
  if (rtpengine.address !== `ng:${NG.host}:${NG.port}`) throw new Error(`rtpengine listens on ${rtpengine.address}, the test expects ng:${NG.host}:${NG.port}`);
  const core1 = /^udp:([\d.]+):(\d+)$/.exec(c.nodes.find((n) => n.name === 'core-1')?.address ?? '');
  if (!core1) throw new Error(`no core-1 UDP address in the cluster output:\n${c.output().slice(-2000)}`);
  const desk = await startDeskPhone(t, { ns: NS, host: HOST, domain: DOMAIN, core: { host: core1[1]!, port: Number(core1[2]) }, ports: DESK });
  const alice = await c.phone('alice', 0);
  // The page's SIP trace goes into its event log, which a failure message shows.
  await alice.check('#trace-sip');

  await t.test('the desk phone registers as sip:deskphone@sipflow.test with digest auth at its home core', async (t) => {
    const trace = desk.relay.trace();
    t.match(lastMessage(trace, 'phone->core', /^REGISTER /), /^REGISTER sip:sipflow\.test[;\s]/, 'REGISTER to the domain, through the outbound proxy');
    t.match(lastMessage(trace, 'core->phone', /^SIP\/2\.0 401 /), /^WWW-Authenticate: Digest /m, 'the core challenged it');
    const authorized = lastMessage(trace, 'phone->core', /^REGISTER /, /^Authorization:/m);
    t.match(header(authorized, 'Authorization'), /^Digest username="deskphone", realm="sipflow\.test"/, 'it answered with its credentials');
    t.notMatch(header(authorized, 'Authorization'), /algorithm="?SHA-256/i, 'for the MD5 challenge (all baresip 1.0.0 can do)');
    t.match(lastMessage(trace, 'core->phone', /^SIP\/2\.0 200 /, /^CSeq: \d+ REGISTER/m), /^Contact: <sip:deskphone-[^>]+>;expires=\d+/m, 'the core stored its binding');
    const reg = await desk.ctrl.command('reginfo');
    t.ok(reg.ok, 'ctrl_tcp answers');
    const info = reg.data.replace(/\x1b\[[0-9;]*m/g, '').replace(/\s+/g, ' ').trim();
    t.match(info, /sip:deskphone@sipflow\.test OK Expires \d+s/, `baresip says it is registered (${info})`);
  });

  await t.test('the browser calls the desk phone: baresip auto-answers, audio both ways through rtpengine, the desk phone hangs up', async (t) => {
    await explained(t, c, desk, alice, async () => {
      const before = new Set(desk.baresip.recordings().decoded);
      const from = desk.ctrl.events.length;
      await alice.fill('#target', 'deskphone');
      await alice.click('#call');
      // With answermode=auto baresip 1.0.0 reports no CALL_INCOMING: the call is established at once.
      const up = await desk.ctrl.waitForEvent('CALL_ESTABLISHED', from, 10_000);
      t.match(up.peeruri ?? '', /^sip:alice@sipflow\.test/, `the desk phone answered alice (${up.peeruri}, ${up.direction})`);
      await until('alice established', async () => (await text(alice, '#call-state')) === 'established', 10_000);

      // What each side was told: the phone got plain RTP towards rtpengine, and answered with its own port.
      const invite = lastMessage(desk.relay.trace(), 'core->phone', /^INVITE /);
      const callId = header(invite, 'Call-ID');
      const toPhone = sdpOf(invite);
      const phoneSide = Number(/^m=audio (\d+) RTP\/AVP /m.exec(toPhone)?.[1]);
      t.ok(phoneSide >= RTPENGINE_PORTS[0] && phoneSide <= RTPENGINE_PORTS[1], `the phone's offer is RTP/AVP on an rtpengine port (${phoneSide})`);
      t.notMatch(toPhone, /^a=(ice-ufrag|fingerprint|setup|candidate|group:BUNDLE|msid|ssrc)/m, 'no ICE, DTLS, BUNDLE or WebRTC attributes in the phone’s offer');
      t.match(toPhone, /^m=audio \d+ RTP\/AVP( (0|8|126))+$/m, `only G.711 and telephone-event offered to the phone (${/^m=.*$/m.exec(toPhone)?.[0]})`);
      const deskRtp = Number(/^m=audio (\d+) RTP\/AVP /m.exec(sdpOf(lastMessage(desk.relay.trace(), 'phone->core', /^SIP\/2\.0 200 /, /^CSeq: \d+ INVITE/m)))?.[1]);
      t.ok(deskRtp >= DESK.rtp[0] && deskRtp <= DESK.rtp[1], `the phone answered with its own RTP port (${deskRtp})`);

      const { first, later } = await pageHears(alice);
      t.ok(later.bytesReceived > first.bytesReceived, `the page keeps receiving: bytesReceived ${first.bytesReceived} → ${later.bytesReceived} (${later.packetsReceived} packets)`);
      t.ok(later.audioLevel > 0, `the page plays the desk phone's tone (audioLevel ${later.audioLevel.toFixed(3)})`);
      t.match(later.codec ?? '', /^audio\/(PCMU|PCMA)$/i, `G.711 passed through, no transcoding (${later.codec})`);
      t.equal(later.iceState, 'connected', 'ICE connected to rtpengine');
      t.equal(later.currentDirection, 'sendrecv');
      t.ok(later.bytesSent > 1000, `the page sends (bytesSent ${later.bytesSent})`);
      await until('the level meter to move', async () => Number(await text(alice, '#level-text')) > 0, 5000);
      t.match(await text(alice, '#peer'), /deskphone@sipflow\.test/, 'the page shows the desk phone as the peer');
      await alice.screenshot({ path: join(SCREENSHOTS, 'softphone-deskphone.png') });
      await relayCounters(t, callId, deskRtp);

      const closedFrom = desk.ctrl.events.length;
      const hung = await desk.ctrl.command('hangup');
      t.ok(hung.ok, 'baresip hangs up on command');
      const closed = await desk.ctrl.waitForEvent('CALL_CLOSED', closedFrom, 10_000);
      t.equal(closed.id, up.id, 'baresip closed that call');
      await until('alice sees the end', async () => (await text(alice, '#call-state')) === 'ended', 10_000);
      t.equal(await text(alice, '#end-reason'), 'the other side hung up', 'the page shows the desk phone hung up');
      t.ok(pageReceived(await text(alice, '#log'), /^BYE /, callId), 'the BYE reached the page');

      // baresip closed its dump when the call ended.
      const dec = newDecoded(desk, before);
      t.equal(dec.length, 1, `baresip dumped this call's decoded audio (${dec.length} file)`);
      const w = dec[0] ? wavStats(dec[0]) : { peak: 0, samples: 0, rate: 0 };
      t.ok(w.samples > w.rate, `more than a second of decoded audio (${w.samples} samples at ${w.rate} Hz)`);
      t.ok(w.peak > 2000, `the desk phone decoded the browser's beep, not silence (peak ${w.peak})`);
    });
  });

  await t.test('the desk phone calls the browser: the page rings and answers, audio both ways through rtpengine, the browser hangs up', async (t) => {
    await explained(t, c, desk, alice, async () => {
      const before = new Set(desk.baresip.recordings().decoded);
      const from = desk.ctrl.events.length;
      const dial = await desk.ctrl.command('dial', `sip:alice@${DOMAIN}`);
      t.ok(dial.ok, 'baresip dials alice');
      await alice.waitForSelector('#incoming:not([hidden])', { timeout: 10_000 });
      t.match(await text(alice, '#incoming-from'), /sip:deskphone@sipflow\.test/, 'the page rings and shows the desk phone calling');
      t.equal((await snapshot(alice)).call?.direction, 'incoming');
      const invite = lastMessage(desk.relay.trace(), 'phone->core', /^INVITE /, /^Proxy-Authorization:/m);
      t.ok(invite, 'the desk phone authenticated its INVITE (407, then MD5 credentials)');
      const callId = header(invite, 'Call-ID');
      t.match(sdpOf(invite), /^m=audio \d+ RTP\/AVP /m, 'the phone offered plain RTP');
      const deskRtp = Number(/^m=audio (\d+) RTP\/AVP /m.exec(sdpOf(invite))?.[1]);

      await alice.click('#answer');
      const up = await desk.ctrl.waitForEvent('CALL_ESTABLISHED', from, 10_000);
      t.equal(up.direction, 'outgoing', 'baresip sees its outgoing call answered');
      await until('alice established', async () => (await text(alice, '#call-state')) === 'established', 10_000);
      const answer = sdpOf(lastMessage(desk.relay.trace(), 'core->phone', /^SIP\/2\.0 200 /, /^CSeq: \d+ INVITE/m));
      const port = Number(/^m=audio (\d+) RTP\/AVP /m.exec(answer)?.[1]);
      t.ok(port >= RTPENGINE_PORTS[0] && port <= RTPENGINE_PORTS[1], `the browser's answer reached the phone as RTP/AVP on an rtpengine port (${port})`);
      t.notMatch(answer, /^a=(ice-ufrag|fingerprint|setup|candidate|msid|ssrc)/m, 'no ICE, DTLS or WebRTC attributes in the answer to the phone');

      const { first, later } = await pageHears(alice);
      t.ok(later.bytesReceived > first.bytesReceived, `the page keeps receiving: bytesReceived ${first.bytesReceived} → ${later.bytesReceived} (${later.packetsReceived} packets)`);
      t.ok(later.audioLevel > 0, `the page plays the desk phone's tone (audioLevel ${later.audioLevel.toFixed(3)})`);
      t.match(later.codec ?? '', /^audio\/(PCMU|PCMA)$/i, `G.711 passed through (${later.codec})`);
      t.equal(later.iceState, 'connected');
      t.ok(later.bytesSent > 1000, `the page sends (bytesSent ${later.bytesSent})`);
      await relayCounters(t, callId, deskRtp);

      const closedFrom = desk.ctrl.events.length;
      await alice.click('#hangup');
      await until('alice ended', async () => (await text(alice, '#call-state')) === 'ended', 10_000);
      t.equal(await text(alice, '#end-reason'), 'hung up here');
      const closed = await desk.ctrl.waitForEvent('CALL_CLOSED', closedFrom, 10_000);
      // libre reports a BYE from the peer as ECONNRESET.
      t.equal(closed.id, up.id, `the desk phone sees the call closed (${closed.param})`);
      const trace = desk.relay.trace();
      t.match(lastMessage(trace, 'core->phone', /^BYE /), new RegExp(`^Call-ID: ${callId}$`, 'm'), 'the BYE reached the desk phone');
      t.ok(lastMessage(trace, 'phone->core', /^SIP\/2\.0 200 /, /^CSeq: \d+ BYE/m), 'and it answered 200 OK');
      t.equal((await snapshot(alice)).call?.id, 2, 'the second call on the page');
      await relayReleased(t, callId);

      const dec = newDecoded(desk, before);
      t.equal(dec.length, 1, `baresip dumped this call's decoded audio (${dec.length} file)`);
      const w = dec[0] ? wavStats(dec[0]) : { peak: 0, samples: 0, rate: 0 };
      t.ok(w.samples > w.rate, `more than a second of decoded audio (${w.samples} samples at ${w.rate} Hz)`);
      t.ok(w.peak > 2000, `the desk phone decoded the browser's beep, not silence (peak ${w.peak})`);
    });
  });

  await t.test('RFC 3261 §16.6: in-dialog requests from the desk phone pass a core, so its re-INVITE is converted for the browser and its BYE deletes the call in rtpengine', async (t) => {
    await explained(t, c, desk, alice, async () => {
      const from = desk.ctrl.events.length;
      await alice.fill('#target', 'deskphone');
      await alice.click('#call');
      const up = await desk.ctrl.waitForEvent('CALL_ESTABLISHED', from, 10_000);
      await until('alice established', async () => (await text(alice, '#call-state')) === 'established', 10_000);
      const callId = header(lastMessage(desk.relay.trace(), 'core->phone', /^INVITE /), 'Call-ID');
      await pageHears(alice);
      const cores = c.nodes.filter((n) => n.role === 'core').map((n) => n.address.replace(/^udp:/, ''));

      // RFC 3264 §8.4 hold from the phone: a re-INVITE with a=sendonly.
      const held = await desk.ctrl.command('hold');
      t.ok(held.ok, 'baresip puts the call on hold');
      const reinvite = await until('the re-INVITE at the page', async () => pageReceived(await text(alice, '#log'), /^INVITE /, callId) || undefined, 5000);
      t.ok(vias(reinvite).some((v) => cores.includes(v)), `the re-INVITE passed a core (Via: ${vias(reinvite).join(', ')})`);
      t.match(sdpOf(reinvite.replace(/\r\n/g, '\n')), /^m=audio \d+ UDP\/TLS\/RTP\/SAVPF /m, `the page got a WebRTC offer (${/^m=.*$/m.exec(reinvite)?.[0]})`);
      await until('the page held by the desk phone', async () => (await snapshot(alice)).call?.remoteHeld === true, 3000).catch(() => undefined);
      t.equal((await snapshot(alice)).call?.remoteHeld, true, 'the page shows it is held by the peer');

      const closedFrom = desk.ctrl.events.length;
      await desk.ctrl.command('hangup');
      const closed = await desk.ctrl.waitForEvent('CALL_CLOSED', closedFrom, 10_000);
      t.equal(closed.id, up.id, 'baresip closed the call');
      await until('alice ended', async () => (await text(alice, '#call-state')) === 'ended', 10_000);
      const bye = pageReceived(await text(alice, '#log'), /^BYE /, callId);
      t.ok(vias(bye).some((v) => cores.includes(v)), `the BYE passed a core (Via: ${vias(bye).join(', ')})`);
      await relayReleased(t, callId);
    });
  });

  await t.test('the desk phone stops cleanly: it un-REGISTERs through its home core before the cluster goes', async (t) => {
    const stopped = await desk.baresip.stop(5000);
    t.ok(stopped.graceful, 'baresip exits on SIGTERM once its un-REGISTER is answered');
    const unregister = lastMessage(desk.relay.trace(), 'phone->core', /^REGISTER /, /^Contact: [^\n]*;expires=0|^Expires: 0/m);
    t.ok(unregister, 'it sent a REGISTER with expires=0');
    const cseq = header(unregister, 'CSeq');
    t.ok(cseq && lastMessage(desk.relay.trace(), 'core->phone', /^SIP\/2\.0 200 /, new RegExp(`^CSeq: ${cseq}$`, 'm')), `the core answered it 200 OK (CSeq ${cseq})`);
  });
});
