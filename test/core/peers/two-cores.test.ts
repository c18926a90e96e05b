/**
 * Two in-process cores sharing one MemoryLocationStore, as two nodes of a cluster share Cassandra:
 * a phone is reachable through any core (the INVITE goes to its home core through the Path the
 * home core stored), in-dialog requests find their way through the rewritten Contacts in both
 * directions, and a dialog survives the loss of the core it was set up through.
 *
 * Ports (127.0.0.1): core A 23200, core B 23201; phones 23210-23213.
 */
import t, { type Test } from 'tap';
import { CoreNode } from '../../../core/core-node.js';
import { MemoryLocationStore } from '../../../core/location/memory-store.js';
import type { SipRequest, SipResponse } from '../../../sip/message/model.js';
import { formatUri, parseUri } from '../../../sip/grammar/uri.js';
import { FlowTokenCodec } from '../../../sip/outbound/flow-token.js';
import { udpUaAt } from '../../helpers/netns.js';
import { branch, callId, type UdpUa } from '../../helpers/udp-ua.js';
import { sipText } from '../../helpers/sip-text.js';

const HOST = '127.0.0.1';
const DOMAIN = 'example.com';
const SECRET = 'two-cores-peer-test-secret-0123456789';
const PORT = { a: 23200, b: 23201, phone: 23210, caller: 23211 };

async function startCores(t: Test) {
  const store = new MemoryLocationStore();
  const mk = (port: number) => new CoreNode({ udp: { host: HOST, port }, domain: DOMAIN, auth: false, secrets: [SECRET], timerCMs: 5000 }, { store });
  const a = mk(PORT.a);
  const b = mk(PORT.b);
  const addrA = (await a.start()).udp;
  const addrB = (await b.start()).udp;
  t.teardown(async () => {
    await a.stop();
    await b.stop();
  });
  return { store, a, b, addrA, addrB };
}

async function ua(t: Test, port: number): Promise<UdpUa> {
  const u = await udpUaAt(HOST, port);
  t.teardown(() => u.close());
  return u;
}

async function register(u: UdpUa, user: string, core: { host: string; port: number }): Promise<SipResponse> {
  const cid = `reg-${user}-${u.port}`;
  u.send(
    sipText([
      `REGISTER sip:${DOMAIN} SIP/2.0`,
      `Via: SIP/2.0/UDP ${HOST}:${u.port};branch=${branch()};rport`,
      'Max-Forwards: 70',
      `To: <sip:${user}@${DOMAIN}>`,
      `From: <sip:${user}@${DOMAIN}>;tag=r${u.port}`,
      `Call-ID: ${cid}`,
      'CSeq: 1 REGISTER',
      `Contact: <sip:${user}@${HOST}:${u.port}>`,
      'Supported: path',
      'Expires: 300',
    ]),
    core,
  );
  return u.response(cid, 'REGISTER', 200, 3000);
}

function invite(u: UdpUa, user: string, cid: string): string {
  return sipText(
    [
      `INVITE sip:${user}@${DOMAIN} SIP/2.0`,
      `Via: SIP/2.0/UDP ${HOST}:${u.port};branch=${branch()};rport`,
      'Max-Forwards: 70',
      `To: <sip:${user}@${DOMAIN}>`,
      `From: <sip:caller@${DOMAIN}>;tag=c${u.port}`,
      `Call-ID: ${cid}`,
      'CSeq: 1 INVITE',
      `Contact: <sip:caller@${HOST}:${u.port}>`,
      'Content-Type: application/sdp',
    ],
    `v=0\r\no=- 1 1 IN IP4 ${HOST}\r\ns=-\r\nc=IN IP4 ${HOST}\r\nt=0 0\r\nm=audio 23290 RTP/AVP 0\r\n`,
  );
}

/** An in-dialog request from `from` to the remote target `uri` (a Contact as it reached `from`). */
function inDialog(from: UdpUa, method: string, uri: string, cseq: number, d: { cid: string; fromTag: string; toTag: string; fromUser: string; toUser: string }): string {
  return sipText([
    `${method} ${uri} SIP/2.0`,
    `Via: SIP/2.0/UDP ${HOST}:${from.port};branch=${branch()};rport`,
    'Max-Forwards: 70',
    `From: <sip:${d.fromUser}@${DOMAIN}>;tag=${d.fromTag}`,
    `To: <sip:${d.toUser}@${DOMAIN}>;tag=${d.toTag}`,
    `Call-ID: ${d.cid}`,
    `CSeq: ${cseq} ${method}`,
  ]);
}

function contactUri(m: SipRequest | SipResponse): string {
  const c = m.contacts;
  if (c === '*' || c.length !== 1) throw new Error('expected one Contact');
  return formatUri(c[0]!.uri);
}

/** The core whose flow token is the user part of a rewritten Contact. */
function homeNodeOf(uri: string): string | undefined {
  const u = parseUri(uri);
  return u.user ? FlowTokenCodec.peekNode(u.user) : undefined;
}

function viaHostPorts(m: SipRequest): string[] {
  return m.vias.map((v) => `${v.host}:${v.port}`);
}

