/**
 * Two edges, two cores, one shared store, real SIP.js user agents over WebSocket: registration
 * with Path and GRUUs, calls both ways with re-INVITE and BYE, a GRUU reaching only its instance,
 * a dead flow answered 430 by its edge and the call completed on the UA's other flow, and a UDP
 * desk phone on a core calling a browser and back. Run once per way edges reach cores (UDP, TCP):
 * edges-and-cores-udp.test.ts and edges-and-cores-tcp.test.ts.
 */
import t, { type Test } from 'tap';
import WebSocket from 'ws';
import { randomUUID } from 'node:crypto';
import { Inviter, Registerer, RegistererState, SessionState, UserAgent, type Invitation, type SessionDescriptionHandler } from 'sip.js';
import { CoreNode, type CoreNodeOptions } from '../../core/core-node.js';
import { MemoryLocationStore } from '../../core/location/memory-store.js';
import { EdgeNode } from '../../edge/edge-node.js';
import type { CoreTransport } from '../../edge/edge-uris.js';
import { SipWsClient } from '../edge/fixtures/sip-ws-client.js';
import { UdpUa, branch, callId } from '../helpers/udp-ua.js';
import { sipText } from '../helpers/sip-text.js';

(globalThis as { WebSocket?: unknown }).WebSocket = WebSocket;
const SECRET = 'integration-test-secret-0123456789';
const DOMAIN = 'example.test';
const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n';
const sdh = (): SessionDescriptionHandler => ({
  close: () => undefined,
  getDescription: async () => ({ body: SDP, contentType: 'application/sdp' }),
  hasDescription: (ct: string) => ct === 'application/sdp',
  setDescription: async () => undefined,
  sendDtmf: () => false,
});

