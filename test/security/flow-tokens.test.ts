/**
 * Flow tokens under attack, cluster-level: one core and two edges in this process, a real browser
 * flow (a WebSocket client) registered through edge 1, and an attacker on UDP who forges, tampers
 * with, replays and misdirects the tokens that name flows (RFC 5626 §5.2). Whatever it sends, no
 * request reaches a flow it did not name with a genuine token, and nothing goes to the address the
 * attacker wrote inside a token: a listening "sink" socket there stays silent.
 *
 * Ports (127.0.0.1): core 27000; edge 1 ws 27001 / udp 27002; edge 2 ws 27003 / udp 27004;
 * attacker 27010; sink 27011; honest caller 27012; an outsider on 127.0.0.2:27013.
 */
import t, { type Test } from 'tap';
import { FlowTokenCodec } from '../../sip/outbound/flow-token.js';
import { parseNameAddr } from '../../sip/grammar/name-addr.js';
import type { SipRequest, SipResponse } from '../../sip/message/model.js';
import { createResponse } from '../../sip/message/factory.js';
import { SipWsClient } from '../edge/fixtures/sip-ws-client.js';
import { udpUaAt } from '../helpers/netns.js';
import type { UdpUa } from '../helpers/udp-ua.js';
import { DOMAIN, HOST, SECRET, metric, sleep, startCore, startEdge, until, type CoreHandle, type EdgeHandle } from './fixtures/cluster.js';
import { SDP, newCallId, udpRequest, wsRegister } from './fixtures/messages.js';

const P = { core: 27000, e1ws: 27001, e1udp: 27002, e2ws: 27003, e2udp: 27004, attacker: 27010, sink: 27011, caller: 27012, outsider: 27013 };
const SINK = { host: HOST, port: P.sink };
const WRONG_SECRET = 'an-attacker-guess-at-the-secret-0000';

interface Cluster {
  core: CoreHandle;
  e1: EdgeHandle;
  e2: EdgeHandle;
  attacker: UdpUa;
  sink: UdpUa;
}

async function cluster(t: Test, auth = false): Promise<Cluster> {
  const core = await startCore(t, P.core, { auth, trustedSources: [`${HOST}:${P.e1udp}`, `${HOST}:${P.e2udp}`], timerCMs: 3000, timers: { t1: 50 } }, { alice: 'alice-password' });
  const e1 = await startEdge(t, { ws: P.e1ws, udp: P.e1udp }, [core.addr], { timers: { t1: 50 } });
  const e2 = await startEdge(t, { ws: P.e2ws, udp: P.e2udp }, [core.addr], { timers: { t1: 50 } });
  const attacker = await ua(t, HOST, P.attacker);
  const sink = await ua(t, HOST, P.sink);
  return { core, e1, e2, attacker, sink };
}

async function ua(t: Test, host: string, port: number): Promise<UdpUa> {
  const u = await udpUaAt(host, port);
  t.teardown(() => u.close());
  return u;
}

/** A browser registered through `edge`: its WebSocket and the flow token the edge put in its Path. */
async function browser(t: Test, edge: EdgeHandle, user: string): Promise<{ ws: SipWsClient; token: string; path: string }> {
  const ws = await SipWsClient.connect(edge.url);
  t.teardown(() => ws.close());
  ws.send(wsRegister(user));
  const ok = await ws.waitForSip(/^SIP\/2.0 200/);
  const path = ok.values('Path')[0];
  if (!path) throw new Error('the 200 OK to REGISTER carries no Path');
  return { ws, token: parseNameAddr(path).uri.user!, path };
}

/** Sends an in-dialog MESSAGE (To tag: loose-routed by any proxy) through the core along `route`. */
async function viaCore(c: Cluster, route: string, label: string): Promise<number> {
  const callId = newCallId(label);
  c.attacker.send(udpRequest({ host: HOST, port: P.attacker }, { method: 'MESSAGE', uri: `sip:alice@${DOMAIN}`, toTag: 'dlg1', callId, routes: [route], body: 'pwned', contentType: 'text/plain' }), c.core.addr);
  const r = await c.attacker.response(callId, 'MESSAGE', 200, 4000);
  return r.status;
}

