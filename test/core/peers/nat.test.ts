/**
 * A desk phone behind a NAT (RFC 5626's problem, solved the seed's way: the home core's flow).
 * baresip runs in network namespace sfcore-phone (10.200.1.2) behind sfcore-nat (iptables
 * MASQUERADE to 10.200.9.2); two in-process cores sharing one store listen on 10.200.9.1, in the
 * root namespace, which has no route to the phone's private network (test/helpers/netns.ts).
 * The phone registers to core A; a call entering core B reaches it through A, the only address the
 * NAT lets in. Needs root: without it the test fails and says so.
 *
 * Ports: cores 10.200.9.1:23300 (A) and :23301 (B); the caller 10.200.9.1:23311; a stranger
 * 10.200.9.1:23312; baresip 10.200.1.2:23310 (+23311 TLS), RTP 23320-23329.
 */
import t from 'tap';
import { CoreNode } from '../../../core/core-node.js';
import { MemoryLocationStore } from '../../../core/location/memory-store.js';
import { FlowTokenCodec } from '../../../sip/outbound/flow-token.js';
import { Baresip } from '../../helpers/baresip.js';
import { NAT, NatTopology, udpUaAt } from '../../helpers/netns.js';
import { branch, callId } from '../../helpers/udp-ua.js';
import { sipText } from '../../helpers/sip-text.js';

const DOMAIN = 'example.com';
const SECRET = 'nat-peer-test-secret-0123456789';
const PORT = { a: 23300, b: 23301, phone: 23310, caller: 23311, stranger: 23312, rtp: [23320, 23329] as [number, number] };

