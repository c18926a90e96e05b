/**
 * The edge in front of the real core node (memory store, no auth): two SIP.js browsers register
 * through the edge, and a MESSAGE and a call from one to the other go edge → core → edge, found
 * again by the Path flow token. Guards the contract between the two roles.
 */
import t from 'tap';
import WebSocket from 'ws';
import { Inviter, Messager, Registerer, RegistererState, SessionState, UserAgent, type Invitation, type SessionDescriptionHandler } from 'sip.js';
import { CoreNode } from '../../core/core-node.js';
import { createLocationStore } from '../../core/location/create-store.js';
import { EdgeNode } from '../../edge/edge-node.js';
import { eventually } from './fixtures/edge-fixture.js';

(globalThis as { WebSocket?: unknown }).WebSocket = WebSocket;
const SECRET = 'real-core-test-secret-0123456789';
const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n';
const sdh = (): SessionDescriptionHandler => ({
  close: () => undefined,
  getDescription: async () => ({ body: SDP, contentType: 'application/sdp' }),
  hasDescription: (ct: string) => ct === 'application/sdp',
  setDescription: async () => undefined,
  sendDtmf: () => false,
});

t.test('two browsers reach each other through edge → core → edge', async (t) => {
  const store = createLocationStore({ kind: 'memory' });
  const core = new CoreNode({ udp: { host: '127.0.0.1', port: 0 }, domain: 'example.test', auth: false, secrets: [SECRET] }, { store });
  const coreAddr = await core.start();
  const edge = new EdgeNode({ ws: { host: '127.0.0.1', port: 0 }, cores: [coreAddr.udp], secrets: [SECRET], probeInterval: 200 });
  const addr = await edge.start();
  t.teardown(async () => {
    await edge.stop();
    await core.stop();
  });
  const url = `ws://127.0.0.1:${addr.ws.port}/`;
  const received: string[] = [];
  let incoming: Invitation | undefined;
  const mk = async (user: string): Promise<UserAgent> => {
    const ua = new UserAgent({
      uri: UserAgent.makeURI(`sip:${user}@example.test`)!,
      transportOptions: { server: url },
      logLevel: 'error',
      sessionDescriptionHandlerFactory: () => sdh(),
      delegate: {
        onMessage: (m) => {
          received.push(m.request.body);
          void m.accept();
        },
        onInvite: (inv) => {
          incoming = inv;
          void inv.accept();
        },
      },
    });
    await ua.start();
    t.teardown(() => ua.stop());
    const r = new Registerer(ua);
    await r.register();
    t.ok(await eventually(() => r.state === RegistererState.Registered, 5000), `${user} registered through the edge`);
    return ua;
  };
  const alice = await mk('alice');
  await mk('bob');

  await new Messager(alice, UserAgent.makeURI('sip:bob@example.test')!, 'hello bob').message();
  t.ok(await eventually(() => received.includes('hello bob'), 5000), 'bob got the MESSAGE via the core and the Path flow token');

  const call = new Inviter(alice, UserAgent.makeURI('sip:bob@example.test')!);
  await call.invite();
  t.ok(await eventually(() => call.state === SessionState.Established, 5000), 'the call is established');
  t.ok(await eventually(() => incoming?.state === SessionState.Established, 5000), 'on both sides');
  // The core did not record-route: each browser's route set is the edge twice (its own side, then
  // the other browser's side), and in-dialog requests turn around inside the edge.
  const routeSet = (call as unknown as { dialog?: { routeSet: string[] } }).dialog?.routeSet ?? [];
  t.equal(routeSet.length, 4, `alice's route set: ${routeSet.length} entries`);
  await call.bye();
  t.ok(await eventually(() => incoming?.state === SessionState.Terminated, 5000), 'BYE reached bob');
});
