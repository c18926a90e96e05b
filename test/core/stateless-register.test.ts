/**
 * REGISTER for our domain over TCP is answered without a server transaction (ProxyCore
 * receiveStateless): the same answers as the stateful path, no transaction created, a copy that
 * arrives while the first is being answered absorbed, and everything else (UDP, a Route, a
 * Request-URI with a user part) still through a transaction.
 */
import t from 'tap';
import net from 'node:net';
import { CoreNode } from '../../core/core-node.js';
import { MemoryLocationStore } from '../../core/location/memory-store.js';
import type { Binding } from '../../core/location/location-store.js';
import { StreamParser } from '../../sip/message/stream-parser.js';
import type { SipMessage, SipResponse } from '../../sip/message/model.js';
import { UdpUa } from '../helpers/udp-ua.js';
import { sipText } from '../helpers/sip-text.js';

const DOMAIN = 'example.com';

/** A memory store whose lookups can be held back (a REGISTER stays in flight) or broken; counts writes. */
class GatedStore extends MemoryLocationStore {
  gate: Promise<void> | undefined;
  updates = 0;
  /** Lookups answer with a binding that is not one: the registrar itself fails on it. */
  brokenLookups = false;
  override async lookup(aor: string): Promise<Binding[]> {
    if (this.gate) await this.gate;
    if (this.brokenLookups) return [null as unknown as Binding];
    return super.lookup(aor);
  }
  override async update(aor: string, upsert: Binding[], removeKeys: string[]): Promise<void> {
    this.updates++;
    return super.update(aor, upsert, removeKeys);
  }
}

function registerText(opts: { branch: string; user?: string; uri?: string; extra?: string[]; via?: string; instance?: boolean }): string {
  const user = opts.user ?? 'alice';
  return sipText([
    `REGISTER ${opts.uri ?? `sip:${DOMAIN}`} SIP/2.0`,
    opts.via ?? `Via: SIP/2.0/TCP 127.0.0.1:5999;branch=${opts.branch}`,
    'Max-Forwards: 70',
    `To: <sip:${user}@${DOMAIN}>`,
    `From: <sip:${user}@${DOMAIN}>;tag=f1`,
    `Call-ID: ${opts.branch}-call`,
    'CSeq: 1 REGISTER',
    `Contact: <sip:${user}@192.0.2.10:5060;transport=tcp>${opts.instance ? ';+sip.instance="<urn:uuid:00000000-0000-4000-8000-000000000001>"' : ''}`,
    'Expires: 600',
    ...(opts.extra ?? []),
  ]);
}

/** A TCP connection to the core that collects every response it gets. */
async function tcpClient(port: number): Promise<{ socket: net.Socket; responses: SipResponse[]; next(count: number, ms?: number): Promise<SipResponse[]> }> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const responses: SipResponse[] = [];
  const parser = new StreamParser({ onMessage: (m: SipMessage) => m.kind === 'response' && responses.push(m) });
  socket.on('data', (d) => parser.push(d));
  const next = async (count: number, ms = 3000) => {
    const until = Date.now() + ms;
    while (responses.length < count && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    return responses.splice(0, count);
  };
  return { socket, responses, next };
}

function created(core: CoreNode): Promise<number> {
  return core.metrics.registry.getSingleMetricAsString('sipflow_core_transactions_created_total').then((text) => {
    let sum = 0;
    for (const line of text.split('\n')) if (line && !line.startsWith('#')) sum += Number(line.split(' ').pop());
    return sum;
  });
}

