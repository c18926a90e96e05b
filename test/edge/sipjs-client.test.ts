/**
 * A real SIP stack on the browser side: SIP.js (its Web transport, `new WebSocket(server, 'sip')`)
 * running in Node with `ws` as the WebSocket implementation.
 */
import t from 'tap';
import WebSocket from 'ws';
import { Invitation, Inviter, Registerer, RegistererState, SessionState, UserAgent, type SessionDescriptionHandler } from 'sip.js';
import { createResponse } from '../../sip/message/factory.js';
import { parseNameAddr } from '../../sip/grammar/name-addr.js';
import { startEdge, eventually } from './fixtures/edge-fixture.js';

(globalThis as { WebSocket?: unknown }).WebSocket = WebSocket;

const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n';

/** No media in these tests: a session description handler that offers and accepts a fixed SDP. */
function fakeSdh(): SessionDescriptionHandler {
  return {
    close: () => undefined,
    getDescription: async () => ({ body: SDP, contentType: 'application/sdp' }),
    hasDescription: (contentType: string) => contentType === 'application/sdp',
    setDescription: async () => undefined,
    sendDtmf: () => false,
  };
}

async function userAgent(url: string, user: string, onInvite?: (invitation: Invitation) => void): Promise<UserAgent> {
  const ua = new UserAgent({
    ...(onInvite ? { delegate: { onInvite } } : {}),
    uri: UserAgent.makeURI(`sip:${user}@example.test`)!,
    transportOptions: { server: url, keepAliveInterval: 0 },
    logLevel: 'error',
    sessionDescriptionHandlerFactory: () => fakeSdh(),
  });
  await ua.start();
  return ua;
}

t.test('SIP.js registers through the edge and sees the Path in the 200 OK', async (t) => {
  const fx = await startEdge(t);
  const ua = await userAgent(fx.url, 'alice');
  t.teardown(() => ua.stop());
  const registerer = new Registerer(ua);
  let path: string | undefined;
  await registerer.register({
    requestDelegate: {
      onAccept: (response) => {
        path = response.message.getHeader('Path');
      },
    },
  });
  t.ok(await eventually(() => registerer.state === RegistererState.Registered), 'SIP.js reports Registered');
  t.ok(path, `Path in the 200 OK: ${path}`);
  const uri = parseNameAddr(path!).uri;
  t.equal(uri.port, fx.addr.udp.port);
  t.equal(fx.codec.decode(uri.user!).ok, true, 'carrying this edge flow token');
  const reg = await fx.core.waitForRequest('REGISTER');
  t.equal(reg.values('Path').length, 1);
  t.equal(fx.edge.flowCount, 1);
  await registerer.unregister();
  t.ok(await eventually(() => registerer.state === RegistererState.Unregistered));
});

t.test('SIP.js places a call through the edge: route set through both Record-Route URIs, BYE reaches the core', async (t) => {
  const fx = await startEdge(t);
  const coreRr = `<sip:127.0.0.1:${fx.core.port};lr>`;
  fx.core.onRequest = (req, reply) => {
    if (req.method === 'INVITE') {
      const headers: Array<[string, string]> = [
        ['Record-Route', coreRr],
        ...req.getAll('Record-Route').map((v) => ['Record-Route', v] as [string, string]),
        ['Contact', `<sip:bob@127.0.0.1:${fx.core.port}>`],
        ['Content-Type', 'application/sdp'],
      ];
      reply(createResponse(req, 180, undefined, { toTag: 'bob1' }));
      reply(createResponse(req, 200, undefined, { toTag: 'bob1', headers, body: Buffer.from(SDP) }));
      return true;
    }
    if (req.method === 'BYE') {
      reply(createResponse(req, 200));
      return true;
    }
    return false;
  };
  const ua = await userAgent(fx.url, 'alice');
  t.teardown(() => ua.stop());
  const inviter = new Inviter(ua, UserAgent.makeURI('sip:bob@example.test')!);
  await inviter.invite();
  t.ok(await eventually(() => inviter.state === SessionState.Established), 'the call is established');
  const ack = await fx.core.waitForRequest('ACK');
  t.equal(ack.routes.length, 1, 'the ACK left the edge with only the core Route');
  t.equal(ack.routes[0]!.uri.port, fx.core.port);
  await inviter.bye();
  const bye = await fx.core.waitForRequest('BYE');
  t.equal(bye.routes.length, 1, 'the BYE too: both edge entries were popped');
  t.equal(bye.vias.length, 2, 'edge Via over the SIP.js Via');
  t.equal(bye.vias[1]!.params.get('received'), '127.0.0.1');
  t.ok(await eventually(() => inviter.state === SessionState.Terminated), 'SIP.js got the 200 to BYE');
});