async function eventually(fn: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (fn()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return fn();
}

export async function edgesAndCoresSuite(coreTransport: CoreTransport, coreHosts: [string, string]): Promise<void> {
  const store = new MemoryLocationStore();
  // Over TCP an edge reaches a core at the port it is listed with, so each core listens on TCP at
  // its UDP port; fixed ports on addresses of their own keep parallel test files apart.
  const coreListen = (host: string): Pick<CoreNodeOptions, 'udp' | 'tcp'> =>
    coreTransport === 'tcp' ? { udp: { host, port: 5060 }, tcp: { host, port: 5060 } } : { udp: { host, port: 0 } };
  const cores = coreHosts.map((host) => new CoreNode({ ...coreListen(host), domain: DOMAIN, auth: false, secrets: [SECRET] }, { store }));
  const coreAddrs: { host: string; port: number }[] = [];
  for (const c of cores) coreAddrs.push((await c.start()).udp);
  const edges = [0, 1].map(() => new EdgeNode({ ws: { host: '127.0.0.1', port: 0 }, cores: coreAddrs, coreTransport, secrets: [SECRET], probeInterval: 500 }));
  const edgeUrls: string[] = [];
  for (const e of edges) edgeUrls.push(`ws://127.0.0.1:${(await e.start()).ws.port}/`);
  t.teardown(async () => {
    for (const e of edges) await e.stop();
    for (const c of cores) await c.stop();
  });

  t.test(`edges send to the cores over ${coreTransport.toUpperCase()} and take requests back the same way`, async (t) => {
    const alice = await browser(t, 'tia', 0);
    const bob = await browser(t, 'tom', 1);
    const call = new Inviter(alice.ua, UserAgent.makeURI(`sip:tom@${DOMAIN}`)!);
    await call.invite();
    t.ok(await eventually(() => call.state === SessionState.Established), 'established');
    await call.bye();
    t.ok(await eventually(() => bob.incoming[0]?.state === SessionState.Terminated), 'BYE reached tom');
    const other = coreTransport === 'tcp' ? 'udp' : 'tcp';
    for (const [i, edge] of edges.entries()) {
      const text = await edge.metrics.registry.metrics();
      const sent = (side: string, type: string) => Number(new RegExp(`messages_out_total\\{side="${side}",type="${type}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
      const received = (side: string, type: string) => Number(new RegExp(`messages_in_total\\{side="${side}",type="${type}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
      t.ok(sent(coreTransport, 'REGISTER') >= 1, `edge ${i + 1} sent its REGISTER over ${coreTransport}`);
      t.equal(sent(other, 'REGISTER') + sent(other, 'INVITE'), 0, `edge ${i + 1} sent no request over ${other}`);
      t.equal(received(other, 'INVITE') + received(other, '2xx'), 0, `edge ${i + 1} received nothing over ${other}`);
    }
    t.ok(Number(/messages_in_total\{side="[a-z]+",type="INVITE"\} (\d+)/.exec(await edges[1]!.metrics.registry.metrics())?.[1] ?? 0) >= 1, "the callee's edge took the INVITE from a core");
  });

  interface Phone {
    ua: UserAgent;
    registerer: Registerer;
    incoming: Invitation[];
  }

  async function browser(t: Test, user: string, edge: number, opts: { instance?: string; regId?: number } = {}): Promise<Phone> {
    const incoming: Invitation[] = [];
    const ua = new UserAgent({
      uri: UserAgent.makeURI(`sip:${user}@${DOMAIN}`)!,
      transportOptions: { server: edgeUrls[edge]! },
      logLevel: 'error',
      instanceId: opts.instance ?? randomUUID(),
      sessionDescriptionHandlerFactory: () => sdh(),
      delegate: {
        onInvite: (inv) => {
          incoming.push(inv);
          void inv.accept();
        },
      },
    });
    await ua.start();
    t.teardown(() => ua.stop());
    const registerer = new Registerer(ua, { regId: opts.regId ?? 1 });
    await registerer.register();
    t.ok(await eventually(() => registerer.state === RegistererState.Registered), `${user} registered through edge ${edge + 1}`);
    return { ua, registerer, incoming };
  }

  t.test('registration through an edge returns Path, pub-gruu and temp-gruu; SIP.js then uses its GRUU', async (t) => {
    const alice = await browser(t, 'alice', 0);
    const contact = (alice.ua as unknown as { contact: { pubGruu?: { toString(): string }; tempGruu?: { toString(): string } } }).contact;
    t.match(String(contact.pubGruu), /^sip:alice@example\.test;gr=urn:uuid:/, 'pub-gruu');
    t.match(String(contact.tempGruu), /^sip:tgruu\.[A-Za-z0-9_-]+@example\.test;gr$/, 'temp-gruu');
    await alice.registerer.unregister();
  });

  t.test('browser on edge 1 calls browser on edge 2 and back; re-INVITE and BYE work', async (t) => {
    const alice = await browser(t, 'ann', 0);
    const bob = await browser(t, 'ben', 1);
    const call = new Inviter(alice.ua, UserAgent.makeURI(`sip:ben@${DOMAIN}`)!);
    await call.invite();
    t.ok(await eventually(() => call.state === SessionState.Established), 'established');
    // RFC 6337 §4.3: a UA answers 500 to a re-INVITE while it still processes the ACK; let it settle.
    await new Promise((r) => setTimeout(r, 300));
    const reinvite = await new Promise<number>((resolve) => {
      void call.invite({ requestDelegate: { onAccept: () => resolve(200), onReject: (r) => resolve(r.message.statusCode ?? 0) } });
    });
    t.equal(reinvite, 200, `re-INVITE accepted (${reinvite})`);
    await call.bye();
    t.ok(await eventually(() => bob.incoming[0]?.state === SessionState.Terminated), 'BYE reached bob');

    const back = new Inviter(bob.ua, UserAgent.makeURI(`sip:ann@${DOMAIN}`)!);
    await back.invite();
    t.ok(await eventually(() => back.state === SessionState.Established), 'the other direction works too');
    await back.bye();
    t.ok(await eventually(() => alice.incoming[0]?.state === SessionState.Terminated), 'BYE reached ann');
  });

  t.test('a call to a GRUU reaches only that instance', async (t) => {
    const caller = await browser(t, 'cat', 0);
    const one = await browser(t, 'dan', 0);
    const two = await browser(t, 'dan', 1);
    const gruuTwo = String((two.ua as unknown as { contact: { pubGruu?: unknown } }).contact.pubGruu);
    t.match(gruuTwo, /;gr=urn:uuid:/);
    const call = new Inviter(caller.ua, UserAgent.makeURI(gruuTwo)!);
    await call.invite();
    t.ok(await eventually(() => call.state === SessionState.Established), 'established');
    t.equal(two.incoming.length, 1, 'the GRUU instance rang');
    t.equal(one.incoming.length, 0, 'the other instance of the same AOR did not');
    await call.bye();
  });

  t.test("a dead flow gets 430 at its edge and the core completes the call on the instance's other flow", async (t) => {
    const caller = await browser(t, 'eve', 0);
    const instance = randomUUID();
    const live = await browser(t, 'fay', 1, { instance, regId: 2 });
    // The same instance's other flow, registered later (so tried first), then its connection dies.
    const dying = await SipWsClient.connect(edgeUrls[0]!);
    dying.send(
      sipText([
        `REGISTER sip:${DOMAIN} SIP/2.0`,
        `Via: SIP/2.0/WS dying.invalid;branch=${branch()}`,
        'Max-Forwards: 70',
        `To: <sip:fay@${DOMAIN}>`,
        `From: <sip:fay@${DOMAIN}>;tag=d1`,
        'Call-ID: dying-flow',
        'CSeq: 1 REGISTER',
        `Contact: <sip:fay@dying.invalid;transport=ws;ob>;+sip.instance="<urn:uuid:${instance}>";reg-id=1;expires=3600`,
        'Supported: path, gruu, outbound',
      ]),
    );
    await dying.waitFor((f) => f.startsWith('SIP/2.0 200') && f.includes('dying-flow'));
    t.equal((await store.lookup(`sip:fay@${DOMAIN}`)).length, 2, 'two flows for one instance');
    dying.ws.terminate();
    await eventually(() => dying.closed);
    const before = await edges[0]!.metrics.registry.metrics();
    const call = new Inviter(caller.ua, UserAgent.makeURI(`sip:fay@${DOMAIN}`)!);
    await call.invite();
    t.ok(await eventually(() => call.state === SessionState.Established, 8000), 'the call succeeded on the other flow');
    t.equal(live.incoming.length, 1, 'the live flow rang');
    const after = await edges[0]!.metrics.registry.metrics();
    const count = (text: string) => Number(/sipflow_edge_\w+\{[^}]*(?:cause|reason)="(?:flow-failed|430|dead-flow|unknown-flow)"[^}]*\} (\d+)/.exec(text)?.[1] ?? 0);
    t.ok(count(after) > count(before) || /430/.test(after), 'edge 1 answered 430 for the dead flow');
    await call.bye();
  });

  t.test('a UDP desk phone on a core calls a browser on an edge, and back', async (t) => {
    const web = await browser(t, 'gus', 1);
    const phone = await UdpUa.open();
    t.teardown(() => phone.close());
    const core = coreAddrs[0]!;
    phone.send(sipText([`REGISTER sip:${DOMAIN} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${phone.port};branch=${branch()};rport`, 'Max-Forwards: 70', `To: <sip:desk@${DOMAIN}>`, `From: <sip:desk@${DOMAIN}>;tag=p`, 'Call-ID: desk-reg', 'CSeq: 1 REGISTER', `Contact: <sip:desk@127.0.0.1:${phone.port}>`]), core);
    t.equal((await phone.response('desk-reg', 'REGISTER')).status, 200);

    const cid = callId();
    phone.send(sipText([`INVITE sip:gus@${DOMAIN} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${phone.port};branch=${branch()};rport`, 'Max-Forwards: 70', `To: <sip:gus@${DOMAIN}>`, `From: <sip:desk@${DOMAIN}>;tag=p1`, `Call-ID: ${cid}`, 'CSeq: 1 INVITE', `Contact: <sip:desk@127.0.0.1:${phone.port}>`, 'Content-Type: application/sdp'], SDP), core);
    const ok = await phone.response(cid, 'INVITE', 200, 8000);
    t.equal(ok.status, 200, 'the browser answered the phone');
    t.ok(await eventually(() => web.incoming.length === 1), 'the browser rang');
    // ACK for the 2xx along the route set the 200 carried (RFC 3261 §12.1.2: reversed Record-Route).
    const contact = ok.contacts === '*' ? undefined : ok.contacts[0];
    const routes = ok.values('Record-Route').reverse();
    phone.send(sipText([`ACK ${contact ? contact.uri.scheme + ':' + (contact.uri.user ? contact.uri.user + '@' : '') + contact.uri.host + (contact.uri.port ? ':' + contact.uri.port : '') + [...contact.uri.params].map(([k, v]) => ';' + k + (v === null ? '' : '=' + v)).join('') : `sip:gus@${DOMAIN}`} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${phone.port};branch=${branch()};rport`, 'Max-Forwards: 70', ...routes.map((r) => `Route: ${r}`), `To: ${ok.get('To')}`, `From: <sip:desk@${DOMAIN}>;tag=p1`, `Call-ID: ${cid}`, 'CSeq: 1 ACK']), core);
    await new Promise((r) => setTimeout(r, 300));
    t.notOk(phone.received.filter((m) => m.kind === 'response' && m.callId === cid && m.status === 200).length > 1, 'the ACK reached the browser: no 200 retransmissions');

    phone.autoAnswer = (req) => (req.method === 'INVITE' || req.method === 'BYE' ? { status: req.method === 'INVITE' ? 200 : 200, headers: [['Contact', `<sip:desk@127.0.0.1:${phone.port}>`], ['Content-Type', 'application/sdp']], ...(req.method === 'INVITE' ? { body: SDP } : {}) } : undefined);
    const back = new Inviter(web.ua, UserAgent.makeURI(`sip:desk@${DOMAIN}`)!);
    await back.invite();
    t.ok(await eventually(() => back.state === SessionState.Established, 8000), 'the browser reached the phone through its home core');
    await back.bye();
    t.ok(await eventually(() => phone.received.some((m) => m.kind === 'request' && m.method === 'BYE')), 'the BYE reached the phone');
  });
}
