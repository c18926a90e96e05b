/**
 * Health as load balancers and edges see it: /readyz and OPTIONS follow the location store,
 * and the metrics move for a registration and a call.
 */
import t from 'tap';
import { CoreNode } from '../../core/core-node.js';
import { MemoryLocationStore } from '../../core/location/memory-store.js';
import { LocationStoreError } from '../../core/location/location-store.js';
import { UdpUa, branch, callId } from '../helpers/udp-ua.js';
import { sipText } from '../helpers/sip-text.js';

/** A memory store that can be made to fail like an unreachable Cassandra. */
class FlakyStore extends MemoryLocationStore {
  down = false;
  override async ping(): Promise<void> {
    if (this.down) throw new LocationStoreError('store down (test)');
    return super.ping();
  }
  override async lookup(aor: string) {
    if (this.down) throw new LocationStoreError('store down (test)');
    return super.lookup(aor);
  }
}

async function until(pred: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await pred()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

t.test('/readyz and OPTIONS turn unready when the store goes away and ready when it returns', async (t) => {
  const store = new FlakyStore();
  const node = new CoreNode({ udp: { host: '127.0.0.1', port: 0 }, domain: 'example.com', auth: false, secrets: ['health-test-secret-0123456789'], metrics: { host: '127.0.0.1', port: 0 } }, { store });
  const { udp, metrics } = await node.start();
  const ua = await UdpUa.open();
  t.teardown(async () => {
    ua.close();
    await node.stop();
  });
  const readyz = async () => (await fetch(`http://127.0.0.1:${metrics!.port}/readyz`)).status;
  let n = 0;
  const options = async () => {
    const cid = `opt-${n++}`;
    ua.send(sipText(['OPTIONS sip:example.com SIP/2.0', `Via: SIP/2.0/UDP 127.0.0.1:${ua.port};branch=${branch()}`, 'Max-Forwards: 70', 'To: <sip:example.com>', 'From: <sip:probe@example.com>;tag=1', `Call-ID: ${cid}`, 'CSeq: 1 OPTIONS']), udp);
    return (await ua.response(cid, 'OPTIONS')).status;
  };
  t.equal(await readyz(), 200);
  t.equal(await options(), 200);
  t.equal((await fetch(`http://127.0.0.1:${metrics!.port}/healthz`)).status, 200);
  store.down = true;
  t.equal(await readyz(), 503, '/readyz says not ready at once');
  t.ok(await until(async () => (await options()) === 503, 5000), 'OPTIONS answers 503 within the probe interval, so edges move away');
  store.down = false;
  t.equal(await readyz(), 200, 'ready again');
  t.ok(await until(async () => (await options()) === 200, 5000), 'OPTIONS 200 again');
  const status = (await (await fetch(`http://127.0.0.1:${metrics!.port}/status`)).json()) as { role: string; node: string };
  t.equal(status.role, 'core');
  t.match(status.node, /^127\.0\.0\.1:\d+$/);
});

t.test('metrics move for a registration and a call', async (t) => {
  const node = new CoreNode({ udp: { host: '127.0.0.1', port: 0 }, domain: 'example.com', auth: false, secrets: ['health-test-secret-0123456789'], metrics: { host: '127.0.0.1', port: 0 } }, { store: new MemoryLocationStore() });
  const { udp, metrics } = await node.start();
  const phone = await UdpUa.open();
  t.teardown(async () => {
    phone.close();
    await node.stop();
  });
  const scrape = async () => (await fetch(`http://127.0.0.1:${metrics!.port}/metrics`)).text();
  const value = (text: string, re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
  const before = await scrape();
  phone.send(sipText(['REGISTER sip:example.com SIP/2.0', `Via: SIP/2.0/UDP 127.0.0.1:${phone.port};branch=${branch()}`, 'Max-Forwards: 70', 'To: <sip:p@example.com>', 'From: <sip:p@example.com>;tag=1', 'Call-ID: m-reg', 'CSeq: 1 REGISTER', `Contact: <sip:p@127.0.0.1:${phone.port}>`]), udp);
  await phone.response('m-reg', 'REGISTER');
  phone.autoAnswer = (r) => (r.method === 'INVITE' ? { status: 486 } : undefined);
  const cid = callId();
  phone.send(sipText(['INVITE sip:p@example.com SIP/2.0', `Via: SIP/2.0/UDP 127.0.0.1:${phone.port};branch=${branch()}`, 'Max-Forwards: 70', 'To: <sip:p@example.com>', 'From: <sip:q@example.com>;tag=2', `Call-ID: ${cid}`, 'CSeq: 1 INVITE', `Contact: <sip:q@127.0.0.1:${phone.port}>`]), udp);
  await phone.wait((m) => m.kind === 'response' && m.callId === cid && m.status === 486, 5000, '486 relayed');
  const after = await scrape();
  const reg = /sipflow_core_registrations_total\{outcome="ok"\} (\d+)/;
  t.equal(value(after, reg) - value(before, reg), 1, 'one registration counted');
  const fwd = /sipflow_core_requests_forwarded_total\{method="INVITE"\} (\d+)/;
  t.equal(value(after, fwd) - value(before, fwd), 1, 'one INVITE forwarded');
  t.match(after, /sipflow_core_responses_sent_total\{status="486",origin="relayed"\} 1/);
  t.match(after, /sipflow_core_register_duration_seconds_count 1/);
  t.match(after, /sipflow_core_transactions\{type="server"\} \d+/);
});

t.test('store failures reach SIP clients as 503 with Retry-After, never as a hang', async (t) => {
  const store = new FlakyStore();
  const node = new CoreNode({ udp: { host: '127.0.0.1', port: 0 }, domain: 'example.com', auth: false, secrets: ['health-test-secret-0123456789'] }, { store });
  const { udp } = await node.start();
  const ua = await UdpUa.open();
  t.teardown(async () => {
    ua.close();
    await node.stop();
  });
  store.down = true;
  const started = Date.now();
  ua.send(sipText(['REGISTER sip:example.com SIP/2.0', `Via: SIP/2.0/UDP 127.0.0.1:${ua.port};branch=${branch()}`, 'Max-Forwards: 70', 'To: <sip:p@example.com>', 'From: <sip:p@example.com>;tag=1', 'Call-ID: down-reg', 'CSeq: 1 REGISTER', `Contact: <sip:p@127.0.0.1:${ua.port}>`]), udp);
  const r = await ua.response('down-reg', 'REGISTER');
  t.equal(r.status, 503);
  t.match(r.get('Retry-After'), /^\d+$/);
  const cid = callId();
  ua.send(sipText(['INVITE sip:p@example.com SIP/2.0', `Via: SIP/2.0/UDP 127.0.0.1:${ua.port};branch=${branch()}`, 'Max-Forwards: 70', 'To: <sip:p@example.com>', 'From: <sip:q@example.com>;tag=2', `Call-ID: ${cid}`, 'CSeq: 1 INVITE', `Contact: <sip:q@127.0.0.1:${ua.port}>`]), udp);
  const inv = await ua.response(cid, 'INVITE', 200);
  t.equal(inv.status, 503, 'a call needing a lookup gets 503 too');
  t.ok(Date.now() - started < 3000, 'answered at once');
});