function delivered(ws: SipWsClient): string[] {
  return ws.frames.filter((f) => !f.startsWith('SIP/2.0'));
}

/** A token of edge 1's format naming `ref`, signed with a secret the attacker guessed. */
function forgedEdgeToken(nodeId: string, ref: { host: string; port: number; flow: string }): string {
  return new FlowTokenCodec([WRONG_SECRET], nodeId).encode({ transport: 'ws', ...ref });
}

t.test('(a) RFC 5626 §5.2: a token with a wrong MAC, or signed with a guessed secret, is refused (403) and never delivered', async (t) => {
  const c = await cluster(t);
  const alice = await browser(t, c.e1, 'alice');
  const edgeRoute = (token: string) => `<sip:${token}@${HOST}:${P.e1udp};transport=udp;lr>`;

  const [payload, mac] = alice.token.split('.') as [string, string];
  const flipped = mac.slice(0, -2) + (mac.endsWith('AA') ? 'BB' : 'AA');
  t.equal(await viaCore(c, edgeRoute(`${payload}.${flipped}`), 'mac'), 403, 'genuine payload, tampered MAC: 403');

  const decoded = new FlowTokenCodec([SECRET], c.e1.edge.nodeId).decode(alice.token);
  if (!decoded.ok) throw new Error('the genuine token does not verify');
  t.equal(await viaCore(c, edgeRoute(forgedEdgeToken(c.e1.edge.nodeId, { host: decoded.ref.host, port: decoded.ref.port, flow: decoded.ref.flow })), 'guess'), 403, "alice's flow named exactly, signed with a guessed secret: 403");
  t.equal(await viaCore(c, edgeRoute(`${payload}x.${mac}`), 'junk'), 403, 'a malformed token: 403');
  const answering = answerOnce(alice.ws);
  t.equal(await viaCore(c, edgeRoute(alice.token), 'genuine'), 200, 'control: the genuine token does reach alice (she answers 200)');
  await answering;

  t.equal(await c.e1.edge.metrics.refusalCount('forged-token'), 3, 'three forged tokens counted at edge 1');
  t.equal(delivered(alice.ws).length, 0, 'nothing but the genuine one (answered above) was delivered');

  // Straight to the edge's UDP side from an address that is not a core: not even looked at.
  const outsider = await ua(t, '127.0.0.2', P.outsider);
  const before = await c.e1.edge.metrics.refusalCount('unknown-peer');
  const callId = newCallId('outsider');
  outsider.send(udpRequest({ host: '127.0.0.2', port: P.outsider }, { method: 'MESSAGE', uri: `sip:alice@${DOMAIN}`, toTag: 'x', callId, routes: [edgeRoute(alice.token)], body: 'from outside', contentType: 'text/plain' }), c.e1.udp);
  t.ok(await until(async () => (await c.e1.edge.metrics.refusalCount('unknown-peer')) === before + 1, 2000), 'a request from a non-core address is refused as unknown-peer');
  await sleep(300);
  t.notOk(delivered(alice.ws).some((f) => f.includes('from outside')), 'even with a genuine token it never reaches the flow');
  t.equal(outsider.received.length, 0, 'and the outsider learns nothing (no answer at all)');
  t.equal(c.sink.received.length, 0, 'the sink heard nothing');
});

/** Answers the next MESSAGE the browser receives with 200. */
async function answerOnce(ws: SipWsClient): Promise<void> {
  const m = await ws.waitForSip(/^MESSAGE /, 4000);
  ws.send(createResponse(m as SipRequest, 200, undefined, { toTag: 'a1' }).toString());
}

