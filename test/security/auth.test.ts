/**
 * Digest authentication under attack, cluster-level: a core with auth on behind an edge, browsers
 * on different loopback addresses (127.0.0.2 attacker, 127.0.0.3 honest user) and UDP peers going
 * straight to the core. Someone else's AOR, password guessing with the per-source failure limit,
 * captured credentials replayed, stale nonces (minted with a faked clock: the nonce carries its
 * own issue time), and GRUU guessing.
 *
 * Ports (127.0.0.1 unless said): core 27050, a second core 27054; edge ws 27051 / udp 27052; attacker 127.0.0.2:27060;
 * honest 127.0.0.3:27061; desk phone 27062; caller 127.0.0.2:27063.
 */
import t, { type Test } from 'tap';
import { buildCredentials, parseChallenge, StatelessNonce, type DigestChallenge } from '../../sip/auth/index.js';
import { createResponse } from '../../sip/message/factory.js';
import type { SipMessage, SipRequest, SipResponse } from '../../sip/message/model.js';
import { SipWsClient } from '../edge/fixtures/sip-ws-client.js';
import { udpUaAt } from '../helpers/netns.js';
import type { UdpUa } from '../helpers/udp-ua.js';
import { DOMAIN, HOST, SECRET, metric, sleep, startCore, startEdge, type CoreHandle, type EdgeHandle } from './fixtures/cluster.js';
import { SDP, branch, newCallId, udpRequest, uuid, wsRegister } from './fixtures/messages.js';

const P = { core: 27050, ws: 27051, udp: 27052, core2: 27054, attacker: 27060, honest: 27061, phone: 27062, caller: 27063 };
const USERS = { alice: 'alice-secret-pw', bob: 'bob-secret-pw', carol: 'carol-secret-pw' };

async function cluster(t: Test): Promise<{ core: CoreHandle; edge: EdgeHandle }> {
  const core = await startCore(t, P.core, { auth: true, trustedSources: [`${HOST}:${P.udp}`] }, USERS);
  const edge = await startEdge(t, { ws: P.ws, udp: P.udp }, [core.addr]);
  return { core, edge };
}

async function browser(t: Test, edge: EdgeHandle, localAddress: string): Promise<SipWsClient> {
  const ws = await SipWsClient.connect(edge.url, { localAddress });
  t.teardown(() => ws.close());
  return ws;
}

async function ua(t: Test, host: string, port: number): Promise<UdpUa> {
  const u = await udpUaAt(host, port);
  t.teardown(() => u.close());
  return u;
}

function challengeOf(r: SipMessage): DigestChallenge {
  const c = parseChallenge(r.getAll('WWW-Authenticate')[0] ?? r.getAll('Proxy-Authenticate')[0] ?? '');
  if (!c.ok) throw new Error(`no digest challenge in ${r.kind === 'response' ? r.status : 'request'}`);
  return c.value;
}

function credentials(challenge: DigestChallenge, user: string, password: string, nc = 1, method = 'REGISTER', uri = `sip:${DOMAIN}`): string {
  return buildCredentials({ challenge, username: user, password, method, uri, cnonce: branch(), nc });
}

/** REGISTER over a browser's WebSocket: first without credentials, then answering the challenge as `login`. */
async function wsRegisterAs(ws: SipWsClient, aor: string, login: string, password: string, extra: string[] = []): Promise<SipResponse> {
  const callId = newCallId(`reg-${aor}`);
  const instance = `urn:uuid:${uuid()}`;
  ws.send(wsRegister(aor, { callId, cseq: 1, instance, extra }));
  const first = (await ws.waitForSip(new RegExp(`^SIP/2.0 [2-6]\\d\\d[\\s\\S]*Call-ID: ${callId}`))) as SipResponse;
  if (first.status !== 401) return first;
  const challenge = first;
  ws.send(wsRegister(aor, { callId, cseq: 2, instance, extra: [...extra, `Authorization: ${credentials(challengeOf(challenge), login, password)}`] }));
  return (await ws.waitForSip(new RegExp(`^SIP/2.0 [2-6]\\d\\d[\\s\\S]*CSeq: 2 REGISTER`))) as SipResponse;
}

