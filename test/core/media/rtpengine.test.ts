/** The media anchor against a real rtpengine daemon, and a core whose rtpengine does not answer. */
import t from 'tap';
import { startRtpengine } from '../../helpers/rtpengine.js';
import { RtpengineClient } from '../../../core/media/rtpengine-client.js';
import { MediaAnchor } from '../../../core/media/media-anchor.js';
import { parseRequest, parseResponse } from '../../helpers/sip-text.js';
import { CoreNode } from '../../../core/core-node.js';
import { MemoryLocationStore } from '../../../core/location/memory-store.js';
import { UdpUa, branch, callId } from '../../helpers/udp-ua.js';
import { sipText } from '../../helpers/sip-text.js';

const browserOffer = [
  'v=0',
  'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0',
  'a=msid-semantic: WMS stream',
  'm=audio 40100 UDP/TLS/RTP/SAVPF 111 0 8 126',
  'c=IN IP4 127.0.0.1',
  'a=rtcp:9 IN IP4 0.0.0.0',
  'a=candidate:1 1 udp 2122260223 127.0.0.1 40100 typ host generation 0',
  'a=ice-ufrag:abcd',
  'a=ice-pwd:abcdefghijklmnopqrstuvwx',
  'a=ice-options:trickle',
  'a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF',
  'a=setup:actpass',
  'a=mid:0',
  'a=sendrecv',
  'a=msid:stream track',
  'a=rtcp-mux',
  'a=rtpmap:111 opus/48000/2',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:126 telephone-event/8000',
  'a=ssrc:1111 cname:abc',
  '',
].join('\r\n');

const phoneAnswer = ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 42000 RTP/AVP 0 126', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:126 telephone-event/8000', 'a=sendrecv', ''].join('\r\n');

t.test('browser → phone: the phone gets RTP/AVP, the browser gets ICE + DTLS back', async (t) => {
  const rtp = await startRtpengine({ ngPort: 25001, portMin: 25100, portMax: 25199 });
  const anchor = new MediaAnchor(new RtpengineClient({ instances: [rtp.ng] }));
  t.teardown(async () => {
    anchor.close();
    await rtp.stop();
  });
  const cid = callId();
  const invite = parseRequest(
    ['INVITE sip:deskphone@127.0.0.1:5070 SIP/2.0', 'Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKx', 'To: <sip:deskphone@example.com>', 'From: <sip:alice@example.com>;tag=b', `Call-ID: ${cid}`, 'CSeq: 1 INVITE', 'Content-Type: application/sdp'],
    browserOffer,
  );
  const offerer = await anchor.offer(invite, 'rtp');
  t.equal(offerer, 'webrtc', 'anchored, answer to be converted for the browser');
  const phoneSdp = invite.body.toString();
  t.match(phoneSdp, /^m=audio 251\d\d RTP\/AVP/m, 'plain RTP on an rtpengine port');
  t.notMatch(phoneSdp, /a=fingerprint|a=ice-ufrag|a=msid|a=ssrc/, 'no ICE, DTLS or WebRTC-only attributes for the phone');
  t.match(phoneSdp, /c=IN IP4 127\.0\.0\.1/);
  const ok = parseResponse(['SIP/2.0 200 OK', 'Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKx', 'To: <sip:deskphone@example.com>;tag=p', 'From: <sip:alice@example.com>;tag=b', `Call-ID: ${cid}`, 'CSeq: 1 INVITE', 'Content-Type: application/sdp'], phoneAnswer);
  await anchor.answer(invite, ok, offerer!);
  const browserSdp = ok.body.toString();
  t.match(browserSdp, /m=audio \d+ UDP\/TLS\/RTP\/SAVPF/);
  t.match(browserSdp, /a=fingerprint:sha-256/);
  t.match(browserSdp, /a=setup:passive/, 'rtpengine stays DTLS passive (no handshake race)');
  t.match(browserSdp, /a=ice-ufrag:/);
  t.match(browserSdp, /a=candidate:.* 127\.0\.0\.1 \d+ typ host/);
  t.match(browserSdp, /a=rtcp-mux/);
  await anchor.release(cid);
  await anchor.release('never-anchored-call');
  t.pass('delete of an unknown call is harmless');
});