t.test('a phone registered on core A is reachable by a call entering core B (B → A → phone); in-dialog requests cross the cores both ways', async (t) => {
  const { addrA, addrB, store } = await startCores(t);
  const phone = await ua(t, PORT.phone);
  const caller = await ua(t, PORT.caller);
  const reg = await register(phone, 'paula', addrA);
  t.equal(reg.status, 200);
  t.match(reg.get('Path'), new RegExp(`@${HOST}:${PORT.a};transport=udp;lr>$`), 'its home core is A');
  t.equal((await store.lookup(`sip:paula@${DOMAIN}`)).length, 1, 'the binding is in the shared store');

  const cid = callId();
  caller.send(invite(caller, 'paula', cid), addrB);
  const inv = await phone.request('INVITE', 3000, cid);
  t.same(viaHostPorts(inv), [`${HOST}:${PORT.a}`, `${HOST}:${PORT.b}`, `${HOST}:${PORT.caller}`], 'the phone sees two core Vias: A (its home core) on top of B');
  t.equal(inv.uriText, `sip:paula@${HOST}:${PORT.phone}`, 'Request-URI is the registered Contact');
  t.notOk(inv.has('Route'), 'A consumed its own Path entry');
  const callerContact = contactUri(inv);
  t.match(callerContact, new RegExp(`@${DOMAIN};sfc=`), "the caller's Contact was rewritten into a cluster URI");
  t.equal(homeNodeOf(callerContact), `${HOST}:${PORT.b}`, "by the caller's home core, B");

  phone.reply(inv, 180);
  t.equal((await caller.response(cid, 'INVITE', 180, 3000)).status, 180, '180 goes back A → B → caller');
  const ok = phone.reply(inv, 200, [['Contact', `<sip:paula@${HOST}:${PORT.phone}>`]]);
  const okAtCaller = await caller.response(cid, 'INVITE', 200, 3000);
  t.equal(okAtCaller.status, 200);
  const phoneContact = contactUri(okAtCaller);
  t.match(phoneContact, new RegExp(`@${DOMAIN};sfc=`), "the phone's Contact in the 200 was rewritten into a cluster URI");
  t.equal(homeNodeOf(phoneContact), `${HOST}:${PORT.a}`, "by the phone's home core, A");
  const toTag = ok.to.params.get('tag')!;
  const fromCaller = { cid, fromTag: `c${PORT.caller}`, toTag, fromUser: 'caller', toUser: 'paula' };

  caller.send(inDialog(caller, 'ACK', phoneContact, 1, fromCaller), addrB);
  const ack = await phone.request('ACK', 3000, cid);
  t.equal(ack.uriText, `sip:paula@${HOST}:${PORT.phone}`, 'the ACK sent to B reaches the phone through A with its original Contact restored');

  // The phone hangs up: its BYE goes to its home core A, the caller's Contact names B.
  caller.autoAnswer = (req) => (req.method === 'BYE' ? { status: 200 } : undefined);
  phone.send(inDialog(phone, 'BYE', callerContact, 1, { cid, fromTag: toTag, toTag: `c${PORT.caller}`, fromUser: 'paula', toUser: 'caller' }), addrA);
  const bye = await caller.request('BYE', 3000, cid);
  t.equal(bye.uriText, `sip:caller@${HOST}:${PORT.caller}`, 'the BYE reaches the caller through A → B');
  t.same(viaHostPorts(bye).slice(0, 2), [`${HOST}:${PORT.b}`, `${HOST}:${PORT.a}`], 'via B (the caller’s home core) after A');
  t.equal((await phone.response(cid, 'BYE', 200, 3000)).status, 200, 'the 200 for the BYE comes back to the phone');
});

t.test('a call set up through core A is ended with a BYE through core B while core A is stopped', async (t) => {
  const { a, addrA, addrB } = await startCores(t);
  const callee = await ua(t, PORT.phone);
  const caller = await ua(t, PORT.caller);
  t.equal((await register(callee, 'quinn', addrB)).status, 200, 'the callee’s home core is B');

  const cid = callId();
  caller.send(invite(caller, 'quinn', cid), addrA);
  const inv = await callee.request('INVITE', 3000, cid);
  t.same(viaHostPorts(inv).slice(0, 2), [`${HOST}:${PORT.b}`, `${HOST}:${PORT.a}`], 'set up through A, then B (the callee’s home core)');
  const ok = callee.reply(inv, 200, [['Contact', `<sip:quinn@${HOST}:${PORT.phone}>`]]);
  const okAtCaller = await caller.response(cid, 'INVITE', 200, 3000);
  const calleeContact = contactUri(okAtCaller);
  t.match(calleeContact, new RegExp(`@${DOMAIN};sfc=`), 'the callee’s Contact is a cluster URI');
  t.equal(homeNodeOf(calleeContact), `${HOST}:${PORT.b}`, 'naming its home core B, not A');
  const d = { cid, fromTag: `c${PORT.caller}`, toTag: ok.to.params.get('tag')!, fromUser: 'caller', toUser: 'quinn' };
  caller.send(inDialog(caller, 'ACK', calleeContact, 1, d), addrA);
  await callee.request('ACK', 3000, cid);

  await a.stop();
  callee.autoAnswer = (req) => (req.method === 'BYE' ? { status: 200 } : undefined);
  caller.send(inDialog(caller, 'BYE', calleeContact, 2, d), addrB);
  const bye = await callee.request('BYE', 3000, cid);
  t.equal(bye.uriText, `sip:quinn@${HOST}:${PORT.phone}`, 'the callee gets the BYE, with its own Contact as Request-URI');
  t.same(viaHostPorts(bye), [`${HOST}:${PORT.b}`, `${HOST}:${PORT.caller}`], 'only B on the way');
  const byeOk = await caller.response(cid, 'BYE', 200, 3000);
  t.equal(byeOk.status, 200, 'the caller gets the 200 for its BYE');
});