t.test("RFC 3261 §10.3 step 3: valid credentials for someone else's AOR get 403, and that AOR's bindings stay hidden", async (t) => {
  const { core, edge } = await cluster(t);
  const bob = await browser(t, edge, '127.0.0.3');
  t.equal((await wsRegisterAs(bob, 'bob', 'bob', USERS.bob)).status, 200, 'bob registers himself');

  const mallory = await browser(t, edge, '127.0.0.2');
  const hijack = await wsRegisterAs(mallory, 'bob', 'alice', USERS.alice);
  t.equal(hijack.status, 403, "alice's valid credentials on a REGISTER for bob's AOR: 403");
  t.notOk(hijack.has('Contact'), "and the 403 lists none of bob's bindings");

  // A fetch (REGISTER without Contact) of bob's bindings with alice's credentials.
  const callId = newCallId('fetch');
  const fetch = (cseq: number, extra: string[]) => udpRequest({ host: '127.0.0.2', port: P.attacker }, { method: 'REGISTER', uri: `sip:${DOMAIN}`, from: 'bob', to: `sip:bob@${DOMAIN}`, callId, cseq, extra });
  const attacker = await ua(t, '127.0.0.2', P.attacker);
  attacker.send(fetch(1, []), core.addr);
  const c = (await attacker.wait((m) => m.kind === 'response' && m.callId === callId && m.cseq.seq === 1)) as SipResponse;
  t.equal(c.status, 401, 'a fetch without credentials is challenged');
  t.notOk(c.has('Contact'), 'and reveals no binding');
  attacker.send(fetch(2, [`Authorization: ${credentials(challengeOf(c), 'alice', USERS.alice)}`]), core.addr);
  const f = (await attacker.wait((m) => m.kind === 'response' && m.callId === callId && m.cseq.seq === 2)) as SipResponse;
  t.equal(f.status, 403, "a fetch of bob's bindings with alice's credentials: 403");
  t.notOk(f.has('Contact'), 'no Contact in it');
  t.equal((await core.store.lookup(`sip:bob@${DOMAIN}`)).length, 1, "bob's one binding is untouched");
  t.equal(await metric(core.node.metrics.registry, 'sipflow_core_registrations_total', { outcome: 'forbidden-aor' }), 2, 'both counted as forbidden-aor');
});

