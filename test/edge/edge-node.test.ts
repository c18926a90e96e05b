import t from 'tap';
import { createResponse } from '../../sip/message/factory.js';
import type { SipRequest } from '../../sip/message/model.js';
import { FlowTokenCodec } from '../../sip/outbound/flow-token.js';
import { parseNameAddr } from '../../sip/grammar/name-addr.js';
import { valueOf } from '../../edge/metrics.js';
import { eventually, SECRET, sleep, startEdge } from './fixtures/edge-fixture.js';
import { invite, register } from './fixtures/sip-ws-client.js';

let n = 0;
/** A request as a core would send it to the edge. */
function coreRequest(o: { method: string; uri?: string; routes: string[]; callId?: string; branch?: string; corePort: number; toTag?: string; cseq?: number }): string {
  const i = ++n;
  const body = o.method === 'MESSAGE' ? 'hello browser' : '';
  return [
    `${o.method} ${o.uri ?? 'sip:alice@abc.invalid;transport=ws'} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${o.corePort};branch=${o.branch ?? `z9hG4bKcore${i}x${Math.random().toString(36).slice(2)}`};rport`,
    'Max-Forwards: 69',
    ...o.routes.map((r) => `Route: ${r}`),
    `From: <sip:bob@example.test>;tag=cf${i}`,
    `To: <sip:alice@example.test>${o.toTag ? `;tag=${o.toTag}` : ''}`,
    `Call-ID: ${o.callId ?? `core-${i}-${Math.random().toString(36).slice(2)}`}`,
    `CSeq: ${o.cseq ?? 1} ${o.method}`,
    ...(body ? ['Content-Type: text/plain'] : []),
    `Content-Length: ${body.length}`,
    '',
    body,
  ].join('\r\n');
}

function pathOf(req: SipRequest): { text: string; token: string; params: Map<string, string | null> } {
  const text = req.values('Path')[0]!;
  const na = parseNameAddr(text);
  return { text, token: na.uri.user!, params: na.uri.params };
}

t.test('RFC 3327 §5.2: a REGISTER from a browser gets a Path naming its flow, and the 200 OK returns on that flow', async (t) => {
  const fx = await startEdge(t);
  const client = await fx.connect();
  client.send(register());
  const ok = await client.waitForSip(/^SIP\/2.0 200/);
  const reg = await fx.core.waitForRequest('REGISTER');

  const path = pathOf(reg);
  t.equal(reg.values('Path').length, 1, 'one Path added');
  t.equal(parseNameAddr(path.text).uri.host, '127.0.0.1');
  t.equal(parseNameAddr(path.text).uri.port, fx.addr.udp.port, 'Path names the core-facing UDP side');
  t.equal(path.params.get('transport'), 'udp');
  t.ok(path.params.has('lr'), 'loose routing');
  t.notOk(path.params.has('ob'), 'no ;ob for a UA that did not ask for outbound');
  t.ok(reg.values('Supported').includes('path'), 'Supported: path added');

  const decoded = fx.codec.decode(path.token);
  t.equal(decoded.ok, true, 'the Path user part is a flow token of this edge');
  if (decoded.ok) {
    t.equal(decoded.ref.transport, 'ws');
    t.equal(decoded.ref.host, '127.0.0.1');
    t.equal(FlowTokenCodec.peekNode(path.token), fx.edge.nodeId, 'cores can read which edge holds the flow');
  }
  t.equal(reg.vias.length, 2, 'edge Via on top of the browser Via');
  t.equal(reg.vias[0]!.transport, 'UDP');
  t.equal(reg.vias[1]!.params.get('received'), '127.0.0.1', 'received added to the browser .invalid Via');
  t.equal(ok.vias.length, 1, 'the 200 OK reaches the browser with only its own Via');
  t.equal(ok.values('Path')[0], path.text, 'the registrar echoed Path back');
});