t.test('(b) RFC 5626 §5.3: the genuine token of a closed flow gets 430 Flow Failed, and never reaches a later connection', async (t) => {
  const c = await cluster(t);
  const alice = await browser(t, c.e1, 'alice');
  alice.ws.close();
  t.ok(await until(() => c.e1.edge.flowCount === 0, 3000), "alice's browser disconnected");
  // A new browser from the same address: flow ids are never reused, so it must not inherit alice's.
  const carol = await browser(t, c.e1, 'carol');

  // The edge answers 430; the core does not pass a hop-by-hop 430 upstream (RFC 5626 §5.3) but 480.
  t.equal(await viaCore(c, `<sip:${alice.token}@${HOST}:${P.e1udp};transport=udp;lr>`, 'replay'), 480, 'a replayed token of the closed flow: 430 at the edge, 480 to the sender');

  // A call to alice's AOR: her binding is still there (expires in 600 s), its Path names the dead flow.
  const caller = await ua(t, HOST, P.caller);
  const callId = newCallId('call-dead');
  caller.send(udpRequest({ host: HOST, port: P.caller }, { method: 'INVITE', uri: `sip:alice@${DOMAIN}`, from: 'bob', callId, contact: `<sip:bob@${HOST}:${P.caller}>`, body: SDP }), c.core.addr);
  const final = await caller.response(callId, 'INVITE', 300, 5000);
  t.ok([430, 480].includes(final.status), `the call fails cleanly (${final.status} ${final.reason})`);
  t.equal(await c.e1.edge.metrics.refusalCount('flow-failed'), 2, 'both refused 430 Flow Failed at the edge (counted as flow-failed)');
  await sleep(200);
  t.equal(delivered(carol.ws).length, 0, 'carol, on a newer connection from the same address, got nothing');
  t.equal(c.sink.received.length, 0, 'the sink heard nothing');
});

t.test("(c) a token minted by edge 1 presented to edge 2 is refused (403), even though both share the cluster secret", async (t) => {
  const c = await cluster(t);
  const alice = await browser(t, c.e1, 'alice');
  const dave = await browser(t, c.e2, 'dave');
  t.equal(await viaCore(c, `<sip:${alice.token}@${HOST}:${P.e2udp};transport=udp;lr>`, 'other-edge'), 403, "alice's token at edge 2: 403");
  // Re-signed for edge 2's node id with the wrong secret, and edge 2's own payload with alice's MAC.
  const decoded = new FlowTokenCodec([SECRET], c.e1.edge.nodeId).decode(alice.token);
  if (!decoded.ok) throw new Error('token');
  const [davePayload] = dave.token.split('.') as [string];
  const [, aliceMac] = alice.token.split('.') as [string, string];
  t.equal(await viaCore(c, `<sip:${davePayload}.${aliceMac}@${HOST}:${P.e2udp};transport=udp;lr>`, 'mac-swap'), 403, "dave's payload with alice's MAC at edge 2: 403");
  t.equal(await c.e2.edge.metrics.refusalCount('other-node-token'), 1, 'counted as other-node-token');
  t.equal(await c.e2.edge.metrics.refusalCount('forged-token'), 1, 'and the MAC swap as forged-token');
  await sleep(200);
  t.equal(delivered(alice.ws).length + delivered(dave.ws).length, 0, 'neither browser received anything');
});