for (const path of ['through the edge', 'straight to the core over UDP'] as const) {
  t.test(`password guessing ${path}: 401 for a wrong password, 403 for the guesser after 10 failures, while another source still registers`, async (t) => {
    const { core, edge } = await cluster(t);
    const statuses: number[] = [];
    if (path === 'through the edge') {
      const guesser = await browser(t, edge, '127.0.0.2');
      for (let i = 0; i < 13; i++) statuses.push((await wsRegisterAs(guesser, 'alice', 'alice', `guess-${i}`)).status);
    } else {
      const guesser = await ua(t, '127.0.0.2', P.attacker);
      const from = { host: '127.0.0.2', port: P.attacker };
      for (let i = 0; i < 13; i++) {
        const callId = newCallId('guess');
        guesser.send(udpRequest(from, { method: 'REGISTER', uri: `sip:${DOMAIN}`, from: 'alice', to: `sip:alice@${DOMAIN}`, callId, cseq: 1, contact: `<sip:alice@127.0.0.2:${P.attacker}>` }), core.addr);
        const c = (await guesser.wait((m) => m.kind === 'response' && m.callId === callId && m.cseq.seq === 1)) as SipResponse;
        if (c.status !== 401) {
          statuses.push(c.status);
          continue;
        }
        guesser.send(udpRequest(from, { method: 'REGISTER', uri: `sip:${DOMAIN}`, from: 'alice', to: `sip:alice@${DOMAIN}`, callId, cseq: 2, contact: `<sip:alice@127.0.0.2:${P.attacker}>`, extra: [`Authorization: ${credentials(challengeOf(c), 'alice', `guess-${i}`)}`] }), core.addr);
        statuses.push(((await guesser.wait((m) => m.kind === 'response' && m.callId === callId && m.cseq.seq === 2)) as SipResponse).status);
      }
    }
    t.same(statuses.slice(0, 10), Array(10).fill(401), 'the first 10 wrong passwords are challenged again (401)');
    t.same(statuses.slice(10), [403, 403, 403], 'then the guesser gets 403 without a challenge');
    t.equal(await metric(core.node.metrics.registry, 'sipflow_core_auth_failures_total', { reason: 'bad-response' }), 10, '10 bad responses counted');
    t.ok((await metric(core.node.metrics.registry, 'sipflow_core_auth_failures_total', { reason: 'rate-limited' })) >= 3, 'and the refusals as rate-limited');

    // Meanwhile an honest user elsewhere is not locked out.
    if (path === 'through the edge') {
      const honest = await browser(t, edge, '127.0.0.3');
      t.equal((await wsRegisterAs(honest, 'alice', 'alice', USERS.alice)).status, 200, 'alice, from another address through the same edge, still registers');
    } else {
      const honest = await ua(t, '127.0.0.3', P.honest);
      const from = { host: '127.0.0.3', port: P.honest };
      const callId = newCallId('honest');
      honest.send(udpRequest(from, { method: 'REGISTER', uri: `sip:${DOMAIN}`, from: 'alice', to: `sip:alice@${DOMAIN}`, callId, cseq: 1, contact: `<sip:alice@127.0.0.3:${P.honest}>` }), core.addr);
      const c = (await honest.wait((m) => m.kind === 'response' && m.callId === callId && m.cseq.seq === 1)) as SipResponse;
      honest.send(udpRequest(from, { method: 'REGISTER', uri: `sip:${DOMAIN}`, from: 'alice', to: `sip:alice@${DOMAIN}`, callId, cseq: 2, contact: `<sip:alice@127.0.0.3:${P.honest}>`, extra: [`Authorization: ${credentials(challengeOf(c), 'alice', USERS.alice)}`] }), core.addr);
      const ok = (await honest.wait((m) => m.kind === 'response' && m.callId === callId && m.cseq.seq === 2)) as SipResponse;
      t.equal(ok.status, 200, 'alice, from another address, still registers');
    }
  });
}

t.test('RFC 2617 §3.2.2: captured credentials replayed (same nonce and nc) are refused; an exact retransmission changes nothing', async (t) => {
  const { core } = await cluster(t);
  const phone = await ua(t, HOST, P.phone);
  const attacker = await ua(t, '127.0.0.2', P.attacker);
  const callId = newCallId('phone');
  const phoneAddr = { host: HOST, port: P.phone };
  phone.send(udpRequest(phoneAddr, { method: 'REGISTER', uri: `sip:${DOMAIN}`, from: 'carol', to: `sip:carol@${DOMAIN}`, callId, cseq: 1, contact: `<sip:carol@${HOST}:${P.phone}>`, extra: ['Expires: 600'] }), core.addr);
  const c = (await phone.wait((m) => m.kind === 'response' && m.callId === callId && m.cseq.seq === 1)) as SipResponse;
  const auth = `Authorization: ${credentials(challengeOf(c), 'carol', USERS.carol)}`;
  const genuineBranch = branch();
  const genuine = udpRequest(phoneAddr, { method: 'REGISTER', uri: `sip:${DOMAIN}`, from: 'carol', to: `sip:carol@${DOMAIN}`, callId, cseq: 2, branch: genuineBranch, contact: `<sip:carol@${HOST}:${P.phone}>`, extra: ['Expires: 600', auth] });
  phone.send(genuine, core.addr);
  const ok = (await phone.wait((m) => m.kind === 'response' && m.callId === callId && m.cseq.seq === 2)) as SipResponse;
  t.equal(ok.status, 200, 'carol registered (nc=1)');

  // The attacker saw that datagram. Replay 1: the same bytes from its own address (a retransmission
  // of carol's transaction): absorbed, answered to carol's address, nothing changes.
  attacker.send(genuine, core.addr);
  await sleep(300);
  t.equal(attacker.received.length, 0, 'the exact copy is answered to the Via (carol), never to the attacker');
  // Replay 2: a new transaction with the captured Authorization and the attacker's Contact.
  const hijack = (cseq: number) => udpRequest({ host: '127.0.0.2', port: P.attacker }, { method: 'REGISTER', uri: `sip:${DOMAIN}`, from: 'carol', to: `sip:carol@${DOMAIN}`, callId, cseq, contact: `<sip:carol@127.0.0.2:${P.attacker}>`, extra: ['Expires: 600', auth] });
  attacker.send(hijack(3), core.addr);
  const r = (await attacker.wait((m) => m.kind === 'response' && m.callId === callId && m.cseq.seq === 3)) as SipResponse;
  t.equal(r.status, 401, 'the replayed nc is refused: 401');
  t.equal(challengeOf(r).stale, true, 'with stale=true (a genuine client just retries with the fresh nonce)');
  t.not(challengeOf(r).nonce, challengeOf(c).nonce, 'and a fresh nonce');
  // Replay 3: another Call-ID entirely (a fresh registration).
  const other = newCallId('hijack');
  attacker.send(udpRequest({ host: '127.0.0.2', port: P.attacker }, { method: 'REGISTER', uri: `sip:${DOMAIN}`, from: 'carol', to: `sip:carol@${DOMAIN}`, callId: other, cseq: 1, contact: `<sip:carol@127.0.0.2:${P.attacker}>`, extra: ['Expires: 600', auth] }), core.addr);
  t.equal(((await attacker.wait((m) => m.kind === 'response' && m.callId === other)) as SipResponse).status, 401, 'the same credentials under a new Call-ID: 401');
  const bindings = await core.store.lookup(`sip:carol@${DOMAIN}`);
  t.same(bindings.map((b) => b.contact), [`sip:carol@${HOST}:${P.phone}`], "carol's binding is still hers alone");
  t.equal(await metric(core.node.metrics.registry, 'sipflow_core_auth_failures_total', { reason: 'replay' }), 2, 'both replays counted');
});

