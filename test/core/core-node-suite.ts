/**
 * A core node over real UDP sockets: registrar, routing to bindings, forking, CANCEL, validation,
 * digest auth and bad input. One suite, run against the memory store (core-node-memory.test.ts)
 * and against a real Cassandra (core-node-cassandra.test.ts).
 */
import type { Test } from 'tap';
import type { LocationStore } from '../../core/location/location-store.js';
import { CoreNode } from '../../core/core-node.js';
import { addSubscriber } from '../../core/subscribers.js';
import { UdpUa, branch, callId } from '../helpers/udp-ua.js';
import { sipText } from '../helpers/sip-text.js';
import { buildCredentials, parseChallenge } from '../../sip/auth/index.js';

const SECRET = 'core-node-test-secret-0123456789';
const DOMAIN = 'example.com';

export type StoreFactory = () => Promise<LocationStore>;
let makeStore: StoreFactory;

async function startCore(given?: LocationStore, opts: { auth?: boolean } = {}) {
  const store = given ?? (await makeStore());
  const node = new CoreNode({ udp: { host: '127.0.0.1', port: 0 }, domain: DOMAIN, auth: opts.auth ?? false, secrets: [SECRET], timerCMs: 4000 }, { store });
  const addr = await node.start();
  return { node, store, addr: addr.udp };
}

function registerText(ua: UdpUa, user: string, opts: { cid?: string; cseq?: number; contactExtra?: string; expires?: number; extra?: string[] } = {}): string {
  return sipText([
    `REGISTER sip:${DOMAIN} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${ua.port};branch=${branch()};rport`,
    'Max-Forwards: 70',
    `To: <sip:${user}@${DOMAIN}>`,
    `From: <sip:${user}@${DOMAIN}>;tag=r${ua.port}`,
    `Call-ID: ${opts.cid ?? 'reg-' + user + ua.port}`,
    `CSeq: ${opts.cseq ?? 1} REGISTER`,
    `Contact: <sip:${user}@127.0.0.1:${ua.port}>${opts.contactExtra ?? ''}`,
    `Expires: ${opts.expires ?? 300}`,
    'Supported: path, gruu',
    ...(opts.extra ?? []),
  ]);
}

function inviteText(ua: UdpUa, to: string, cid: string, extra: string[] = []): string {
  return sipText(
    [
      `INVITE ${to} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${ua.port};branch=${branch()};rport`,
      'Max-Forwards: 70',
      `To: <${to}>`,
      `From: <sip:caller@${DOMAIN}>;tag=c${ua.port}`,
      `Call-ID: ${cid}`,
      'CSeq: 1 INVITE',
      `Contact: <sip:caller@127.0.0.1:${ua.port}>`,
      'Content-Type: application/sdp',
      ...extra,
    ],
    'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n',
  );
}