t.test('phone → browser: the browser gets a WebRTC offer', async (t) => {
  const rtp = await startRtpengine({ ngPort: 25002, portMin: 25200, portMax: 25299 });
  const anchor = new MediaAnchor(new RtpengineClient({ instances: [rtp.ng] }));
  t.teardown(async () => {
    anchor.close();
    await rtp.stop();
  });
  const invite = parseRequest(
    ['INVITE sip:k3@abc.invalid;transport=ws SIP/2.0', 'Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKy', 'To: <sip:alice@example.com>', 'From: <sip:deskphone@example.com>;tag=p', `Call-ID: ${callId()}`, 'CSeq: 1 INVITE', 'Content-Type: application/sdp'],
    phoneAnswer,
  );
  t.equal(await anchor.offer(invite, 'webrtc'), 'rtp');
  const sdp = invite.body.toString();
  t.match(sdp, /UDP\/TLS\/RTP\/SAVPF/);
  t.match(sdp, /a=fingerprint/);
  t.match(sdp, /a=ice-pwd/);
  t.match(sdp, /a=mid:/, 'a mid for the browser (generate-mid)');
  t.equal(await anchor.offer(parseRequest(['INVITE sip:x@y SIP/2.0', 'Via: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bKz', 'To: <sip:x@y>', 'From: <sip:a@y>;tag=1', 'Call-ID: z', 'CSeq: 1 INVITE', 'Content-Type: application/sdp'], phoneAnswer), 'rtp'), undefined, 'RTP ⇄ RTP passes untouched');
});

t.test('no rtpengine answers: a browser → phone call fails with a clear 5xx, quickly', async (t) => {
  const store = new MemoryLocationStore();
  const node = new CoreNode({ udp: { host: '127.0.0.1', port: 0 }, domain: 'example.com', auth: false, secrets: ['media-test-secret-0123456789'], rtpengine: [{ host: '127.0.0.1', port: 25009 }] }, { store });
  const { udp } = await node.start();
  const phone = await UdpUa.open();
  const caller = await UdpUa.open();
  t.teardown(async () => {
    phone.close();
    caller.close();
    await node.stop();
  });
  phone.send(sipText(['REGISTER sip:example.com SIP/2.0', `Via: SIP/2.0/UDP 127.0.0.1:${phone.port};branch=${branch()}`, 'Max-Forwards: 70', 'To: <sip:deskphone@example.com>', 'From: <sip:deskphone@example.com>;tag=1', 'Call-ID: r1', 'CSeq: 1 REGISTER', `Contact: <sip:deskphone@127.0.0.1:${phone.port}>`]), udp);
  await phone.response('r1', 'REGISTER');
  const cid = callId();
  const started = Date.now();
  caller.send(
    sipText(['INVITE sip:deskphone@example.com SIP/2.0', `Via: SIP/2.0/UDP 127.0.0.1:${caller.port};branch=${branch()}`, 'Max-Forwards: 70', 'To: <sip:deskphone@example.com>', 'From: <sip:alice@example.com>;tag=a', `Call-ID: ${cid}`, 'CSeq: 1 INVITE', `Contact: <sip:alice@127.0.0.1:${caller.port}>`, 'Content-Type: application/sdp'], browserOffer),
    udp,
  );
  const final = await caller.response(cid, 'INVITE', 200, 8000);
  t.ok(final.status >= 500 && final.status < 600, `5xx (${final.status} ${final.reason})`);
  t.ok(Date.now() - started < 5000, 'within the ng timeouts, not a hang');
  t.notOk(phone.received.some((m) => m.kind === 'request' && m.method === 'INVITE'), 'the phone never saw an offer it could not use');
});