t.test("captured credentials replayed to ANOTHER core of the cluster are refused there: only the core that issued a nonce accepts it; a UA that moves gets stale=true and goes on", async (t) => {
  const { core } = await cluster(t);
  const core2 = await startCore(t, P.core2, { auth: true }, USERS);
  const phone = await ua(t, HOST, P.phone);
  const attacker = await ua(t, '127.0.0.2', P.attacker);
  const callId = newCallId('moves');
  const phoneAddr = { host: HOST, port: P.phone };
  const reg = (cseq: number, extra: string[], from = phoneAddr, contactHost = HOST) =>
    udpRequest(from, { method: 'REGISTER', uri: `sip:${DOMAIN}`, from: 'carol', to: `sip:carol@${DOMAIN}`, callId, cseq, contact: `<sip:carol@${contactHost}:${from.port}>`, extra: ['Expires: 600', ...extra] });
  const answer = async (u: UdpUa, cseq: number) => (await u.wait((m) => m.kind === 'response' && m.callId === callId && m.cseq.seq === cseq)) as SipResponse;
  phone.send(reg(1, []), core.addr);
  const c = await answer(phone, 1);
  const auth = `Authorization: ${credentials(challengeOf(c), 'carol', USERS.carol)}`;
  phone.send(reg(2, [auth]), core.addr);
  t.equal((await answer(phone, 2)).status, 200, 'carol registers at the first core');

  // The attacker saw that REGISTER and sends its Authorization to the second core.
  attacker.send(reg(3, [auth], { host: '127.0.0.2', port: P.attacker }, '127.0.0.2'), core2.addr);
  const r = await answer(attacker, 3);
  t.equal(r.status, 401, 'the second core refuses the first core\'s nonce: 401');
  t.equal(challengeOf(r).stale, true, 'with stale=true (the digest was right)');
  t.equal((await core2.store.lookup(`sip:carol@${DOMAIN}`)).length, 0, 'nothing registered at the second core');

  // Carol herself moves to the second core (her core went away): one more round trip, no prompt.
  const auth2 = `Authorization: ${credentials(challengeOf(c), 'carol', USERS.carol, 2)}`;
  phone.send(reg(4, [auth2]), core2.addr);
  const moved = await answer(phone, 4);
  t.equal(moved.status, 401, 'her next refresh, sent to the second core with the old nonce: 401');
  t.equal(challengeOf(moved).stale, true, 'stale=true: retry with the new nonce');
  phone.send(reg(5, [`Authorization: ${credentials(challengeOf(moved), 'carol', USERS.carol)}`]), core2.addr);
  t.equal((await answer(phone, 5)).status, 200, 'and the retry registers her there');
  t.equal(await metric(core2.node.metrics.registry, 'sipflow_core_auth_failures_total', { reason: 'foreign-nonce' }), 2, 'both foreign nonces counted');
});