t.test('RFC 5626 §5.1: ;ob only when the UA shows outbound support (Supported: outbound or reg-id)', async (t) => {
  const fx = await startEdge(t);
  const client = await fx.connect();
  client.send(register({ outbound: true, callId: 'ob-1' }));
  await client.waitForSip(/^SIP\/2.0 200/);
  const reg = await fx.core.waitFor((r) => r.message.kind === 'request' && r.message.callId === 'ob-1');
  t.ok(pathOf(reg.message as SipRequest).params.has('ob'), 'Supported: outbound → ;ob');

  client.send(register({ callId: 'ob-2', extra: ['Supported: path'] }).replace('>;expires=600', '>;reg-id=1;expires=600'));
  await client.waitForSip(/^SIP\/2.0 200/);
  const reg2 = (await fx.core.waitFor((r) => r.message.kind === 'request' && r.message.callId === 'ob-2')).message as SipRequest;
  t.ok(pathOf(reg2).params.has('ob'), 'reg-id in Contact → ;ob');
  t.equal(reg2.values('Supported').filter((s) => s === 'path').length, 1, 'Supported: path not duplicated');
});

t.test('a core request routed by the Path reaches the flow; retransmissions are absorbed; the answer goes back', async (t) => {
  const fx = await startEdge(t);
  const client = await fx.connect();
  client.send(register());
  await client.waitForSip(/^SIP\/2.0 200/);
  const path = pathOf(await fx.core.waitForRequest('REGISTER'));

  const msg = coreRequest({ method: 'MESSAGE', routes: [path.text], corePort: fx.core.port, branch: 'z9hG4bKmsgretx1' });
  await fx.core.send(msg, fx.addr.udp);
  const got = (await client.waitForSip(/^MESSAGE /)) as SipRequest;
  t.equal(got.routes.length, 0, 'our Route popped');
  t.equal(got.vias.length, 2);
  t.equal(got.vias[0]!.transport, 'WS', 'the edge Via towards the browser is WS');
  t.equal(got.body.toString(), 'hello browser');

  await fx.core.send(msg, fx.addr.udp); // the core's UDP retransmission
  await sleep(200);
  t.equal(client.frames.filter((f) => f.startsWith('MESSAGE ')).length, 0, 'the retransmission never reached the browser');

  client.send(createResponse(got, 200, undefined, { toTag: 'b1' }).toString());
  const answer = await fx.core.waitFor((r) => r.message.kind === 'response' && r.message.cseq.method === 'MESSAGE');
  t.equal(answer.message.vias.length, 1, 'the edge popped its Via');
  t.equal(answer.message.vias[0]!.params.get('branch'), 'z9hG4bKmsgretx1');
});