t.test('a phone behind NAT registered on core A gets a call entering core B, through A and the NAT pinhole', async (t) => {
  const topo = NatTopology.create();
  t.teardown(() => topo.destroy());

  const store = new MemoryLocationStore();
  const mk = (port: number) => new CoreNode({ udp: { host: NAT.coreHost, port }, domain: DOMAIN, auth: false, secrets: [SECRET], timerCMs: 5000 }, { store });
  const a = mk(PORT.a);
  const b = mk(PORT.b);
  await a.start();
  await b.start();
  let phone: Baresip | undefined;
  const caller = await udpUaAt(NAT.coreHost, PORT.caller);
  const stranger = await udpUaAt(NAT.coreHost, PORT.stranger);
  t.teardown(async () => {
    // baresip before the cores: it un-REGISTERs on SIGTERM.
    await phone?.dispose();
    caller.close();
    stranger.close();
    await a.stop();
    await b.stop();
  });

  phone = await Baresip.start({
    sipListen: { host: NAT.phoneHost, port: PORT.phone },
    rtpPorts: PORT.rtp,
    accounts: [`<sip:deskphone@${NAT.coreHost}:${PORT.a};transport=udp>;regint=60;answermode=auto;audio_codecs=PCMU/8000/1`],
    netns: NAT.phoneNs,
  });
  await phone.waitFor(/200 OK \(\) \[1 binding\]/, 5000);

  const bindings = await store.lookup(`sip:deskphone@${DOMAIN}`);
  t.equal(bindings.length, 1, 'the phone is registered');
  const binding = bindings[0]!;
  t.match(binding.contact, new RegExp(`@${NAT.phoneHost.replace(/\./g, '\\.')}:${PORT.phone}`), 'its Contact is its private address');
  t.match(binding.received, new RegExp(`^udp:${NAT.natPublic.replace(/\./g, '\\.')}:\\d+$`), `received is the NAT's public address (${binding.received}), not 10.200.1.2`);
  const publicPort = Number((binding.received ?? '').split(':')[2]);
  t.match(binding.path[0] ?? '', new RegExp(`@${NAT.coreHost.replace(/\./g, '\\.')}:${PORT.a};transport=udp;lr>$`), 'its home core is A');
  t.match(topo.natRuleCounters(), /^\s*[1-9]\d*\s+\d+\s+MASQUERADE/m, 'the REGISTER went through the MASQUERADE rule');

  // The NAT lets in only what answers a flow the phone opened: a stranger gets nothing back.
  stranger.send(
    sipText([
      `OPTIONS sip:deskphone@${NAT.natPublic}:${publicPort} SIP/2.0`,
      `Via: SIP/2.0/UDP ${NAT.coreHost}:${PORT.stranger};branch=${branch()};rport`,
      'Max-Forwards: 70',
      `To: <sip:deskphone@${DOMAIN}>`,
      `From: <sip:stranger@${DOMAIN}>;tag=s`,
      'Call-ID: probe-nat',
      'CSeq: 1 OPTIONS',
    ]),
    { host: NAT.natPublic, port: publicPort },
  );
  await t.rejects(stranger.response('probe-nat', 'OPTIONS', 100, 1000), 'a request from another address than the home core does not reach the phone');

  const cid = callId();
  caller.send(
    sipText(
      [
        `INVITE sip:deskphone@${DOMAIN} SIP/2.0`,
        `Via: SIP/2.0/UDP ${NAT.coreHost}:${PORT.caller};branch=${branch()};rport`,
        'Max-Forwards: 70',
        `To: <sip:deskphone@${DOMAIN}>`,
        `From: <sip:caller@${DOMAIN}>;tag=c1`,
        `Call-ID: ${cid}`,
        'CSeq: 1 INVITE',
        `Contact: <sip:caller@${NAT.coreHost}:${PORT.caller}>`,
        'Content-Type: application/sdp',
      ],
      `v=0\r\no=- 1 1 IN IP4 ${NAT.coreHost}\r\ns=-\r\nc=IN IP4 ${NAT.coreHost}\r\nt=0 0\r\nm=audio 23390 RTP/AVP 0\r\n`,
    ),
    { host: NAT.coreHost, port: PORT.b },
  );
  const ok = await caller.response(cid, 'INVITE', 200, 5000);
  t.equal(ok.status, 200, 'the phone answered the call that entered core B');
  const contacts = ok.contacts;
  const contact = contacts === '*' ? undefined : contacts[0];
  t.ok(contact?.uri.params.has('sfc'), "the phone's Contact was rewritten into a cluster URI");
  t.equal(contact?.uri.user ? FlowTokenCodec.peekNode(contact.uri.user) : undefined, `${NAT.coreHost}:${PORT.a}`, 'naming its home core A, which holds the NAT flow');
  const aForwarded = await a.metrics.registry.getSingleMetricAsString('sipflow_core_requests_forwarded_total');
  const bForwarded = await b.metrics.registry.getSingleMetricAsString('sipflow_core_requests_forwarded_total');
  t.match(bForwarded, /method="INVITE"\} 1/, 'B forwarded the INVITE (to A)');
  t.match(aForwarded, /method="INVITE"\} 1/, 'A forwarded it (down the NAT flow)');

  const remote = `sip:${contact!.uri.user}@${DOMAIN};sfc=${contact!.uri.params.get('sfc')}`;
  const inDialog = (method: string, cseq: number) =>
    sipText([
      `${method} ${remote} SIP/2.0`,
      `Via: SIP/2.0/UDP ${NAT.coreHost}:${PORT.caller};branch=${branch()};rport`,
      'Max-Forwards: 70',
      `To: <sip:deskphone@${DOMAIN}>;tag=${ok.to.params.get('tag')}`,
      `From: <sip:caller@${DOMAIN}>;tag=c1`,
      `Call-ID: ${cid}`,
      `CSeq: ${cseq} ${method}`,
    ]);
  caller.send(inDialog('ACK', 1), { host: NAT.coreHost, port: PORT.b });
  await phone.waitFor(/Call established/, 2000);
  t.pass('the ACK through B and A reached the phone: baresip reports the call established');
  caller.send(inDialog('BYE', 2), { host: NAT.coreHost, port: PORT.b });
  t.equal((await caller.response(cid, 'BYE', 200, 3000)).status, 200, 'the BYE through B reaches the phone behind the NAT and is answered');
  await phone.waitFor(/session closed|terminated/, 2000);

  const stopped = await phone.stop(5000);
  t.ok(stopped.graceful, 'the phone un-REGISTERs through the NAT and exits');
  t.equal((await store.lookup(`sip:deskphone@${DOMAIN}`)).length, 0, 'binding removed');
});
