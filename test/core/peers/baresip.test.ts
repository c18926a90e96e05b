/**
 * baresip 1.0.0 as a real desk phone behind one in-process core: it registers with digest auth to
 * the core's IP address (as desk phones are usually set up), SIPp calls it through the core,
 * baresip auto-answers, and audio flows both ways: baresip's 440 Hz tone reaches the caller's RTP
 * socket (this test), and the caller's 1 kHz tone reaches baresip (its sndfile dump of decoded
 * audio is not silent). baresip is stopped BEFORE the core (it un-REGISTERs on SIGTERM).
 *
 * Ports (127.0.0.1): core 23100; SIPp UAC 23101 (control 23102, media 23104/23106); baresip SIP
 * 23110 (+23111 for TLS), RTP 23120-23129; the caller's RTP socket 23130.
 */
import t, { type Test } from 'tap';
import { createSocket } from 'node:dgram';
import { CoreNode } from '../../../core/core-node.js';
import { MemoryLocationStore } from '../../../core/location/memory-store.js';
import { addSubscriber } from '../../../core/subscribers.js';
import { Baresip, wavStats } from '../../helpers/baresip.js';
import { SippProcess, describe, stat } from '../../helpers/sipp.js';

const HOST = '127.0.0.1';
const DOMAIN = 'example.com';
const SECRET = 'baresip-peer-test-secret-0123456789';
const PORT = { core: 23100, uac: { sip: 23101, ctl: 23102, media: 23104 }, baresip: 23110, rtp: [23120, 23129] as [number, number], callerRtp: 23130 };
const AOR = `sip:deskphone@${DOMAIN}`;

async function startCore(t: Test) {
  const store = new MemoryLocationStore();
  await addSubscriber(store, 'deskphone', DOMAIN, 'desk-secret');
  const node = new CoreNode({ udp: { host: HOST, port: PORT.core }, domain: DOMAIN, auth: true, secrets: [SECRET] }, { store });
  const addr = (await node.start()).udp;
  return { node, store, addr };
}

function account(): string {
  // The phone is pointed at the core's IP: REGISTER sip:127.0.0.1:23100, To sip:deskphone@127.0.0.1:23100.
  return `<sip:deskphone@${HOST}:${PORT.core};transport=udp>;auth_pass=desk-secret;regint=60;answermode=auto;audio_codecs=PCMU/8000/1`;
}

