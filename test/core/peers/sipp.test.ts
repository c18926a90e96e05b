/**
 * SIPp (a real, independent SIP implementation) through one in-process core node with the memory
 * store: digest REGISTER, a call with RTP, CANCEL, busy, forking and no answer. Scenarios are in
 * test/fixtures/sipp; every SIPp run is bounded by -timeout 20s (a failure, with -timeout_error)
 * and checked by exit code, its stats row and its <log> lines.
 *
 * Ports (127.0.0.1): core 23000; SIPp UAC 23001 (control 23002, media 23004/23006); UAS one 23010
 * (23011, 23012/23014); UAS two 23020 (23021, 23022/23024); the caller's RTP socket 23030; SIPp
 * registrar client 23040 (23041, 23042/23044); a silent contact 23050.
 */
import t, { type Test } from 'tap';
import { createSocket } from 'node:dgram';
import { CoreNode, type CoreNodeOptions } from '../../../core/core-node.js';
import { MemoryLocationStore } from '../../../core/location/memory-store.js';
import { addSubscriber } from '../../../core/subscribers.js';
import { SippProcess, describe, stat, type SippOptions, type SippResult } from '../../helpers/sipp.js';
import { udpUaAt } from '../../helpers/netns.js';
import { branch } from '../../helpers/udp-ua.js';
import { sipText } from '../../helpers/sip-text.js';

const HOST = '127.0.0.1';
const DOMAIN = 'example.com';
const SECRET = 'sipp-peer-test-secret-0123456789';
const PORT = {
  core: 23000,
  uac: { sip: 23001, ctl: 23002, media: 23004 },
  uas1: { sip: 23010, ctl: 23011, media: 23012 },
  uas2: { sip: 23020, ctl: 23021, media: 23022 },
  rtp: 23030,
  reg: { sip: 23040, ctl: 23041, media: 23042 },
  silent: 23050,
};

type Tap = Test;

async function startCore(t: Tap, opts: Partial<CoreNodeOptions> = {}, store = new MemoryLocationStore()) {
  const node = new CoreNode({ udp: { host: HOST, port: PORT.core }, domain: DOMAIN, auth: false, secrets: [SECRET], ...opts }, { store });
  const addr = (await node.start()).udp;
  t.teardown(() => node.stop());
  return { node, store, addr };
}

/**
 * REGISTERs `user` with Contact sip:user@127.0.0.1:port from that very port, so the binding's flow
 * (and the core's Path token) names the address the SIPp UAS will listen on; then frees the port.
 */