t.test('REGISTER over TCP without a transaction', async (t) => {
  const store = new GatedStore();
  const core = new CoreNode(
    { udp: { host: '127.0.0.1', port: 0 }, tcp: { host: '127.0.0.1', port: 0 }, domain: DOMAIN, auth: false, secrets: ['stateless-register-secret'], trustedSources: ['127.0.0.1'] },
    { store },
  );
  const addr = await core.start();
  t.teardown(() => core.stop());
  const client = await tcpClient(addr.tcp!.port);
  t.teardown(() => client.socket.destroy());

  await t.test('answered 200 with the binding and a GRUU, and no transaction created', async (t) => {
    const before = await created(core);
    client.socket.write(registerText({ branch: 'z9hG4bK-sl-1', extra: ['Supported: gruu'], instance: true }));
    const [r] = await client.next(1);
    t.equal(r?.status, 200);
    t.equal(r?.topVia?.params.get('branch'), 'z9hG4bK-sl-1', 'the answer carries the request Via');
    t.ok(r?.to.params.get('tag'), 'the answer has a To tag');
    t.match(r?.values('Contact').join(','), /pub-gruu=.*temp-gruu=/, 'the binding comes back with its GRUUs');
    t.equal((await store.lookup(`sip:alice@${DOMAIN}`)).length, 1, 'the binding is stored');
    t.equal(await created(core), before, 'no transaction was created');
    t.same(core.transactionCount, { client: 0, server: 0 });
  });

  await t.test('a copy arriving while the first is answered is absorbed', async (t) => {
    let open!: () => void;
    store.gate = new Promise<void>((resolve) => (open = resolve));
    const updates = store.updates;
    const text = registerText({ branch: 'z9hG4bK-sl-dup', user: 'bob' });
    client.socket.write(text + text);
    t.same(await client.next(1, 300), [], 'nothing answered while the store holds the first');
    store.gate = undefined;
    open();
    const answers = await client.next(2, 1000);
    t.equal(answers.length, 1, 'one answer for the two copies');
    t.equal(answers[0]?.status, 200);
    t.equal(store.updates - updates, 1, 'one write');
    // Timer J is zero over TCP: once answered, a copy is a new request, as it would be after a
    // transaction; the registrar refuses it for its CSeq (RFC 3261 §10.3 step 7), writing nothing.
    client.socket.write(text);
    const [again] = await client.next(1);
    t.equal(again?.status, 500, 'a copy after the answer is answered by the registrar');
    t.equal(store.updates - updates, 1, 'and writes nothing');
  });

  await t.test('Max-Forwards 0 gets 483, statelessly', async (t) => {
    const before = await created(core);
    client.socket.write(registerText({ branch: 'z9hG4bK-sl-mf' }).replace('Max-Forwards: 70', 'Max-Forwards: 0'));
    const [r] = await client.next(1);
    t.equal(r?.status, 483);
    t.equal(await created(core), before);
  });

  await t.test('a failing registrar gets 500, and the next REGISTER is served', async (t) => {
    store.brokenLookups = true;
    client.socket.write(registerText({ branch: 'z9hG4bK-sl-500', user: 'carol' }));
    const [r] = await client.next(1);
    t.equal(r?.status, 500);
    store.brokenLookups = false;
    client.socket.write(registerText({ branch: 'z9hG4bK-sl-500b', user: 'carol' }));
    const [ok] = await client.next(1);
    t.equal(ok?.status, 200);
  });

  await t.test('a REGISTER for another domain is refused through a transaction', async (t) => {
    const before = await created(core);
    client.socket.write(registerText({ branch: 'z9hG4bK-sl-foreign', uri: 'sip:elsewhere.example.net' }));
    const [r] = await client.next(1);
    t.equal(r?.status, 403);
    t.equal(await created(core), before + 1, 'a transaction took it');
  });

  await t.test('a REGISTER with an RFC 2543 branch goes through a transaction', async (t) => {
    const before = await created(core);
    client.socket.write(registerText({ branch: 'old-style-branch', user: 'dave' }));
    const [r] = await client.next(1);
    t.equal(r?.status, 200);
    t.equal(await created(core), before + 1);
  });

  await t.test('over UDP a REGISTER keeps its transaction (it absorbs retransmissions for 64*T1)', async (t) => {
    const ua = await UdpUa.open();
    t.teardown(() => ua.close());
    const before = await created(core);
    const text = registerText({ branch: 'z9hG4bK-sl-udp', user: 'erin', via: `Via: SIP/2.0/UDP 127.0.0.1:${ua.port};branch=z9hG4bK-sl-udp;rport` });
    ua.send(text, { host: '127.0.0.1', port: addr.udp.port });
    const r = await ua.wait<SipResponse>((m) => m.kind === 'response', 3000, 'the answer');
    t.equal(r.status, 200);
    t.equal(await created(core), before + 1);
  });
});