/** G.711 μ-law encoding of one 16-bit sample (ITU-T G.711). */
function mulaw(sample: number): number {
  const BIAS = 0x84;
  let s = Math.max(-32635, Math.min(32635, sample));
  const sign = s < 0 ? 0x80 : 0;
  if (s < 0) s = -s;
  s += BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (s >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

function mulawDecode(u: number): number {
  const v = ~u & 0xff;
  const t = (((v & 0x0f) << 3) + 0x84) << ((v & 0x70) >> 4);
  return v & 0x80 ? 0x84 - t : t - 0x84;
}

t.test('baresip registers against the core’s default challenge set (baresip 1.0.0 reads only the first challenge: it must be MD5)', async (t) => {
  const { node, store } = await startCore(t);
  const phone = await Baresip.start({ sipListen: { host: HOST, port: PORT.baresip }, rtpPorts: PORT.rtp, accounts: [account()] });
  t.teardown(async () => {
    await phone.dispose();
    await node.stop();
  });
  const outcome = await Promise.race([
    phone.waitFor(/200 OK \(\) \[\d+ binding/, 4000).then(() => 'registered'),
    phone.waitFor(/Register: ([^\n]+)/, 4000).then((m) => `failed: ${m[1]}`),
  ]).catch((err: Error) => `no outcome: ${err.message.slice(0, 200)}`);
  t.equal(outcome, 'registered', `baresip registers with digest auth (${outcome})`);
  t.equal((await store.lookup(AOR)).length, 1, 'a binding was stored');
});

t.test('a desk phone: baresip registers with digest auth, a SIPp call through the core is auto-answered, audio flows both ways', async (t) => {
  const { node, store, addr } = await startCore(t);
  let phone: Baresip | undefined;
  t.teardown(async () => {
    // baresip first: it un-REGISTERs on SIGTERM and waits for the core's answer.
    await phone?.dispose();
    await node.stop();
  });

  phone = await Baresip.start({ sipListen: { host: HOST, port: PORT.baresip }, rtpPorts: PORT.rtp, accounts: [account()] });
  await phone.waitFor(/deskphone@127\.0\.0\.1[^ ]*: \{0\/UDP\/v4\} 200 OK \(\) \[1 binding\]/, 5000);
  const bindings = await store.lookup(AOR);
  t.equal(bindings.length, 1, 'one binding for the phone’s AOR (registered to the core’s IP, stored under the domain)');
  const b = bindings[0]!;
  t.match(b.contact, new RegExp(`^sip:deskphone-[^@]+@${HOST}:${PORT.baresip}`), 'the phone’s own Contact');
  t.equal(b.received, `udp:${HOST}:${PORT.baresip}`, 'received is the phone’s source address');
  t.match(b.userAgent ?? '', /baresip/, 'User-Agent kept');
  t.match(b.path[0] ?? '', new RegExp(`@${HOST}:${PORT.core};transport=udp;lr>$`), 'Path to this core (the phone’s home core)');
  const regMetrics = await node.metrics.registry.getSingleMetricAsString('sipflow_core_registrations_total');
  t.match(regMetrics, /outcome="auth"\} [1-9]/, 'the phone was challenged first');

  const rtp = createSocket('udp4');
  await new Promise<void>((res) => rtp.bind(PORT.callerRtp, HOST, () => res()));
  t.teardown(() => new Promise<void>((res) => rtp.close(() => res())));
  const fromPhone = { packets: 0, peak: 0, source: '' };
  rtp.on('message', (m, rinfo) => {
    if (m.length < 12 || (m[0]! & 0xc0) !== 0x80 || (m[1]! & 0x7f) !== 0) return;
    fromPhone.packets++;
    fromPhone.source = `${rinfo.address}:${rinfo.port}`;
    for (let i = 12; i < m.length; i++) fromPhone.peak = Math.max(fromPhone.peak, Math.abs(mulawDecode(m[i]!)));
  });

  const uac = SippProcess.start({
    scenario: 'uac-call.xml',
    local: { host: HOST, port: PORT.uac.sip },
    controlPort: PORT.uac.ctl,
    mediaPort: PORT.uac.media,
    remote: addr,
    service: 'deskphone',
    // A caller from another domain: a core with auth on challenges only its own users.
    keys: { domain: DOMAIN, from_domain: 'caller.example.net', rtpport: PORT.callerRtp },
    pauseMs: 3000,
  });
  t.teardown(() => uac.dispose());
  const [, ip, port] = await uac.waitForLog(/answer (\S+) (\d+) /, 8000);
  t.equal(ip, HOST, 'the phone’s SDP answer');
  t.ok(Number(port) >= PORT.rtp[0] && Number(port) <= PORT.rtp[1], `media port ${port} from the phone’s rtp_ports`);
  await phone.waitFor(/Call established/, 3000);

  // 2 s of a 1 kHz tone, 20 ms PCMU packets, to the address in the phone's answer.
  for (let seq = 0; seq < 100; seq++) {
    const pkt = Buffer.alloc(172);
    pkt[0] = 0x80;
    pkt[1] = seq === 0 ? 0x80 : 0; // marker on the first packet, PT 0
    pkt.writeUInt16BE(seq, 2);
    pkt.writeUInt32BE(seq * 160, 4);
    pkt.writeUInt32BE(0x51f10e, 8);
    for (let i = 0; i < 160; i++) pkt[12 + i] = mulaw(Math.round(12000 * Math.sin((2 * Math.PI * 1000 * (seq * 160 + i)) / 8000)));
    rtp.send(pkt, Number(port), ip!);
    await new Promise((r) => setTimeout(r, 20));
  }

  const r = await uac.done;
  t.equal(r.code, 0, `SIPp’s call to the phone succeeds: ${describe(r)}`);
  t.equal(stat(r, 'SuccessfulCall(C)'), 1, 'one successful call (INVITE, 200, ACK, BYE, 200)');
  t.match(/contact (\S+)/.exec(r.logs)?.[1] ?? '', new RegExp(`@${DOMAIN};sfc=`), 'the phone’s Contact in the 200 was rewritten by its home core');
  t.ok(fromPhone.packets >= 50, `phone → caller: ${fromPhone.packets} RTP packets from ${fromPhone.source}`);
  t.ok(fromPhone.peak > 2000, `and they carry the phone’s tone (peak ${fromPhone.peak})`);
  t.equal(fromPhone.source, `${ip}:${port}`, 'symmetric RTP: sent from the port in its SDP');
  t.match(phone.output, /answer|established/i, 'baresip says it answered');

  // caller → phone: baresip's dump of what it decoded holds our tone.
  await phone.waitFor(/terminated|closed|BYE/i, 3000).catch(() => undefined);
  const stopped = await phone.stop(5000);
  t.ok(stopped.graceful, 'baresip stops on SIGTERM (its un-REGISTER was answered)');
  t.equal((await store.lookup(AOR)).length, 0, 'the un-REGISTER removed the binding');
  const dec = phone.recordings().decoded;
  t.ok(dec.length >= 1, `baresip dumped the decoded audio (${dec.length} file)`);
  const peak = Math.max(0, ...dec.map((f) => wavStats(f).peak));
  t.ok(peak > 2000, `caller → phone: the audio baresip decoded is not silence (peak ${peak})`);
});