t.test('INVITE: double Record-Route, received on Via, responses back by Via, ACK and BYE loose-routed', async (t) => {
  const fx = await startEdge(t);
  const client = await fx.connect();
  client.send(invite({ callId: 'call-1' }));
  const trying = await client.waitForSip(/^SIP\/2.0 100/);
  t.equal(trying.callId, 'call-1', 'the edge answers 100 Trying on the flow itself');
  const inv = await fx.core.waitForRequest('INVITE');

  const rr = inv.recordRoutes;
  t.equal(rr.length, 2, 'two Record-Route entries');
  t.equal(rr[0]!.uri.port, fx.addr.udp.port, 'top: the core-facing UDP URI');
  t.equal(rr[0]!.uri.params.get('transport'), 'udp');
  t.equal(rr[0]!.uri.user, undefined, 'the core side carries no token');
  t.equal(rr[1]!.uri.port, fx.addr.ws.port, 'then the WebSocket-facing URI');
  t.equal(rr[1]!.uri.params.get('transport'), 'ws');
  t.ok(rr[1]!.uri.params.has('ob') && rr[1]!.uri.params.has('lr'));
  t.equal(fx.codec.decode(rr[1]!.uri.user!).ok, true, 'the WS side carries this flow token');
  t.equal(inv.vias[1]!.params.get('received'), '127.0.0.1');
  t.equal(inv.maxForwards, 69, 'Max-Forwards decremented');

  // The core (as far end) answers, copying Record-Route and adding its own on top.
  const coreRr = `<sip:127.0.0.1:${fx.core.port};lr>`;
  const headers: Array<[string, string]> = [['Record-Route', coreRr], ...inv.getAll('Record-Route').map((v) => ['Record-Route', v] as [string, string]), ['Contact', '<sip:bob@127.0.0.1:5999>']];
  await fx.core.send(createResponse(inv, 180, undefined, { toTag: 'callee', headers }), fx.addr.udp);
  await fx.core.send(createResponse(inv, 200, undefined, { toTag: 'callee', headers }), fx.addr.udp);
  const ringing = await client.waitForSip(/^SIP\/2.0 180/);
  const ok = await client.waitForSip(/^SIP\/2.0 200/);
  t.equal(ringing.vias.length, 1);
  t.equal(ok.vias.length, 1, 'only the browser Via is left');
  t.equal(ok.recordRoutes.length, 3);

  // The browser's route set is the Record-Route list reversed: WS side, UDP side, core.
  const routeSet = [...ok.getAll('Record-Route')].flatMap((l) => l.split(/,(?![^<]*>)/)).map((s) => s.trim()).reverse();
  t.match(routeSet[0]!, /transport=ws/, 'browser route set starts with the WS-side URI');
  const ack = [
    'ACK sip:bob@127.0.0.1:5999 SIP/2.0',
    'Via: SIP/2.0/WS inv.invalid;branch=z9hG4bKack2xx1',
    'Max-Forwards: 70',
    ...routeSet.map((r) => `Route: ${r}`),
    ok.get('From') ? `From: ${ok.get('From')}` : '',
    `To: ${ok.get('To')}`,
    'Call-ID: call-1',
    'CSeq: 1 ACK',
    'Content-Length: 0',
    '',
    '',
  ].filter((l, i, a) => l !== '' || i >= a.length - 2).join('\r\n');
  client.send(ack);
  const coreAck = await fx.core.waitForRequest('ACK');
  t.equal(coreAck.routes.length, 1, 'both edge Route entries popped');
  t.equal(coreAck.routes[0]!.uri.port, fx.core.port, 'the core Route stays');
  t.equal(coreAck.vias.length, 2, 'stateless forward added the edge Via');

  // The far end hangs up: its route set is the Record-Route list as received (core, UDP side, WS side).
  const farRoutes = inv.getAll('Record-Route').flatMap((l) => l.split(/,(?![^<]*>)/)).map((s) => s.trim());
  await fx.core.send(coreRequest({ method: 'BYE', routes: farRoutes, callId: 'call-1', corePort: fx.core.port, toTag: 'fi', cseq: 2 }), fx.addr.udp);
  const bye = (await client.waitForSip(/^BYE /)) as SipRequest;
  t.equal(bye.routes.length, 0, 'both edge entries popped; the token named this flow');
  client.send(createResponse(bye, 200).toString());
  const byeOk = await fx.core.waitFor((r) => r.message.kind === 'response' && r.message.cseq.method === 'BYE');
  t.equal((byeOk.message as { status: number }).status, 200);
});