t.test('SIP.js answers a call the core routes by the Path; the browser route set starts at the WS-side URI', async (t) => {
  const fx = await startEdge(t);
  let invitation: Invitation | undefined;
  const ua = await userAgent(fx.url, 'carol', (inv) => {
    invitation = inv;
    void inv.accept();
  });
  t.teardown(() => ua.stop());
  const registerer = new Registerer(ua);
  await registerer.register();
  const reg = await fx.core.waitForRequest('REGISTER');
  const path = reg.values('Path')[0]!;
  const contact = parseNameAddr(reg.get('Contact')!).uri;
  const farVia = `SIP/2.0/UDP 127.0.0.1:${fx.core.port};branch=z9hG4bKfarinvite1;rport`;
  const inviteText = [
    `INVITE sip:${contact.user}@${contact.host};transport=ws SIP/2.0`,
    `Via: ${farVia}`,
    'Max-Forwards: 70',
    `Route: ${path}`,
    '"Bob" <sip:bob@example.test>;tag=far1'.replace(/^/, 'From: '),
    'To: <sip:carol@example.test>',
    'Call-ID: incoming-1',
    'CSeq: 1 INVITE',
    `Contact: <sip:bob@127.0.0.1:${fx.core.port}>`,
    'Content-Type: application/sdp',
    `Content-Length: ${SDP.length}`,
    '',
    SDP,
  ].join('\r\n');
  await fx.core.send(inviteText, fx.addr.udp);
  const ok = await fx.core.waitFor((r) => r.message.kind === 'response' && r.message.status === 200 && r.message.cseq.method === 'INVITE');
  t.ok(invitation, 'SIP.js got the INVITE');
  const rr = ok.message.recordRoutes;
  t.equal(rr.length, 2, 'the 2xx carries both edge Record-Route entries');
  t.equal(rr[0]!.uri.params.get('transport'), 'ws', 'browser-side URI on top: the browser (UAS) route set starts there');
  t.equal(rr[1]!.uri.params.get('transport'), 'udp');
  t.equal(ok.message.vias.length, 1, 'back to the core with its own Via only');
  // The far end ACKs along the reversed Record-Route: UDP side first, then the WS side with the token.
  await fx.core.send([
    `ACK sip:${contact.user}@${contact.host};transport=ws SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${fx.core.port};branch=z9hG4bKfarack1;rport`,
    'Max-Forwards: 70',
    `Route: ${ok.message.getAll('Record-Route').flatMap((l) => l.split(/,(?![^<]*>)/)).map((x) => x.trim()).reverse().join(', ')}`,
    'From: "Bob" <sip:bob@example.test>;tag=far1',
    `To: ${ok.message.get('To')}`,
    'Call-ID: incoming-1',
    'CSeq: 1 ACK',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n'), fx.addr.udp);
  t.ok(await eventually(() => invitation?.state === SessionState.Established), 'SIP.js saw the ACK: established');
  fx.core.onRequest = (req, reply) => {
    if (req.method !== 'BYE') return false;
    reply(createResponse(req, 200));
    return true;
  };
  await invitation!.bye();
  const bye = await fx.core.waitForRequest('BYE');
  t.equal(bye.routes.length, 0, 'the browser BYE left the edge with no Route: both edge entries popped');
  t.equal(bye.get('Call-ID'), 'incoming-1');
  t.ok(await eventually(() => invitation!.state === SessionState.Terminated));
});