t.test('(d) a REGISTER sent straight to the core with a forged Path is refused (RFC 3327 §5.3: the registrar decides which Path it believes); nothing reaches the address inside the token', async (t) => {
  const c = await cluster(t);
  const alice = await browser(t, c.e1, 'alice');
  // The attacker REGISTERs `user` straight to the core with a Path of its own making.
  const registerWithPath = async (user: string, contact: string, path: string, supported: string): Promise<SipResponse> => {
    const callId = newCallId(`path-${user}`);
    c.attacker.send(
      udpRequest({ host: HOST, port: P.attacker }, {
        method: 'REGISTER',
        uri: `sip:${DOMAIN}`,
        from: user,
        to: `sip:${user}@${DOMAIN}`,
        callId,
        contact,
        extra: [`Path: ${path}`, `Supported: ${supported}`, 'Expires: 300'],
      }),
      c.core.addr,
    );
    return c.attacker.response(callId, 'REGISTER');
  };
  const forged = forgedEdgeToken(c.e1.edge.nodeId, { host: HOST, port: P.sink, flow: 'x' });
  const refused = await registerWithPath(
    'mallory',
    `<sip:mallory@${HOST}:${P.sink};transport=ws;ob>;reg-id=1;+sip.instance="<urn:uuid:6f1c6a1e-0000-4000-a000-000000000001>"`,
    `<sip:${forged}@${HOST}:${P.e1udp};transport=udp;lr;ob>`,
    'path, outbound',
  );
  t.equal(refused.status, 403, 'a Path naming an edge with a token the edge did not sign is refused, auth off or not');
  t.equal(refused.reason, 'Path Not From This Cluster');

  // A second registration whose Path names the CORE with a forged home-proxy token.
  const forgedCore = new FlowTokenCodec([WRONG_SECRET], c.core.node.nodeId).encode({ transport: 'udp', host: HOST, port: P.sink, flow: '' });
  const trudy = await registerWithPath('trudy', `<sip:trudy@${HOST}:${P.sink}>`, `<sip:${forgedCore}@${HOST}:${P.core};transport=udp;lr>`, 'path');
  t.equal(trudy.status, 403, 'and the one whose Path names the core with a forged token');
  const reused = alice.path.replace(/@[^;>]+/, `@${HOST}:${P.sink}`);
  const oscar = await registerWithPath('oscar', `<sip:oscar@${HOST}:${P.sink}>`, reused, 'path');
  t.equal(oscar.status, 403, 'and a real edge token moved into a Path naming another address');

  const caller = await ua(t, HOST, P.caller);
  for (const [user, expect] of [['mallory', [404, 480]], ['trudy', [404, 480]], ['oscar', [404, 480]]] as const) {
    const callId = newCallId(`call-${user}`);
    caller.send(udpRequest({ host: HOST, port: P.caller }, { method: 'INVITE', uri: `sip:${user}@${DOMAIN}`, from: 'bob', callId, contact: `<sip:bob@${HOST}:${P.caller}>`, body: SDP }), c.core.addr);
    const final: SipResponse = await caller.response(callId, 'INVITE', 300, 6000);
    t.ok((expect as readonly number[]).includes(final.status), `a call to ${user} fails (${final.status} ${final.reason})`);
  }
  await sleep(300);
  t.equal(c.sink.received.length, 0, 'the attacker-chosen address (in the token and the Contact) received nothing');
  t.equal(delivered(alice.ws).length, 0, 'no browser received the calls');
});