t.test('RFC 2617 §3.2.1: a genuine but expired nonce gets 401 with stale=true; a forged nonce gets 401 without it', async (t) => {
  const { core } = await cluster(t);
  const phone = await ua(t, HOST, P.phone);
  const from = { host: HOST, port: P.phone };
  // The nonce carries its own signed issue time: one minted with this cluster's secret ten minutes
  // ago is what a client holding on to an old challenge would send (lifetime 300 s).
  const old = new StatelessNonce({ secrets: [SECRET], lifetimeMs: 300_000, maxClockSkewMs: 30_000, now: () => Date.now() - 10 * 60_000, issuer: core.node.nodeId }).issue(DOMAIN);
  const challenge: DigestChallenge = { realm: DOMAIN, nonce: old, algorithm: 'MD5', qop: ['auth'], stale: false };
  const callId = newCallId('stale');
  const reg = (cseq: number, auth: string) => udpRequest(from, { method: 'REGISTER', uri: `sip:${DOMAIN}`, from: 'carol', to: `sip:carol@${DOMAIN}`, callId, cseq, contact: `<sip:carol@${HOST}:${P.phone}>`, extra: [`Authorization: ${auth}`] });
  phone.send(reg(1, credentials(challenge, 'carol', USERS.carol)), core.addr);
  const r1 = (await phone.wait((m) => m.kind === 'response' && m.callId === callId && m.cseq.seq === 1)) as SipResponse;
  t.equal(r1.status, 401, 'expired nonce: 401');
  t.equal(challengeOf(r1).stale, true, 'stale=true: the password was right, only the nonce is old');
  t.equal((await core.store.lookup(`sip:carol@${DOMAIN}`)).length, 0, 'nothing registered with the stale nonce');
  phone.send(reg(2, credentials(challengeOf(r1), 'carol', USERS.carol)), core.addr);
  t.equal(((await phone.wait((m) => m.kind === 'response' && m.callId === callId && m.cseq.seq === 2)) as SipResponse).status, 200, 'the fresh nonce from that 401 works');

  // A nonce in the right shape signed with a guessed secret, and the old nonce with a wrong password.
  const forged = new StatelessNonce({ secrets: ['not-the-cluster-secret-000000'], lifetimeMs: 300_000, maxClockSkewMs: 30_000, now: Date.now }).issue(DOMAIN);
  phone.send(reg(3, credentials({ ...challenge, nonce: forged }, 'carol', USERS.carol)), core.addr);
  const r3 = (await phone.wait((m) => m.kind === 'response' && m.callId === callId && m.cseq.seq === 3)) as SipResponse;
  t.equal(r3.status, 401, 'forged nonce: 401');
  t.equal(challengeOf(r3).stale, false, 'without stale=true (the nonce was never ours)');
  phone.send(reg(4, credentials(challenge, 'carol', 'wrong-password')), core.addr);
  const r4 = (await phone.wait((m) => m.kind === 'response' && m.callId === callId && m.cseq.seq === 4)) as SipResponse;
  t.equal(r4.status, 401, 'old nonce and a wrong password: 401');
  t.equal(challengeOf(r4).stale, false, 'never stale=true without a valid digest (it would confirm nothing, but it would tell the attacker the nonce is genuine)');
  t.equal(await metric(core.node.metrics.registry, 'sipflow_core_auth_failures_total', { reason: 'stale' }), 1, 'one stale counted');
  t.equal(await metric(core.node.metrics.registry, 'sipflow_core_auth_failures_total', { reason: 'bad-nonce' }), 1, 'one forged nonce counted');
});

