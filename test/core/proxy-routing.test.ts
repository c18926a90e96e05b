/**
 * Proxy behaviours the suite did not cover yet: unknown methods are proxied, q-value groups are
 * tried in order (RFC 3261 §16.6), and a next hop that is a strict router (Route without lr) gets
 * its URI as Request-URI with the old Request-URI appended to Route (§16.6 step 6).
 */
import t from 'tap';
import { CoreNode } from '../../core/core-node.js';
import { MemoryLocationStore } from '../../core/location/memory-store.js';
import { UdpUa, branch, callId } from '../helpers/udp-ua.js';
import { sipText } from '../helpers/sip-text.js';

const node = new CoreNode({ udp: { host: '127.0.0.1', port: 0 }, domain: 'example.com', auth: false, secrets: ['routing-test-secret-0123456789'] }, { store: new MemoryLocationStore() });
const core = (await node.start()).udp;
t.teardown(() => node.stop());

async function registerAs(ua: UdpUa, user: string, q?: string): Promise<void> {
  const cid = `reg-${user}-${ua.port}`;
  ua.send(sipText([`REGISTER sip:example.com SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${ua.port};branch=${branch()};rport`, 'Max-Forwards: 70', `To: <sip:${user}@example.com>`, `From: <sip:${user}@example.com>;tag=r`, `Call-ID: ${cid}`, 'CSeq: 1 REGISTER', `Contact: <sip:${user}@127.0.0.1:${ua.port}>${q ? `;q=${q}` : ''}`]), core);
  await ua.response(cid, 'REGISTER');
}

const request = (ua: UdpUa, method: string, uri: string, cid: string, extra: string[] = []) =>
  sipText([`${method} ${uri} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${ua.port};branch=${branch()};rport`, 'Max-Forwards: 70', `To: <sip:x@example.com>`, `From: <sip:caller@example.com>;tag=c`, `Call-ID: ${cid}`, `CSeq: 1 ${method}`, `Contact: <sip:caller@127.0.0.1:${ua.port}>`, ...extra]);

t.test('an unknown method is proxied like any request', async (t) => {
  const target = await UdpUa.open();
  const caller = await UdpUa.open();
  t.teardown(() => {
    target.close();
    caller.close();
  });
  await registerAs(target, 'uma');
  target.autoAnswer = (r) => (r.method === 'FROBNICATE' ? { status: 200 } : undefined);
  const cid = callId();
  caller.send(request(caller, 'FROBNICATE', 'sip:uma@example.com', cid), core);
  t.equal((await target.request('FROBNICATE', 3000, cid)).uriText, `sip:uma@127.0.0.1:${target.port}`);
  t.equal((await caller.response(cid, 'FROBNICATE')).status, 200);
});

t.test('q-value groups: the higher q rings first, the lower only after it declines', async (t) => {
  const high = await UdpUa.open();
  const low = await UdpUa.open();
  const caller = await UdpUa.open();
  t.teardown(() => {
    high.close();
    low.close();
    caller.close();
  });
  await registerAs(high, 'quinn', '1.0');
  await registerAs(low, 'quinn', '0.5');
  const cid = callId();
  caller.send(request(caller, 'INVITE', 'sip:quinn@example.com', cid), core);
  const first = await high.request('INVITE', 3000, cid);
  await new Promise((r) => setTimeout(r, 200));
  t.notOk(low.received.some((m) => m.kind === 'request' && m.callId === cid), 'the q=0.5 contact waits while q=1.0 is tried');
  high.reply(first, 486);
  const second = await low.request('INVITE', 3000, cid);
  t.ok(second, 'then the q=0.5 contact rings');
  low.reply(second, 200, [['Contact', `<sip:quinn@127.0.0.1:${low.port}>`]]);
  t.equal((await caller.response(cid, 'INVITE', 200)).status, 200, 'and its answer wins');
});

t.test('a strict-router next hop gets its URI as Request-URI and the old one at the end of Route', async (t) => {
  const strict = await UdpUa.open();
  const caller = await UdpUa.open();
  t.teardown(() => {
    strict.close();
    caller.close();
  });
  const cid = callId();
  caller.send(request(caller, 'BYE', 'sip:far@elsewhere.example', cid, [`Route: <sip:127.0.0.1:${strict.port}>`]).replace('To: <sip:x@example.com>', 'To: <sip:x@example.com>;tag=t'), core);
  const got = await strict.request('BYE', 3000, cid);
  t.equal(got.uriText, `sip:127.0.0.1:${strict.port}`, 'Request-URI is the strict router');
  t.equal(got.values('Route').pop(), '<sip:far@elsewhere.example>', 'the old Request-URI is the last Route');
});
