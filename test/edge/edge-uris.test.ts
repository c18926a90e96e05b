import t from 'tap';
import { parseUri } from '../../sip/grammar/uri.js';
import { parseMessage } from '../../sip/message/parser.js';
import type { SipRequest } from '../../sip/message/model.js';
import { coreSideRecordRoute, isDialogCreating, namesThisEdge, pathUri, uriHost, wantsOutbound, wsSideRecordRoute } from '../../edge/edge-uris.js';
import { startLineLabel } from '../../edge/edge-sender.js';
import { normalizeIp, offersSip } from '../../edge/ws-listener.js';

const id = { udp: { host: '10.1.1.1', port: 5070 }, ws: { host: 'edge.example.test', port: 8080 }, wss: { host: 'edge.example.test', port: 443 } };

function req(lines: string[]): SipRequest {
  const r = parseMessage([...lines, 'Content-Length: 0', '', ''].join('\r\n'));
  if (!r.ok || r.message.kind !== 'request') throw new Error('bad test message');
  return r.message;
}
const head = ['Via: SIP/2.0/WS a.invalid;branch=z9hG4bK1', 'From: <sip:a@x>;tag=1', 'Call-ID: c', 'Max-Forwards: 70'];

t.test('Path and Record-Route URIs', async (t) => {
  t.equal(pathUri('TOK', id, false), '<sip:TOK@10.1.1.1:5070;transport=udp;lr>');
  t.equal(pathUri('TOK', id, true), '<sip:TOK@10.1.1.1:5070;transport=udp;lr;ob>');
  t.equal(coreSideRecordRoute(id), '<sip:10.1.1.1:5070;transport=udp;lr>');
  // With cores over TCP the same address, another transport: cores reach the edge as it reaches them.
  t.equal(pathUri('TOK', { ...id, coreTransport: 'tcp' }, true), '<sip:TOK@10.1.1.1:5070;transport=tcp;lr;ob>');
  t.equal(coreSideRecordRoute({ ...id, coreTransport: 'tcp' }), '<sip:10.1.1.1:5070;transport=tcp;lr>');
  t.equal(wsSideRecordRoute('TOK', 'ws', id.ws), '<sip:TOK@edge.example.test:8080;transport=ws;lr;ob>');
  t.equal(wsSideRecordRoute('TOK', 'wss', id.wss), '<sip:TOK@edge.example.test:443;transport=wss;lr;ob>');
  t.equal(uriHost('::1'), '[::1]');
  t.equal(pathUri('T', { udp: { host: '::1', port: 5060 } }, false), '<sip:T@[::1]:5060;transport=udp;lr>');
});

t.test('namesThisEdge: host and port of any side, default ports per RFC 3261 §19.1.2', async (t) => {
  t.ok(namesThisEdge(parseUri('sip:10.1.1.1:5070;lr'), id));
  t.ok(namesThisEdge(parseUri('sip:tok@EDGE.example.test:8080;transport=ws;lr'), id), 'host is case-insensitive');
  t.notOk(namesThisEdge(parseUri('sip:10.1.1.1;lr'), id), 'missing port means 5060, not ours');
  t.notOk(namesThisEdge(parseUri('sip:10.1.1.2:5070;lr'), id));
  t.notOk(namesThisEdge(parseUri('tel:+15551234'), id));
  t.ok(namesThisEdge(parseUri('sip:[::1]:5060;lr'), { udp: { host: '::1', port: 5060 } }), 'IPv6 in brackets');
});

t.test('outbound support: Supported: outbound or a Contact with reg-id', async (t) => {
  t.equal(wantsOutbound(req(['REGISTER sip:x SIP/2.0', ...head, 'To: <sip:a@x>', 'CSeq: 1 REGISTER', 'Contact: <sip:a@b.invalid>'])), false);
  t.equal(wantsOutbound(req(['REGISTER sip:x SIP/2.0', ...head, 'To: <sip:a@x>', 'CSeq: 1 REGISTER', 'Supported: path, Outbound', 'Contact: <sip:a@b.invalid>'])), true);
  t.equal(wantsOutbound(req(['REGISTER sip:x SIP/2.0', ...head, 'To: <sip:a@x>', 'CSeq: 1 REGISTER', 'Contact: <sip:a@b.invalid>;reg-id=1'])), true);
  t.equal(wantsOutbound(req(['REGISTER sip:x SIP/2.0', ...head, 'To: <sip:a@x>', 'CSeq: 1 REGISTER', 'Contact: *'])), false);
});

t.test('dialog-creating: INVITE/SUBSCRIBE/REFER/NOTIFY outside a dialog only', async (t) => {
  t.equal(isDialogCreating(req(['INVITE sip:b@x SIP/2.0', ...head, 'To: <sip:b@x>', 'CSeq: 1 INVITE'])), true);
  t.equal(isDialogCreating(req(['INVITE sip:b@x SIP/2.0', ...head, 'To: <sip:b@x>;tag=2', 'CSeq: 2 INVITE'])), false, 're-INVITE');
  t.equal(isDialogCreating(req(['SUBSCRIBE sip:b@x SIP/2.0', ...head, 'To: <sip:b@x>', 'CSeq: 1 SUBSCRIBE'])), true);
  t.equal(isDialogCreating(req(['MESSAGE sip:b@x SIP/2.0', ...head, 'To: <sip:b@x>', 'CSeq: 1 MESSAGE'])), false);
});

t.test('small parsers at the edge of the socket', async (t) => {
  t.equal(offersSip('sip'), true);
  t.equal(offersSip('chat, sip'), true);
  t.equal(offersSip('sips'), false);
  t.equal(offersSip(''), false);
  t.equal(normalizeIp('0000:0000:0000:0000:0000:ffff:7f00:0001'), '127.0.0.1');
  t.equal(normalizeIp('::ffff:10.0.0.1'), '10.0.0.1');
  t.equal(normalizeIp('2001:DB8::1'), '2001:db8::1');
  t.equal(normalizeIp('127.0.0.1'), '127.0.0.1');
  t.equal(startLineLabel(Buffer.from('SIP/2.0 180 Ringing\r\n')), '1xx');
  t.equal(startLineLabel(Buffer.from('INVITE sip:x SIP/2.0\r\n')), 'INVITE');
  t.equal(startLineLabel(Buffer.from('FOOBAR sip:x SIP/2.0\r\n')), 'other');
});