t.test('RFC 5627 §3: guessing GRUUs finds nothing: random pub-gruus and temp-gruus get the same answers as unknown users, and reach no one', async (t) => {
  const { core, edge } = await cluster(t);
  const alice = await browser(t, edge, '127.0.0.3');
  const ok = await wsRegisterAs(alice, 'alice', 'alice', USERS.alice);
  t.equal(ok.status, 200, 'alice registered through the edge');
  const contact = ok.get('Contact') ?? '';
  const pub = /pub-gruu="([^"]+)"/.exec(contact)?.[1];
  const temp = /temp-gruu="([^"]+)"/.exec(contact)?.[1];
  t.ok(pub && temp, 'she got a pub-gruu and a temp-gruu');
  if (!pub || !temp) return;

  const caller = await ua(t, '127.0.0.2', P.caller);
  const from = { host: '127.0.0.2', port: P.caller };
  // Calls from outside the domain need no credentials: exactly what a GRUU scanner would use.
  const call = async (uri: string, label: string): Promise<SipResponse> => {
    const callId = newCallId(label);
    caller.send(udpRequest(from, { method: 'INVITE', uri, to: uri, from: 'scanner', fromDomain: 'evil.example', callId, contact: `<sip:scanner@127.0.0.2:${P.caller}>`, body: SDP }), core.addr);
    return caller.response(callId, 'INVITE', 300, 4000);
  };

  // Control: the real pub-gruu reaches alice (she answers busy).
  const ringing = alice.waitForSip(/^INVITE /, 4000).then((inv) => alice.send(createResponse(inv as SipRequest, 486, undefined, { toTag: 'busy' }).toString()));
  t.equal((await call(pub, 'control')).status, 486, 'control: the genuine pub-gruu reaches alice');
  await ringing;

  const answers = new Map<string, number>();
  const note = (r: SipResponse) => {
    const key = `${r.status} ${r.reason}`;
    answers.set(key, (answers.get(key) ?? 0) + 1);
    return r;
  };
  const leaks: string[] = [];
  for (let i = 0; i < 30; i++) {
    const r1 = note(await call(`sip:alice@${DOMAIN};gr=urn:uuid:${uuid()}`, 'pub'));
    const r2 = note(await call(`sip:tgruu.${Buffer.from(uuid() + uuid()).toString('base64url')}@${DOMAIN};gr`, 'temp'));
    // A genuine temp-gruu with one character changed (AES-GCM: any change fails authentication).
    const user = /^sip:([^@]+)@/.exec(temp)![1]!;
    const at = 10 + (i % (user.length - 12));
    const tampered = user.slice(0, at) + (user[at] === 'A' ? 'B' : 'A') + user.slice(at + 1);
    const r3 = note(await call(`sip:${tampered}@${DOMAIN};gr`, 'tampered'));
    const r4 = note(await call(`sip:nobody${i}@${DOMAIN};gr=urn:uuid:${uuid()}`, 'nobody'));
    for (const r of [r1, r2, r3, r4]) if (r.has('Contact') || r.has('Path') || /alice|invalid/.test(r.toString().split('\r\n\r\n')[0]!.replace(/^(From|To|Call-ID|Via):.*$/gim, ''))) leaks.push(r.toString());
  }
  t.same([...answers.keys()].sort(), ['404 Unknown GRUU', '480 Temporarily Unavailable'], `only two answers for 120 guesses: ${JSON.stringify([...answers])}`);
  t.equal(answers.get('480 Temporarily Unavailable'), 60, 'a wrong ;gr for alice answers exactly like a GRUU of a user that does not exist');
  t.equal(leaks.length, 0, 'no answer carries a Contact, a Path or anything of alice');
  await sleep(200);
  t.equal(alice.frames.filter((f) => f.startsWith('INVITE ')).length, 0, 'no guess reached alice');
  t.equal(await metric(core.node.metrics.registry, 'sipflow_core_requests_forwarded_total', { method: 'INVITE' }), 1, 'no branch was started for any guess (the one INVITE forwarded is the control)');
});