t.test('two browsers on this edge in a dialog the core did not record-route: in-dialog requests turn around inside the edge', async (t) => {
  const fx = await startEdge(t);
  const alice = await fx.connect();
  const bob = await fx.connect();
  bob.send(register({ user: 'bob' }));
  await bob.waitForSip(/^SIP\/2.0 200/);
  const bobToken = parseNameAddr((await fx.core.waitForRequest('REGISTER')).values('Path')[0]!).uri.user!;
  alice.send(register({ user: 'alice' }));
  await alice.waitForSip(/^SIP\/2.0 200/);
  const aliceToken = parseNameAddr((await fx.core.waitFor((r) => r.message.kind === 'request' && r.message.method === 'REGISTER' && r.message.from.uri.user === 'alice')).message.values('Path')[0]!).uri.user!;
  const udp = `127.0.0.1:${fx.addr.udp.port}`;
  const ws = `127.0.0.1:${fx.addr.ws.port}`;
  // Alice's route set for a dialog with Bob: her side of the edge, then Bob's side.
  const routes = [`<sip:${aliceToken}@${ws};transport=ws;lr;ob>`, `<sip:${udp};transport=udp;lr>`, `<sip:${udp};transport=udp;lr>`, `<sip:${bobToken}@${ws};transport=ws;lr;ob>`];
  const request = (method: string, toTag: string, callId: string): string => [
    `${method} sip:bob@bob.invalid;transport=ws SIP/2.0`,
    `Via: SIP/2.0/WS alice.invalid;branch=z9hG4bK${callId}`,
    'Max-Forwards: 70',
    ...routes.map((r) => `Route: ${r}`),
    'From: <sip:alice@example.test>;tag=a1',
    `To: <sip:bob@example.test>${toTag}`,
    `Call-ID: ${callId}`,
    `CSeq: 2 ${method}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  alice.send(request('BYE', ';tag=b1', 'hairpin1'));
  const bye = (await bob.waitForSip(/^BYE /)) as SipRequest;
  t.equal(bye.routes.length, 0, 'all four edge entries consumed');
  t.equal(bye.vias.length, 2, 'the edge WS Via over alice Via');
  bob.send(createResponse(bye, 200).toString());
  const ok = await alice.waitForSip(/^SIP\/2.0 200/);
  t.equal(ok.callId, 'hairpin1', 'the answer comes back the same way');
  t.equal(fx.core.requests('BYE').length, 0, 'the core never saw it');

  alice.send(request('MESSAGE', '', 'preloaded1'));
  const atCore = await fx.core.waitForRequest('MESSAGE');
  t.equal(atCore.callId, 'preloaded1', 'outside a dialog, a preloaded Route back into the edge goes to a core instead');
  t.equal(bob.frames.filter((f) => f.startsWith('MESSAGE')).length, 0);
});

t.test('RFC 3261 §16.10: CANCEL from the browser is answered by the edge and sent hop-by-hop to the INVITE core', async (t) => {
  const fx = await startEdge(t);
  const client = await fx.connect();
  client.send(invite({ callId: 'cancel-1', branch: 'z9hG4bKbrowserinv1' }));
  const inv = await fx.core.waitForRequest('INVITE');
  await fx.core.send(createResponse(inv, 180, undefined, { toTag: 'c' }), fx.addr.udp);
  await client.waitForSip(/^SIP\/2.0 180/);
  client.send([
    'CANCEL sip:bob@example.test SIP/2.0',
    `Via: ${inv.values('Via')[1]!.replace(/;received=[^;]*/, '')}`,
    'Max-Forwards: 70',
    `From: ${inv.get('From')}`,
    `To: ${inv.get('To')}`,
    'Call-ID: cancel-1',
    'CSeq: 1 CANCEL',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n'));
  const cancelOk = await client.waitForSip(/^SIP\/2.0 200 .*\r\n[\s\S]*CSeq: 1 CANCEL/);
  t.equal(cancelOk.cseq.method, 'CANCEL', 'the edge answers the CANCEL itself');
  const cancel = await fx.core.waitForRequest('CANCEL');
  t.equal(cancel.vias[0]!.params.get('branch'), inv.vias[0]!.params.get('branch'), 'same branch as the INVITE the edge sent');
  t.equal(cancel.vias.length, 1, 'a hop-by-hop CANCEL has only the edge Via');
  await fx.core.send(createResponse(cancel, 200), fx.addr.udp);
  await fx.core.send(createResponse(inv, 487, undefined, { toTag: 'c' }), fx.addr.udp);
  const terminated = await client.waitForSip(/^SIP\/2.0 487/);
  t.equal(terminated.callId, 'cancel-1');
  const ack = await fx.core.waitForRequest('ACK');
  t.equal(ack.vias[0]!.params.get('branch'), inv.vias[0]!.params.get('branch'), 'the edge ACKs the 487 in its client transaction');
});

t.test('RFC 5626 §5.3: forged, other-edge and stale flow tokens are refused and never delivered', async (t) => {
  const fx = await startEdge(t);
  const client = await fx.connect();
  client.send(register());
  await client.waitForSip(/^SIP\/2.0 200/);
  const path = pathOf(await fx.core.waitForRequest('REGISTER'));
  const decoded = fx.codec.decode(path.token);
  if (!decoded.ok) throw new Error('token');
  const host = `127.0.0.1:${fx.addr.udp.port}`;
  const route = (token: string): string => `<sip:${token}@${host};transport=udp;lr>`;
  const answers: number[] = [];
  const send = async (token: string, label: string): Promise<number> => {
    const callId = `tok-${label}`;
    await fx.core.send(coreRequest({ method: 'MESSAGE', routes: [route(token)], corePort: fx.core.port, callId }), fx.addr.udp);
    const r = await fx.core.waitFor((x) => x.message.kind === 'response' && x.message.callId === callId);
    const status = (r.message as { status: number }).status;
    answers.push(status);
    return status;
  };
  const forged = new FlowTokenCodec(['some-other-secret-0123456789'], fx.edge.nodeId).encode({ ...decoded.ref });
  t.equal(await send(forged, 'forged'), 403, 'a token signed with another secret: 403');
  const tampered = path.token.slice(0, -3) + (path.token.endsWith('AAA') ? 'BBB' : 'AAA');
  t.equal(await send(tampered, 'tampered'), 403, 'a tampered MAC: 403');
  const sibling = new FlowTokenCodec([SECRET], '127.0.0.1:1').encode({ ...decoded.ref });
  t.equal(await send(sibling, 'sibling'), 403, 'a token of another edge: 403');
  const unknown = fx.codec.encode({ ...decoded.ref, flow: decoded.ref.flow + 'zz' });
  t.equal(await send(unknown, 'unknown'), 430, 'a valid token for a flow that never existed: 430 Flow Failed');
  client.close();
  await eventually(() => fx.edge.flowCount === 0);
  t.equal(await send(path.token, 'stale'), 430, 'the token of a closed flow: 430 Flow Failed');

  t.equal(await fx.edge.metrics.refusalCount('forged-token'), 2);
  t.equal(await fx.edge.metrics.refusalCount('other-node-token'), 1);
  t.equal(await fx.edge.metrics.refusalCount('flow-failed'), 2);
  t.equal(client.frames.filter((f) => f.startsWith('MESSAGE')).length, 0, 'nothing was delivered');
});

t.test('a core request naming no flow is refused; OPTIONS to the edge itself is answered', async (t) => {
  const fx = await startEdge(t);
  await fx.core.send(coreRequest({ method: 'OPTIONS', uri: `sip:127.0.0.1:${fx.addr.udp.port}`, routes: [], corePort: fx.core.port, callId: 'opt-edge' }), fx.addr.udp);
  const r = await fx.core.waitFor((x) => x.message.kind === 'response' && x.message.callId === 'opt-edge');
  t.equal((r.message as { status: number }).status, 200);
  await fx.core.send(coreRequest({ method: 'MESSAGE', routes: [`<sip:127.0.0.1:${fx.addr.udp.port};lr>`], corePort: fx.core.port, callId: 'noflow' }), fx.addr.udp);
  const r2 = await fx.core.waitFor((x) => x.message.kind === 'response' && x.message.callId === 'noflow');
  t.equal((r2.message as { status: number }).status, 404);
  t.equal(await fx.edge.metrics.refusalCount('no-flow'), 1);
});

t.test('RFC 5626 §4.4.1: a double-CRLF ping gets a single CRLF pong', async (t) => {
  const fx = await startEdge(t);
  const client = await fx.connect();
  client.send('\r\n\r\n');
  const pong = await client.waitFor((f) => f === '\r\n');
  t.equal(pong, '\r\n');
  t.equal(await valueOf(fx.edge.metrics.keepalives, { kind: 'crlf' }), 1);
});

t.test('WebSocket pings are answered (by uWS) and count as activity', async (t) => {
  const fx = await startEdge(t, { handshakeTimeout: 300, sweepInterval: 50 });
  const client = await fx.connect();
  const pong = new Promise<Buffer>((resolve) => client.ws.once('pong', resolve));
  client.ws.ping('are-you-there');
  t.equal((await pong).toString(), 'are-you-there', 'pong echoes the ping payload');
  t.ok(await eventually(async () => (await valueOf(fx.edge.metrics.keepalives, { kind: 'ping' })) === 1));
  await sleep(500);
  t.equal(client.closed, false, 'a ping is a greeting: the handshake timeout no longer applies');
});

t.test('RFC 5626 §4.4.1: a flow silent past its Flow-Timer (plus grace) is closed; a flow sending keepalives is not', async (t) => {
  const fx = await startEdge(t, { flowTimerGrace: 300, sweepInterval: 100 });
  fx.core.flowTimer = 1;
  const silent = await fx.connect();
  const chatty = await fx.connect();
  silent.send(register({ user: 'silent' }));
  chatty.send(register({ user: 'chatty' }));
  const ok = await silent.waitForSip(/^SIP\/2.0 200/);
  t.equal(ok.get('Flow-Timer'), '1', 'the Flow-Timer passes back to the browser');
  await chatty.waitForSip(/^SIP\/2.0 200/);
  const started = Date.now();
  const ping = setInterval(() => chatty.send('\r\n\r\n'), 300);
  t.teardown(() => clearInterval(ping));
  await silent.waitClosed(4000);
  const elapsed = Date.now() - started;
  t.ok(elapsed >= 1000, `not closed before the Flow-Timer (${elapsed} ms)`);
  t.ok(elapsed < 4000, `closed soon after Flow-Timer + grace (${elapsed} ms)`);
  await sleep(600);
  t.equal(chatty.closed, false, 'the flow that keeps sending CRLF keepalives stays open');
  t.equal(await fx.edge.metrics.closedCount('flow-timer-idle'), 1);
  t.equal(await fx.edge.metrics.refusalCount('flow-timer-idle'), 1);
});

t.test('edges keep no registration state: nothing remains after the transactions end', async (t) => {
  const fx = await startEdge(t, { timers: { t1: 20, t4: 50 } });
  const client = await fx.connect();
  client.send(register());
  await client.waitForSip(/^SIP\/2.0 200/);
  t.ok(await eventually(() => fx.edge.transactions.client === 0 && fx.edge.transactions.server === 0, 3000), 'transactions drained');
  t.equal(fx.edge.flowCount, 1, 'only the open connection is held');
});

t.test("a peer core (another datacenter's) may deliver to a flow; nothing is forwarded to it; an unlisted address may not deliver", async (t) => {
  const { FakeCore } = await import('./fixtures/fake-core.js');
  const peer = await FakeCore.start(0, '127.0.0.7');
  const outsider = await FakeCore.start(0, '127.0.0.8');
  t.teardown(async () => {
    await peer.close();
    await outsider.close();
  });
  const fx = await startEdge(t, { peerCores: [peer.address] });
  const client = await fx.connect();
  client.send(register());
  await client.waitForSip(/^SIP\/2.0 200/);
  const path = pathOf(await fx.core.waitForRequest('REGISTER'));
  t.equal(peer.requests('REGISTER').length, 0, 'the REGISTER went to the own core only');

  await peer.send(coreRequest({ method: 'MESSAGE', routes: [path.text], corePort: peer.port }), fx.addr.udp);
  const got = (await client.waitForSip(/^MESSAGE /)) as SipRequest;
  t.equal(got.body.toString(), 'hello browser', "the peer core's request reached the flow");

  const before = await fx.edge.metrics.refusalCount('unknown-peer');
  await outsider.send(coreRequest({ method: 'MESSAGE', routes: [path.text], corePort: outsider.port }), fx.addr.udp);
  t.ok(await eventually(async () => (await fx.edge.metrics.refusalCount('unknown-peer')) === before + 1, 2000), 'the outsider is refused as unknown-peer');
  await sleep(200);
  t.equal(client.frames.filter((f) => f.startsWith('MESSAGE ')).length, 0, 'and never reaches the flow');
});

t.test('RFC 3261 §16.3 step 3: Max-Forwards 0 is answered 483 in both directions and goes no further', async (t) => {
  const fx = await startEdge(t);
  const client = await fx.connect();
  client.send(register({ callId: 'hops-0' }).replace('Max-Forwards: 70', 'Max-Forwards: 0'));
  const refused = await client.waitForSip(/^SIP\/2.0 483/);
  t.equal(refused.callId, 'hops-0');
  client.send(register({ callId: 'hops-ok' }));
  await client.waitForSip(/^SIP\/2.0 200/);
  t.same(fx.core.requests('REGISTER').map((r) => r.callId), ['hops-ok'], 'only the REGISTER with hops left reached the core');

  const path = pathOf((await fx.core.waitForRequest('REGISTER'))!);
  await fx.core.send(coreRequest({ method: 'MESSAGE', routes: [path.text], corePort: fx.core.port, callId: 'hops-down' }).replace('Max-Forwards: 69', 'Max-Forwards: 0'), fx.addr.udp);
  const answer = await fx.core.waitFor((r) => r.message.kind === 'response' && r.message.callId === 'hops-down');
  t.equal(answer.message.kind === 'response' ? answer.message.status : 0, 483, 'a core request with no hops left is answered 483');
  await sleep(200);
  t.equal(client.frames.filter((f) => f.startsWith('MESSAGE ')).length, 0, 'and never reaches the flow');
  t.equal(await fx.edge.metrics.refusalCount('too-many-hops'), 2);
});
