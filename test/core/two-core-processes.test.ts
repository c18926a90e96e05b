/**
 * Two core processes sharing one Cassandra keyspace: a desk phone registered through core A is
 * reached by a call entering core B (B → A, its home proxy → phone), and its binding expires
 * through Cassandra's TTL with nothing sweeping it.
 */
import t from 'tap';
import { ensureCassandra, uniqueKeyspace, dropKeyspace } from '../helpers/cassandra.js';
import { startRole } from '../helpers/processes.js';
import { UdpUa, branch, callId } from '../helpers/udp-ua.js';
import { sipText } from '../helpers/sip-text.js';

const c = await ensureCassandra();
const keyspace = uniqueKeyspace('twocore');
const common = ['--domain', 'example.com', '--store', 'cassandra', '--cassandra', c.contactPoint, '--dc', c.localDataCenter, '--keyspace', keyspace, '--consistency', 'LOCAL_ONE', '--auth', 'off', '--min-expires', '1', '--secret', 'two-core-test-secret-0123456789'];
const a = await startRole(['core', '--udp', '127.0.0.1:25301', ...common]);
const b = await startRole(['core', '--udp', '127.0.0.1:25303', ...common]);
const coreA = { host: '127.0.0.1', port: 25301 };
const coreB = { host: '127.0.0.1', port: 25303 };
t.teardown(async () => {
  await a.kill();
  await b.kill();
  await dropKeyspace(c, keyspace);
});

t.test('a phone registered on core A is reachable through core B, via A', async (t) => {
  const phone = await UdpUa.open();
  const caller = await UdpUa.open();
  t.teardown(() => {
    phone.close();
    caller.close();
  });
  phone.send(sipText(['REGISTER sip:example.com SIP/2.0', `Via: SIP/2.0/UDP 127.0.0.1:${phone.port};branch=${branch()};rport`, 'Max-Forwards: 70', 'To: <sip:phone@example.com>', 'From: <sip:phone@example.com>;tag=1', 'Call-ID: tc-reg', 'CSeq: 1 REGISTER', `Contact: <sip:phone@127.0.0.1:${phone.port}>`, 'Expires: 3']), coreA);
  t.equal((await phone.response('tc-reg', 'REGISTER')).status, 200);

  phone.autoAnswer = (req) => (req.method === 'INVITE' ? { status: 486 } : undefined);
  const cid = callId();
  caller.send(sipText([`INVITE sip:phone@example.com SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${caller.port};branch=${branch()};rport`, 'Max-Forwards: 70', 'To: <sip:phone@example.com>', 'From: <sip:caller@example.com>;tag=c', `Call-ID: ${cid}`, 'CSeq: 1 INVITE', `Contact: <sip:caller@127.0.0.1:${caller.port}>`]), coreB);
  const invite = await phone.request('INVITE', 5000, cid);
  const viaPorts = invite.vias.map((v) => v.port);
  t.same(viaPorts.slice(0, 2), [25301, 25303], 'B forwarded to A (the home proxy), A delivered to the phone');
  t.equal((await caller.response(cid, 'INVITE', 300)).status, 486, 'the answer came back the same way');

  await new Promise((r) => setTimeout(r, 4500));
  const cid2 = callId();
  caller.send(sipText([`INVITE sip:phone@example.com SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${caller.port};branch=${branch()};rport`, 'Max-Forwards: 70', 'To: <sip:phone@example.com>', 'From: <sip:caller@example.com>;tag=c', `Call-ID: ${cid2}`, 'CSeq: 1 INVITE', `Contact: <sip:caller@127.0.0.1:${caller.port}>`]), coreB);
  t.equal((await caller.response(cid2, 'INVITE', 300)).status, 480, 'after its expiry the binding is gone (TTL), the call gets 480');
});