t.test('(e) a forged home-proxy token (Route <sip:FORGED@core;lr>, or a rewritten-Contact URI) is refused at the core; nothing goes to the address inside', async (t) => {
  const c = await cluster(t);
  const from = { host: HOST, port: P.attacker };
  const forged = new FlowTokenCodec([WRONG_SECRET], c.core.node.nodeId).encode({ transport: 'udp', host: HOST, port: P.sink, flow: '' });
  const sfc = Buffer.from(`sip:victim@${HOST}:${P.sink}`).toString('base64url');
  const send = async (label: string, spec: Parameters<typeof udpRequest>[1]): Promise<SipResponse> => {
    const callId = newCallId(label);
    c.attacker.send(udpRequest(from, { callId, ...spec }), c.core.addr);
    return c.attacker.response(callId, spec.method, 200, 5000);
  };
  const before = await metric(c.core.node.metrics.registry, 'sipflow_core_requests_rejected_total', { cause: 'flow-token' });

  const r1 = await send('route', { method: 'INVITE', uri: `sip:victim@${DOMAIN}`, routes: [`<sip:${forged}@${HOST}:${P.core};lr>`], body: SDP, contact: `<sip:a@${HOST}:${P.attacker}>` });
  t.equal(r1.status, 403, `forged token in the core's own Route: ${r1.status} ${r1.reason}`);
  const r2 = await send('route-dialog', { method: 'BYE', uri: `sip:victim@${DOMAIN}`, toTag: 't', routes: [`<sip:${forged}@${HOST}:${P.core};lr>`] });
  t.equal(r2.status, 403, 'the same inside a dialog (BYE): 403');
  const r3 = await send('sfc-self', { method: 'INVITE', uri: `sip:${forged}@${DOMAIN};sfc=${sfc}`, body: SDP, contact: `<sip:a@${HOST}:${P.attacker}>` });
  t.equal(r3.status, 404, 'a rewritten-Contact URI with a forged token naming this core: 404');
  // The same URI form, but the token claims to come from a node at the sink's address: the core
  // must not take a node id from an unverified token and relay there.
  const claimsSink = new FlowTokenCodec([WRONG_SECRET], `${HOST}:${P.sink}`).encode({ transport: 'udp', host: HOST, port: P.sink, flow: '' });
  const r4 = await send('sfc-other', { method: 'INVITE', uri: `sip:${claimsSink}@${DOMAIN};sfc=${sfc}`, body: SDP, contact: `<sip:a@${HOST}:${P.attacker}>` });
  t.ok(r4.status >= 400 && r4.status < 500, `a rewritten-Contact URI naming another "node" with a forged token: ${r4.status} ${r4.reason}`);

  t.equal((await metric(c.core.node.metrics.registry, 'sipflow_core_requests_rejected_total', { cause: 'flow-token' })) - before, 2, 'the two forged Route tokens counted as flow-token rejections');
  await sleep(500);
  t.equal(c.sink.received.length, 0, 'the address inside the forged tokens received nothing');
});

for (const auth of [false, true]) {
  t.test(`(f) the core is nobody's relay (auth ${auth ? 'on' : 'off'}): an out-of-dialog request preloaded with a Route to an outside address is not sent there`, async (t) => {
    const c = await cluster(t, auth);
    const from = { host: HOST, port: P.attacker };
    const statuses: number[] = [];
    for (const [i, uri] of [`sip:+15551234567@pstn.example.org`, `sip:alice@${DOMAIN}`, `sip:nobody@${DOMAIN}`].entries()) {
      const callId = newCallId(`preload-${i}`);
      c.attacker.send(udpRequest(from, { method: 'INVITE', uri, from: 'mallory', fromDomain: 'evil.example', callId, routes: [`<sip:${HOST}:${P.sink};lr>`], body: SDP, contact: `<sip:m@${HOST}:${P.attacker}>` }), c.core.addr);
      statuses.push((await c.attacker.response(callId, 'INVITE', 300, 5000)).status);
    }
    t.equal(statuses[0], 403, 'to a foreign domain: 403 relaying denied');
    t.equal(statuses[1], 480, 'to one of our users: routed by the Request-URI like any call (480, not registered)');
    t.equal(statuses[2], 480, 'to an unknown user: the same answer');
    // Claiming to be one of our users changes nothing: foreign domains are refused before anything
    // else, and calls inside the domain are challenged (auth on) before they are routed.
    const local: number[] = [];
    for (const uri of ['sip:+15551234567@pstn.example.org', `sip:nobody@${DOMAIN}`]) {
      const callId = newCallId('preload-local');
      c.attacker.send(udpRequest(from, { method: 'INVITE', uri, from: 'alice', callId, routes: [`<sip:${HOST}:${P.sink};lr>`], body: SDP, contact: `<sip:m@${HOST}:${P.attacker}>` }), c.core.addr);
      local.push((await c.attacker.response(callId, 'INVITE', 300, 5000)).status);
    }
    t.same(local, [403, auth ? 407 : 480], `"from alice": ${local.join(', ')}`);
    await sleep(300);
    t.equal(c.sink.received.length, 0, 'nothing reached the preloaded address');
  });
}