async function registerOnBehalf(user: string, port: number, core: { host: string; port: number }): Promise<void> {
  const s = createSocket('udp4');
  await new Promise<void>((res) => s.bind(port, HOST, () => res()));
  const cid = `reg-${user}-${port}`;
  try {
    const status = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to the REGISTER of ${user}`)), 3000);
      s.on('message', (m) => {
        const first = m.toString('utf8').split('\r\n', 1)[0]!;
        if (!m.includes(cid)) return;
        clearTimeout(timer);
        resolve(Number(first.split(' ')[1]));
      });
      s.send(
        sipText([
          `REGISTER sip:${DOMAIN} SIP/2.0`,
          `Via: SIP/2.0/UDP ${HOST}:${port};branch=${branch()};rport`,
          'Max-Forwards: 70',
          `To: <sip:${user}@${DOMAIN}>`,
          `From: <sip:${user}@${DOMAIN}>;tag=r${port}`,
          `Call-ID: ${cid}`,
          'CSeq: 1 REGISTER',
          `Contact: <sip:${user}@${HOST}:${port}>`,
          'Expires: 300',
        ]),
        core.port,
        core.host,
      );
    });
    if (status !== 200) throw new Error(`REGISTER of ${user} answered ${status}`);
  } finally {
    await new Promise<void>((res) => s.close(() => res()));
  }
}

function sipp(t: Tap, opts: SippOptions): SippProcess {
  const p = SippProcess.start(opts);
  t.teardown(() => p.dispose());
  return p;
}

const uacBase = (core: { host: string; port: number }, service: string): SippOptions => ({
  scenario: 'uac-call.xml',
  local: { host: HOST, port: PORT.uac.sip },
  controlPort: PORT.uac.ctl,
  mediaPort: PORT.uac.media,
  remote: core,
  service,
  keys: { domain: DOMAIN, from_domain: DOMAIN, rtpport: PORT.uac.media },
});

const uasBase = (which: 'uas1' | 'uas2', scenario: string, service: string): SippOptions => ({
  scenario,
  local: { host: HOST, port: PORT[which].sip },
  controlPort: PORT[which].ctl,
  mediaPort: PORT[which].media,
  service,
});

function succeeded(t: Tap, r: SippResult, who: string): void {
  t.equal(r.code, 0, `${who} exits 0: ${describe(r)}`);
  t.equal(stat(r, 'SuccessfulCall(C)'), 1, `${who}: one successful call`);
  t.equal(stat(r, 'FailedCall(C)'), 0, `${who}: no failed call`);
}

t.test('REGISTER: SIPp answers the core’s default challenge set (SIPp 3.6.1 reads only the first challenge: it must be MD5)', async (t) => {
  const store = new MemoryLocationStore();
  await addSubscriber(store, 'alice', DOMAIN, 'alice-pw');
  const { addr } = await startCore(t, { auth: true }, store);
  const r = await SippProcess.run({
    scenario: 'register-auth.xml',
    local: { host: HOST, port: PORT.reg.sip },
    controlPort: PORT.reg.ctl,
    mediaPort: PORT.reg.media,
    remote: addr,
    service: 'alice',
    keys: { domain: DOMAIN, expires: 300 },
    auth: { user: 'alice', password: 'alice-pw' },
  });
  t.equal(r.code, 0, `SIPp registers with digest: ${describe(r)}`);
  t.equal((await store.lookup(`sip:alice@${DOMAIN}`)).length, 1, 'a binding was stored');
});

t.test('REGISTER with digest auth (RFC 3261 §22.4): SIPp answers a 401 MD5 challenge and gets 200 with a Path to this core', async (t) => {
  const store = new MemoryLocationStore();
  await addSubscriber(store, 'alice', DOMAIN, 'alice-pw');
  const { node, addr } = await startCore(t, { auth: true }, store);
  const r = await SippProcess.run({
    scenario: 'register-auth.xml',
    local: { host: HOST, port: PORT.reg.sip },
    controlPort: PORT.reg.ctl,
    mediaPort: PORT.reg.media,
    remote: addr,
    service: 'alice',
    keys: { domain: DOMAIN, expires: 300 },
    auth: { user: 'alice', password: 'alice-pw' },
  });
  succeeded(t, r, 'SIPp registrar client');
  t.match(r.logs, /challenge algorithm=MD5/, 'SIPp was challenged with MD5');
  t.match(r.logs, new RegExp(`path\\s+<sip:[^@>]+@${HOST}:${PORT.core};transport=udp;lr>`), 'the 200 carries the Path of this (home) core with a flow token');
  const bindings = await store.lookup(`sip:alice@${DOMAIN}`);
  t.equal(bindings.length, 1, 'one binding');
  t.equal(bindings[0]?.contact, `sip:alice@${HOST}:${PORT.reg.sip}`, 'the binding is SIPp’s Contact');
  t.equal(bindings[0]?.received, `udp:${HOST}:${PORT.reg.sip}`, 'received is SIPp’s source address');
  const m = await node.metrics.registry.getSingleMetricAsString('sipflow_core_registrations_total');
  t.match(m, /outcome="auth"\} 1/, 'one REGISTER was challenged');
  t.match(m, /outcome="ok"\} 1/, 'one REGISTER succeeded');

  const wrong = await SippProcess.run({
    scenario: 'register-auth.xml',
    local: { host: HOST, port: PORT.reg.sip },
    controlPort: PORT.reg.ctl,
    mediaPort: PORT.reg.media,
    remote: addr,
    service: 'alice',
    keys: { domain: DOMAIN, expires: 300 },
    auth: { user: 'alice', password: 'not-the-password' },
    timeoutS: 5,
  });
  t.not(wrong.code, 0, 'a wrong password does not get 200');
  t.match(wrong.errors + wrong.stdout, /401/, 'it is challenged again instead');
});

t.test('a call with audio: SIPp UAC → core → SIPp UAS (-rtp_echo); the SDP answer arrives intact and RTP sent to it comes back', async (t) => {
  const { addr } = await startCore(t);
  await registerOnBehalf('bob', PORT.uas1.sip, addr);
  const uas = sipp(t, { ...uasBase('uas1', 'uas-answer.xml', 'bob'), rtpEcho: true });
  await uas.ready();
  const rtp = createSocket('udp4');
  await new Promise<void>((res) => rtp.bind(PORT.rtp, HOST, () => res()));
  t.teardown(() => new Promise<void>((res) => rtp.close(() => res())));
  const uac = sipp(t, { ...uacBase(addr, 'bob'), keys: { domain: DOMAIN, from_domain: DOMAIN, rtpport: PORT.rtp }, pauseMs: 2500 });

  // The caller's media endpoint is this socket: once SIPp logs the answer, send 50 PCMU packets
  // (20 ms each) to the address the callee's SDP gave and count what comes back.
  const [, ip, port] = await uac.waitForLog(/answer (\S+) (\d+) /, 8000);
  t.equal(`${ip}:${port}`, `${HOST}:${PORT.uas1.media}`, 'the SDP answer names the callee’s media port');
  const echoed = new Set<number>();
  rtp.on('message', (m) => {
    if (m.length === 172 && m[0] === 0x80) echoed.add(m.readUInt16BE(2));
  });
  for (let seq = 0; seq < 50; seq++) {
    const pkt = Buffer.alloc(172, 0xff);
    pkt[0] = 0x80;
    pkt[1] = 0; // PCMU
    pkt.writeUInt16BE(seq, 2);
    pkt.writeUInt32BE(seq * 160, 4);
    pkt.writeUInt32BE(0x5151, 8);
    rtp.send(pkt, Number(port), ip!);
    await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, 200));
  t.ok(echoed.size >= 45, `RTP flows both ways: ${echoed.size}/50 packets came back`);

  const [uasR, uacR] = await Promise.all([uas.done, uac.done]);
  succeeded(t, uacR, 'UAC');
  succeeded(t, uasR, 'UAS');
  const contact = /contact (\S+)/.exec(uacR.logs)?.[1] ?? '';
  t.match(contact, new RegExp(`^sip:[^@]+@${DOMAIN};sfc=`), 'the 200’s Contact was rewritten by the callee’s home core');
  const sfc = /;sfc=([A-Za-z0-9_-]+)/.exec(contact)?.[1] ?? '';
  t.match(Buffer.from(sfc, 'base64url').toString(), new RegExp(`^sip:bob@${HOST}:${PORT.uas1.sip}`), 'and it carries the callee’s original Contact');
});

t.test('CANCEL before answer (RFC 3261 §16.10): the caller gets 200 for the CANCEL and 487; the ringing callee gets the CANCEL', async (t) => {
  const { node, addr } = await startCore(t);
  await registerOnBehalf('erin', PORT.uas1.sip, addr);
  const uas = sipp(t, uasBase('uas1', 'uas-ring-cancel.xml', 'erin'));
  await uas.ready();
  const uac = sipp(t, { ...uacBase(addr, 'erin'), scenario: 'uac-cancel.xml' });
  const [uasR, uacR] = await Promise.all([uas.done, uac.done]);
  succeeded(t, uacR, 'UAC');
  succeeded(t, uasR, 'UAS');
  t.match(uacR.logs, /final 487/, 'the INVITE ended with 487');
  t.match(uasR.logs, /cancelled/, 'the callee received the CANCEL');
  await new Promise((r) => setTimeout(r, 100));
  t.equal((await node.metrics.callsActive.get()).values[0]?.value, 0, 'no INVITE context left');
});

t.test('busy: the callee’s 486 reaches the caller; the core ACKs it hop by hop (§17.1.1.3)', async (t) => {
  const { addr } = await startCore(t);
  await registerOnBehalf('fred', PORT.uas1.sip, addr);
  const uas = sipp(t, uasBase('uas1', 'uas-busy.xml', 'fred'));
  await uas.ready();
  const uac = sipp(t, { ...uacBase(addr, 'fred'), scenario: 'uac-rejected.xml' });
  const [uasR, uacR] = await Promise.all([uas.done, uac.done]);
  succeeded(t, uacR, 'UAC');
  succeeded(t, uasR, 'UAS (it waits for the ACK of its 486)');
  t.match(uacR.logs, /final 486/, 'the caller got 486 Busy Here');
});

t.test('forking (§16.7 step 10): two contacts ring, the first 200 wins, the other branch gets CANCEL', async (t) => {
  const { addr, store } = await startCore(t);
  await registerOnBehalf('dave', PORT.uas1.sip, addr);
  await registerOnBehalf('dave', PORT.uas2.sip, addr);
  t.equal((await store.lookup(`sip:dave@${DOMAIN}`)).length, 2, 'two contacts registered');
  const winner = sipp(t, { ...uasBase('uas1', 'uas-answer.xml', 'dave'), rtpEcho: true });
  const loser = sipp(t, uasBase('uas2', 'uas-ring-cancel.xml', 'dave'));
  await Promise.all([winner.ready(), loser.ready()]);
  const uac = sipp(t, { ...uacBase(addr, 'dave'), pauseMs: 300 });
  const [w, l, c] = await Promise.all([winner.done, loser.done, uac.done]);
  succeeded(t, c, 'UAC');
  succeeded(t, w, 'answering UAS');
  succeeded(t, l, 'ringing UAS (it gets CANCEL, answers 487 and gets the ACK)');
  t.match(l.logs, /cancelled/, 'the losing branch was cancelled');
  const sfc = /;sfc=([A-Za-z0-9_-]+)/.exec(/contact (\S+)/.exec(c.logs)?.[1] ?? '')?.[1] ?? '';
  t.match(Buffer.from(sfc, 'base64url').toString(), new RegExp(`@${HOST}:${PORT.uas1.sip}`), 'the dialog is with the contact that answered');
});

t.test('no answer: Timer C (§16.8) cancels a ringing branch; a silent contact gives 408; no binding gives 480', async (t) => {
  const { addr } = await startCore(t, { timerCMs: 1500 });

  await t.test('a contact that rings forever is cancelled when Timer C fires', async (t) => {
    await registerOnBehalf('gina', PORT.uas1.sip, addr);
    const uas = sipp(t, uasBase('uas1', 'uas-ring-cancel.xml', 'gina'));
    await uas.ready();
    const started = Date.now();
    const uac = sipp(t, { ...uacBase(addr, 'gina'), scenario: 'uac-rejected.xml' });
    const [uasR, uacR] = await Promise.all([uas.done, uac.done]);
    succeeded(t, uacR, 'UAC');
    succeeded(t, uasR, 'UAS');
    t.match(uasR.logs, /cancelled/, 'the ringing contact got a CANCEL from the core');
    const final = Number(/final (\d+)/.exec(uacR.logs)?.[1]);
    t.ok(final === 408 || final === 487, `the caller gets a final response when nobody answers (${final})`);
    t.ok(Date.now() - started >= 1400, 'not before Timer C');
  });

  await t.test('a contact that never answers at all: 408 when Timer C fires', async (t) => {
    const silent = await udpUaAt(HOST, PORT.silent);
    t.teardown(() => silent.close());
    silent.send(
      sipText([
        `REGISTER sip:${DOMAIN} SIP/2.0`,
        `Via: SIP/2.0/UDP ${HOST}:${PORT.silent};branch=${branch()};rport`,
        'Max-Forwards: 70',
        `To: <sip:hank@${DOMAIN}>`,
        `From: <sip:hank@${DOMAIN}>;tag=s1`,
        'Call-ID: reg-hank',
        'CSeq: 1 REGISTER',
        `Contact: <sip:hank@${HOST}:${PORT.silent}>`,
        'Expires: 300',
      ]),
      addr,
    );
    t.equal((await silent.response('reg-hank', 'REGISTER')).status, 200);
    const uac = sipp(t, { ...uacBase(addr, 'hank'), scenario: 'uac-rejected.xml' });
    const r = await uac.done;
    succeeded(t, r, 'UAC');
    t.match(r.logs, /final 408/, 'the caller gets 408 Request Timeout');
    t.ok(silent.received.some((m) => m.kind === 'request' && m.method === 'INVITE'), 'the INVITE did reach the silent contact');
  });

  await t.test('nobody registered: 480', async (t) => {
    const uac = sipp(t, { ...uacBase(addr, 'nobody'), scenario: 'uac-rejected.xml' });
    const r = await uac.done;
    succeeded(t, r, 'UAC');
    t.match(r.logs, /final 480/, 'the caller gets 480 Temporarily Unavailable');
  });
});

t.test('a callee that rings and then ignores the CANCEL (RFC 3261 §9.1): the caller still gets a final response 64*T1 after the CANCEL, and the core forgets the call', async (t) => {
  // T1 = 50 ms so 64*T1 = 3.2 s; Timer C = 1 s.
  const { addr, node } = await startCore(t, { timerCMs: 1000, timers: { t1: 50 } });
  const deaf = await udpUaAt(HOST, PORT.silent);
  t.teardown(() => deaf.close());
  deaf.autoAnswer = (req) => (req.method === 'INVITE' ? { status: 180 } : undefined);
  deaf.send(
    sipText([
      `REGISTER sip:${DOMAIN} SIP/2.0`,
      `Via: SIP/2.0/UDP ${HOST}:${PORT.silent};branch=${branch()};rport`,
      'Max-Forwards: 70',
      `To: <sip:ivan@${DOMAIN}>`,
      `From: <sip:ivan@${DOMAIN}>;tag=d1`,
      'Call-ID: reg-ivan',
      'CSeq: 1 REGISTER',
      `Contact: <sip:ivan@${HOST}:${PORT.silent}>`,
      'Expires: 300',
    ]),
    addr,
  );
  t.equal((await deaf.response('reg-ivan', 'REGISTER')).status, 200);
  const started = Date.now();
  const r = await SippProcess.run({ ...uacBase(addr, 'ivan'), scenario: 'uac-rejected.xml', timeoutS: 10 });
  t.ok(deaf.received.some((m) => m.kind === 'request' && m.method === 'CANCEL'), 'Timer C made the core CANCEL the ringing branch');
  succeeded(t, r, 'UAC');
  t.match(r.logs, /final 408/, 'the caller gets 408 once the CANCEL went unanswered for 64*T1');
  t.ok(Date.now() - started < 8000, 'within Timer C + 64*T1 (+ margin)');
  await new Promise((res) => setTimeout(res, 300));
  t.equal((await node.metrics.callsActive.get()).values[0]?.value, 0, 'no INVITE context left behind');
});