export function coreNodeSuite(t: Test, factory: StoreFactory): void {
  makeStore = factory;
t.test('registrar over UDP: 200 lists the binding with Path to the home core; refresh, fetch and removal', async (t) => {
  const { node, addr } = await startCore();
  const ua = await UdpUa.open();
  t.teardown(async () => {
    ua.close();
    await node.stop();
  });
  const first = registerText(ua, 'alice');
  ua.send(first, addr);
  const ok = await ua.response('reg-alice' + ua.port, 'REGISTER');
  t.equal(ok.status, 200);
  t.ok(ok.to.params.get('tag'), 'RFC 3261 §8.2.6.2: the registrar adds a To tag');
  t.match(ok.get('Contact'), /expires=(300|299)/);
  t.match(ok.get('Path'), new RegExp(`^<sip:[A-Za-z0-9_.-]+@127\\.0\\.0\\.1:${addr.port};transport=udp;lr>$`), 'the home core put its own Path with a flow token');
  ua.send(first, addr);
  await ua.wait((m) => m.kind === 'response' && m.callId === 'reg-alice' + ua.port && m !== ok, 3000, 'the retransmitted answer');
  t.equal(ua.received.filter((m) => m.kind === 'response' && m.callId === 'reg-alice' + ua.port).map((m) => (m as { status: number }).status).join(), '200,200', 'a retransmitted REGISTER gets the same answer again');
  ua.send(registerText(ua, 'alice', { cseq: 1 }), addr);
  const stale = await ua.wait((m) => m.kind === 'response' && m.callId === 'reg-alice' + ua.port && m.status >= 500, 3000, '500 out of order');
  t.equal(stale.kind === 'response' && stale.status, 500, 'a new transaction with the same CSeq is out of order');
  ua.send(registerText(ua, 'alice', { cseq: 3, expires: 0 }), addr);
  const removed = await ua.wait((m) => m.kind === 'response' && m.cseq.seq === 3);
  t.equal(removed.kind === 'response' && removed.status, 200);
  t.notOk(removed.has('Contact'), 'no bindings left');
});

t.test('423 with Min-Expires, 400 for Contact * misuse', async (t) => {
  const { node, addr } = await startCore();
  const ua = await UdpUa.open();
  t.teardown(async () => {
    ua.close();
    await node.stop();
  });
  ua.send(registerText(ua, 'bob', { expires: 5 }), addr);
  const r = await ua.response('reg-bob' + ua.port, 'REGISTER');
  t.equal(r.status, 423);
  t.equal(r.get('Min-Expires'), '60');
});

t.test('a call to a registered AOR reaches the contact through its Path; ACK and BYE follow the rewritten Contact', async (t) => {
  const { node, addr } = await startCore();
  const callee = await UdpUa.open();
  const caller = await UdpUa.open();
  t.teardown(async () => {
    callee.close();
    caller.close();
    await node.stop();
  });
  callee.send(registerText(callee, 'carol'), addr);
  t.equal((await callee.response('reg-carol' + callee.port, 'REGISTER')).status, 200);
  const cid = callId();
  caller.send(inviteText(caller, `sip:carol@${DOMAIN}`, cid), addr);
  const invite = await callee.request('INVITE', 3000, cid);
  t.equal(invite.uriText, `sip:carol@127.0.0.1:${callee.port}`, 'Request-URI is the registered contact');
  t.equal(invite.vias.length, 2, 'the core added its Via');
  t.match(invite.get('Contact'), /sfc=/, "the caller's Contact was rewritten by its home core");
  callee.reply(invite, 180);
  t.equal((await caller.response(cid, 'INVITE', 100)).status >= 100, true);
  callee.reply(invite, 200, [['Contact', `<sip:carol@127.0.0.1:${callee.port}>`]]);
  const ok = await caller.response(cid, 'INVITE', 200);
  t.equal(ok.status, 200);
  const contact = ok.contacts === '*' ? undefined : ok.contacts[0];
  t.ok(contact && contact.uri.host === DOMAIN && contact.uri.params.has('sfc'), "the callee's Contact is a cluster URI");
  const remote = `sip:${contact!.uri.user}@${DOMAIN};sfc=${contact!.uri.params.get('sfc')}`;
  const toTag = ok.to.params.get('tag');
  const inDialog = (method: string, cseq: number, routes: string[] = []) =>
    sipText([
      `${method} ${remote} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${caller.port};branch=${branch()};rport`,
      'Max-Forwards: 70',
      ...routes.map((r) => `Route: ${r}`),
      `To: <sip:carol@${DOMAIN}>;tag=${toTag}`,
      `From: <sip:caller@${DOMAIN}>;tag=c${caller.port}`,
      `Call-ID: ${cid}`,
      `CSeq: ${cseq} ${method}`,
    ]);
  const rr = ok.values('Record-Route');
  t.equal(rr.length, 2, `the home core record-routed for the callee and for the caller, both attached to it (${rr.join(' | ')})`);
  caller.send(inDialog('ACK', 1, rr.reverse()), addr);
  const ack = await callee.request('ACK', 3000, cid);
  t.equal(ack.uriText, `sip:carol@127.0.0.1:${callee.port}`, 'ACK reaches the original contact');
  callee.autoAnswer = (req) => (req.method === 'BYE' ? { status: 200 } : undefined);
  caller.send(inDialog('BYE', 2, ok.values('Record-Route').reverse()), addr);
  const byeOk = await caller.response(cid, 'BYE');
  t.equal(byeOk.status, 200, 'BYE answered end to end');
});

t.test('forking: the first 2xx wins, the other branch is cancelled and gets 487', async (t) => {
  const { node, addr } = await startCore();
  const a = await UdpUa.open();
  const b = await UdpUa.open();
  const caller = await UdpUa.open();
  t.teardown(async () => {
    a.close();
    b.close();
    caller.close();
    await node.stop();
  });
  a.send(registerText(a, 'dave', { cid: 'reg-dave-a' }), addr);
  b.send(registerText(b, 'dave', { cid: 'reg-dave-b' }), addr);
  await a.response('reg-dave-a', 'REGISTER');
  await b.response('reg-dave-b', 'REGISTER');
  const cid = callId();
  caller.send(inviteText(caller, `sip:dave@${DOMAIN}`, cid), addr);
  const [ia, ib] = await Promise.all([a.request('INVITE', 3000, cid), b.request('INVITE', 3000, cid)]);
  a.reply(ia, 180);
  b.reply(ib, 180);
  b.autoAnswer = (req) => (req.method === 'CANCEL' ? { status: 200 } : undefined);
  await caller.response(cid, 'INVITE', 180);
  a.reply(ia, 200, [['Contact', `<sip:dave@127.0.0.1:${a.port}>`]]);
  const ok = await caller.response(cid, 'INVITE', 200);
  t.equal(ok.status, 200);
  const cancel = await b.request('CANCEL', 3000, cid);
  t.equal(cancel.cseq.method, 'CANCEL', 'the losing branch was cancelled');
  b.reply(ib, 487);
  await new Promise((r) => setTimeout(r, 300));
  t.notOk(caller.received.some((m) => m.kind === 'response' && m.status === 487), 'the 487 of the cancelled branch is not passed upstream');
});

t.test('CANCEL before answer: 200 to the CANCEL, 487 to the INVITE; busy and no binding', async (t) => {
  const { node, addr } = await startCore();
  const callee = await UdpUa.open();
  const caller = await UdpUa.open();
  t.teardown(async () => {
    callee.close();
    caller.close();
    await node.stop();
  });
  callee.send(registerText(callee, 'erin'), addr);
  await callee.response('reg-erin' + callee.port, 'REGISTER');
  const cid = callId();
  const inviteRaw = inviteText(caller, `sip:erin@${DOMAIN}`, cid);
  caller.send(inviteRaw, addr);
  const invite = await callee.request('INVITE', 3000, cid);
  callee.reply(invite, 180);
  await caller.response(cid, 'INVITE', 180);
  callee.autoAnswer = (req) => (req.method === 'CANCEL' ? { status: 200 } : undefined);
  const topVia = /Via: [^\r\n]+/.exec(inviteRaw)![0];
  caller.send(
    sipText([`CANCEL sip:erin@${DOMAIN} SIP/2.0`, topVia, 'Max-Forwards: 70', `To: <sip:erin@${DOMAIN}>`, `From: <sip:caller@${DOMAIN}>;tag=c${caller.port}`, `Call-ID: ${cid}`, 'CSeq: 1 CANCEL']),
    addr,
  );
  t.equal((await caller.response(cid, 'CANCEL')).status, 200);
  await callee.request('CANCEL', 3000, cid);
  callee.reply(invite, 487);
  t.equal((await caller.response(cid, 'INVITE', 300)).status, 487);

  const cid2 = callId();
  callee.autoAnswer = (req) => (req.method === 'INVITE' ? { status: 486 } : undefined);
  caller.send(inviteText(caller, `sip:erin@${DOMAIN}`, cid2), addr);
  t.equal((await caller.response(cid2, 'INVITE', 300)).status, 486, 'busy passes through');

  const cid3 = callId();
  caller.send(inviteText(caller, `sip:nobody@${DOMAIN}`, cid3), addr);
  t.equal((await caller.response(cid3, 'INVITE', 300)).status, 480, 'no binding: 480');
});

t.test('no answer: Timer C / transaction timeout ends the call with 408', async (t) => {
  const { node, addr } = await startCore();
  const callee = await UdpUa.open();
  const caller = await UdpUa.open();
  t.teardown(async () => {
    callee.close();
    caller.close();
    await node.stop();
  });
  callee.send(registerText(callee, 'frank'), addr);
  await callee.response('reg-frank' + callee.port, 'REGISTER');
  callee.autoAnswer = (req) => (req.method === 'INVITE' ? { status: 180 } : req.method === 'CANCEL' ? { status: 200 } : undefined);
  const cid = callId();
  caller.send(inviteText(caller, `sip:frank@${DOMAIN}`, cid), addr);
  await callee.request('CANCEL', 8000, cid);
  const inv = callee.received.find((m) => m.kind === 'request' && m.method === 'INVITE' && m.callId === cid);
  callee.reply(inv as never, 487);
  const final = await caller.response(cid, 'INVITE', 300, 8000);
  t.ok([408, 487].includes(final.status), `ringing past Timer C ends the call (${final.status})`);
});

t.test('validation: 483, 420, 416, 403 for foreign domains, OPTIONS to the core, 400 for malformed', async (t) => {
  const { node, addr } = await startCore();
  const ua = await UdpUa.open();
  t.teardown(async () => {
    ua.close();
    await node.stop();
  });
  const req = (method: string, uri: string, extra: string[], cid: string) =>
    sipText([`${method} ${uri} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${ua.port};branch=${branch()};rport`, `To: <sip:x@${DOMAIN}>`, `From: <sip:y@${DOMAIN}>;tag=1`, `Call-ID: ${cid}`, `CSeq: 1 ${method}`, ...extra]);
  ua.send(req('INVITE', `sip:x@${DOMAIN}`, ['Max-Forwards: 0'], 'mf0'), addr);
  const mf0 = await ua.response('mf0', 'INVITE', 200);
  t.equal(mf0.status, 483);
  t.ok(mf0.to.params.get('tag'), 'a locally generated final response carries a To tag');
  ua.send(req('INVITE', `sip:x@${DOMAIN}`, ['Max-Forwards: 70', 'Proxy-Require: foo'], 'pr'), addr);
  const pr = await ua.response('pr', 'INVITE', 200);
  t.equal(pr.status, 420);
  t.equal(pr.get('Unsupported'), 'foo');
  ua.send(req('INVITE', `http://example.org/`, ['Max-Forwards: 70'], 'scheme'), addr);
  t.equal((await ua.response('scheme', 'INVITE', 200)).status, 416);
  ua.send(req('INVITE', `sip:x@elsewhere.org`, ['Max-Forwards: 70'], 'foreign'), addr);
  t.equal((await ua.response('foreign', 'INVITE', 200)).status, 403);
  ua.send(req('OPTIONS', `sip:${DOMAIN}`, ['Max-Forwards: 70'], 'opt'), addr);
  const opt = await ua.response('opt', 'OPTIONS', 200);
  t.equal(opt.status, 200);
  t.match(opt.get('Allow'), /INVITE/);
  ua.send(req('INVITE', `sip:x@${DOMAIN}`, ['Max-Forwards: 70', 'Content-Length: 9999'], 'badcl').replace(/Content-Length: 0\r\n/, ''), addr);
  const bad = await ua.wait((m) => m.kind === 'response' && m.callId === 'badcl', 3000, '400 for bad Content-Length');
  t.equal(bad.kind === 'response' && bad.status, 400);
  t.match(bad.kind === 'response' && bad.reason, /Bad Request/);
  for (const garbage of [Buffer.from('hello'), Buffer.alloc(70000, 65), Buffer.from([0, 1, 2, 3]), Buffer.from('INVITE sip:x SIP/2.0\r\nVia: broken\r\n\r\n')]) ua.sendRaw(garbage, addr);
  ua.send(req('OPTIONS', `sip:${DOMAIN}`, ['Max-Forwards: 70'], 'still-alive'), addr);
  t.equal((await ua.response('still-alive', 'OPTIONS', 200)).status, 200, 'garbage is dropped and the node keeps serving');
  const metrics = await node.metrics.registry.getSingleMetricAsString('sipflow_core_messages_dropped_total');
  t.match(metrics, /parse-/, 'drops are counted by cause');
});

t.test('digest auth: 401 then 200 for REGISTER, 403 for another AOR, 407 for INVITE', async (t) => {
  const store = await makeStore();
  await addSubscriber(store, 'alice', DOMAIN, 'alice-pw');
  const { node, addr } = await startCore(store, { auth: true });
  const ua = await UdpUa.open();
  t.teardown(async () => {
    ua.close();
    await node.stop();
  });
  const cid = 'auth-reg';
  ua.send(registerText(ua, 'alice', { cid, cseq: 1 }), addr);
  const challenge = await ua.response(cid, 'REGISTER');
  t.equal(challenge.status, 401);
  const chal = parseChallenge(challenge.getAll('WWW-Authenticate').find((v) => /MD5/.test(v))!);
  t.ok(chal.ok, 'challenge parses');
  if (!chal.ok) return;
  const creds = buildCredentials({ challenge: chal.value, username: 'alice', password: 'alice-pw', method: 'REGISTER', uri: `sip:${DOMAIN}`, cnonce: 'abc', nc: 1 });
  ua.send(registerText(ua, 'alice', { cid, cseq: 2, extra: [`Authorization: ${creds}`] }), addr);
  t.equal((await ua.wait((m) => m.kind === 'response' && m.callId === cid && m.cseq.seq === 2)).kind === 'response', true);
  const r2 = ua.received.filter((m) => m.kind === 'response' && m.callId === cid && m.cseq.seq === 2).pop() as { status: number };
  t.equal(r2.status, 200, 'registered with the right password');

  const wrong = buildCredentials({ challenge: chal.value, username: 'alice', password: 'nope', method: 'REGISTER', uri: `sip:${DOMAIN}`, cnonce: 'abd', nc: 2 });
  ua.send(registerText(ua, 'alice', { cid, cseq: 3, extra: [`Authorization: ${wrong}`] }), addr);
  const r3 = await ua.wait((m) => m.kind === 'response' && m.callId === cid && m.cseq.seq === 3);
  t.equal(r3.kind === 'response' && r3.status, 401, 'wrong password: challenged again');

  ua.send(registerText(ua, 'mallory', { cid: 'other-aor', cseq: 1 }), addr);
  const c2 = await ua.response('other-aor', 'REGISTER');
  const ch2 = parseChallenge(c2.getAll('WWW-Authenticate').find((v) => /MD5/.test(v))!);
  if (!ch2.ok) return;
  const aliceForMallory = buildCredentials({ challenge: ch2.value, username: 'alice', password: 'alice-pw', method: 'REGISTER', uri: `sip:${DOMAIN}`, cnonce: 'x', nc: 1 });
  ua.send(registerText(ua, 'mallory', { cid: 'other-aor', cseq: 2, extra: [`Authorization: ${aliceForMallory}`] }), addr);
  const r4 = await ua.wait((m) => m.kind === 'response' && m.callId === 'other-aor' && m.cseq.seq === 2);
  t.equal(r4.kind === 'response' && r4.status, 403, "valid credentials for someone else's AOR: 403");

  const icid = callId();
  ua.send(inviteText(ua, `sip:alice@${DOMAIN}`, icid), addr);
  t.equal((await ua.response(icid, 'INVITE', 200)).status, 407, 'INVITE from a local user is challenged');
});
}
