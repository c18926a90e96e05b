/**
 * Calls survive an edge loss, at the core: in-dialog requests whose route set still names a
 * browser's old edge reach the browser through its new flow, found through its GRUU; a browser's
 * own stale WebSocket-side routes are dropped. The "edges" here are UDP sockets holding real flow
 * tokens, so the assertions are about what the core sends where.
 */
import t from 'tap';
import { CoreNode } from '../../core/core-node.js';
import { MemoryLocationStore } from '../../core/location/memory-store.js';
import { FlowTokenCodec } from '../../sip/outbound/flow-token.js';
import { UdpUa, branch, callId } from '../helpers/udp-ua.js';
import { sipText } from '../helpers/sip-text.js';

const SECRET = 'edge-loss-test-secret-0123456789';
const INSTANCE = 'urn:uuid:11111111-2222-4333-8444-555555555555';

t.test('a request to a GRUU whose Route names the old edge goes through the new flow', async (t) => {
  const node = new CoreNode({ udp: { host: '127.0.0.1', port: 0 }, domain: 'example.com', auth: false, secrets: [SECRET] }, { store: new MemoryLocationStore() });
  const { udp } = await node.start();
  const oldEdge = await UdpUa.open();
  const newEdge = await UdpUa.open();
  const far = await UdpUa.open();
  t.teardown(async () => {
    oldEdge.close();
    newEdge.close();
    far.close();
    await node.stop();
  });
  const oldToken = new FlowTokenCodec([SECRET], `127.0.0.1:${oldEdge.port}`).encode({ transport: 'ws', host: '127.0.0.1', port: 0, flow: '7' });
  const newToken = new FlowTokenCodec([SECRET], `127.0.0.1:${newEdge.port}`).encode({ transport: 'ws', host: '127.0.0.1', port: 0, flow: '9' });
  // The browser re-registered through the new edge with the same instance and reg-id.
  newEdge.send(
    sipText([
      'REGISTER sip:example.com SIP/2.0',
      `Via: SIP/2.0/UDP 127.0.0.1:${newEdge.port};branch=${branch()}`,
      `Via: SIP/2.0/WS abc.invalid;branch=${branch()};received=127.0.0.1`,
      'Max-Forwards: 69',
      'To: <sip:alice@example.com>',
      'From: <sip:alice@example.com>;tag=r',
      'Call-ID: moved-reg',
      'CSeq: 2 REGISTER',
      `Contact: <sip:x1@abc.invalid;transport=ws;ob>;+sip.instance="<${INSTANCE}>";reg-id=1`,
      `Path: <sip:${newToken}@127.0.0.1:${newEdge.port};transport=udp;lr;ob>`,
      'Supported: path, gruu, outbound',
    ]),
    udp,
  );
  const reg = await newEdge.response('moved-reg', 'REGISTER');
  t.equal(reg.status, 200);

  const cid = callId();
  far.send(
    sipText([
      `BYE sip:alice@example.com;gr=${INSTANCE} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${far.port};branch=${branch()}`,
      'Max-Forwards: 70',
      `Route: <sip:127.0.0.1:${oldEdge.port};transport=udp;lr>, <sip:${oldToken}@127.0.0.1:8081;transport=ws;lr;ob>`,
      'To: <sip:alice@example.com>;tag=a',
      'From: <sip:bob@example.com>;tag=b',
      `Call-ID: ${cid}`,
      'CSeq: 5 BYE',
    ]),
    udp,
  );
  const bye = await newEdge.request('BYE', 3000, cid);
  t.match(bye.get('Route'), newToken, "the BYE carries the new edge's flow token");
  t.equal(bye.uriText, 'sip:x1@abc.invalid;transport=ws;ob', 'retargeted to the registered contact');
  t.notOk(oldEdge.received.some((m) => m.kind === 'request' && m.callId === cid), 'nothing went to the dead edge');
  newEdge.reply(bye, 200);
  t.equal((await far.response(cid, 'BYE')).status, 200, 'the far end gets its 200');
  t.match(await node.metrics.registry.getSingleMetricAsString('sipflow_core_dialog_reroutes_total'), /sipflow_core_dialog_reroutes_total 1/);

  const cid2 = callId();
  far.send(
    sipText([
      `INFO sip:alice@example.com;gr=${INSTANCE} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${far.port};branch=${branch()}`,
      'Max-Forwards: 70',
      `Route: <sip:127.0.0.1:${newEdge.port};transport=udp;lr>, <sip:${newToken}@127.0.0.1:8082;transport=ws;lr;ob>`,
      'To: <sip:alice@example.com>;tag=a',
      'From: <sip:bob@example.com>;tag=b',
      `Call-ID: ${cid2}`,
      'CSeq: 6 INFO',
    ]),
    udp,
  );
  const info = await newEdge.request('INFO', 3000, cid2);
  t.match(info.get('Route'), `127.0.0.1:8082;transport=ws`, 'a Route through the edge the UA is on is left alone');
});

t.test("a browser's own stale WebSocket-side routes are dropped with their UDP twin", async (t) => {
  const node = new CoreNode({ udp: { host: '127.0.0.1', port: 0 }, domain: 'example.com', auth: false, secrets: [SECRET] }, { store: new MemoryLocationStore() });
  const { udp } = await node.start();
  const deadEdge = await UdpUa.open();
  const farEdge = await UdpUa.open();
  const newEdge = await UdpUa.open();
  t.teardown(async () => {
    deadEdge.close();
    farEdge.close();
    newEdge.close();
    await node.stop();
  });
  const deadToken = new FlowTokenCodec([SECRET], `127.0.0.1:${deadEdge.port}`).encode({ transport: 'ws', host: '127.0.0.1', port: 0, flow: '1' });
  const cid = callId();
  newEdge.send(
    sipText([
      'INVITE sip:bob@example.com;gr=urn:uuid:bbbb SIP/2.0',
      `Via: SIP/2.0/UDP 127.0.0.1:${newEdge.port};branch=${branch()}`,
      `Via: SIP/2.0/WS abc.invalid;branch=${branch()};received=127.0.0.1`,
      'Max-Forwards: 69',
      `Route: <sip:${deadToken}@127.0.0.1:8081;transport=ws;lr;ob>, <sip:127.0.0.1:${deadEdge.port};transport=udp;lr>, <sip:127.0.0.1:${farEdge.port};transport=udp;lr>`,
      'To: <sip:bob@example.com>;tag=b',
      'From: <sip:alice@example.com>;tag=a',
      `Call-ID: ${cid}`,
      'CSeq: 7 INVITE',
      'Contact: <sip:alice@example.com;gr=urn:uuid:aaaa>',
    ]),
    udp,
  );
  const reinvite = await farEdge.request('INVITE', 3000, cid);
  t.notMatch(reinvite.get('Route') ?? '', /transport=ws/, 'the stale WebSocket-side route is gone');
  t.notOk(deadEdge.received.length, 'nothing sent to the dead edge');
  farEdge.reply(reinvite, 200);
});
