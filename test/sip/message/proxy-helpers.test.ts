import t from 'tap';
import {
  MAGIC_COOKIE, addPath, addVia, applyReceived, decrementMaxForwards, generateBranch, isRfc3261Branch, popRouteIfMatches,
  prependRecordRoute, restoreStrictRoute, statelessBranchSeed,
} from '../../../sip/message/proxy-helpers.js';
import { parseMessage } from '../../../sip/message/parser.js';
import { parseVia } from '../../../sip/grammar/via.js';
import type { SipRequest } from '../../../sip/message/model.js';
import type { Request } from '../../../sip/message/message.js';

const crlf = (lines: string[]): string => lines.join('\r\n');
const INVITE = crlf([
  'INVITE sip:bob@biloxi.example.com SIP/2.0',
  'Via: SIP/2.0/UDP pc33.atlanta.example.com:5066;branch=z9hG4bK0;rport',
  'Max-Forwards: 3',
  'Route: <sip:proxy.example.com;lr>, <sip:next.example.com;lr>',
  'To: Bob <sip:bob@biloxi.example.com>',
  'From: Alice <sip:alice@atlanta.example.com>;tag=1928301774',
  'Call-ID: a84b4c76e66710',
  'CSeq: 314159 INVITE',
  'Content-Length: 0',
  '',
  '',
]);

function parse(text = INVITE): SipRequest {
  const r = parseMessage(text);
  if (!r.ok || r.message.kind !== 'request') throw new Error('bad fixture');
  return r.message;
}

t.test('RFC 3261 §8.1.1.7: the branch MUST always begin with z9hG4bK', async (t) => {
  const random = new Set(Array.from({ length: 500 }, () => generateBranch()));
  t.equal(random.size, 500);
  for (const b of random) t.ok(b.startsWith(MAGIC_COOKIE));
  t.equal(generateBranch('seed'), generateBranch('seed'), 'deterministic from a seed');
  t.not(generateBranch('seed'), generateBranch('seed2'));
  t.match(generateBranch('seed'), /^z9hG4bK[A-Za-z0-9_-]{22}$/, 'token characters only');
});

t.test('RFC 3261 §16.11: a stateless branch is equal for retransmissions and the CANCEL, different after a spiral', async (t) => {
  const invite = parse();
  const retransmission = parse();
  const cancel = parse(INVITE.replace('INVITE sip', 'CANCEL sip').replace('314159 INVITE', '314159 CANCEL'));
  const spiral = parse(INVITE.replace('INVITE sip:bob@biloxi.example.com', 'INVITE sip:bob@192.0.2.4'));
  const seed = statelessBranchSeed(invite);
  t.equal(statelessBranchSeed(retransmission), seed);
  t.equal(statelessBranchSeed(cancel), seed);
  t.not(statelessBranchSeed(spiral), seed);
  const old = parse(INVITE.replace('branch=z9hG4bK0', 'branch=oldstyle'));
  const oldCancel = parse(INVITE.replace('branch=z9hG4bK0', 'branch=oldstyle').replace(/INVITE/g, 'CANCEL'));
  t.equal(statelessBranchSeed(old), statelessBranchSeed(oldCancel), 'pre-3261: §16.6 step 8 ingredients, CSeq method excluded');
});

t.test('addVia pushes our Via on top', async (t) => {
  const m = parse();
  const via = addVia(m, { transport: 'tcp', host: '10.0.0.1', port: 5060, branch: 'z9hG4bKours', rport: true });
  t.equal(via.transport, 'TCP');
  t.equal(m.get('Via'), 'SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bKours;rport');
  t.equal(m.vias.length, 2);
  t.equal(m.topVia?.params.get('branch'), 'z9hG4bKours');
  addVia(m, { transport: 'UDP', host: 'h', branch: 'z9hG4bKb' });
  t.equal(m.get('Via'), 'SIP/2.0/UDP h;branch=z9hG4bKb');
});

t.test('RFC 3261 §18.2.1: received is added when sent-by differs from the source', async (t) => {
  const [domain] = parseVia('SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK1');
  t.equal(applyReceived(domain!, '192.0.2.1', 5060).params.get('received'), '192.0.2.1', 'a domain name always differs');
  const [sameIp] = parseVia('SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1');
  t.notOk(applyReceived(sameIp!, '192.0.2.1', 5060).params.has('received'), 'same IP: nothing added');
  const [otherIp] = parseVia('SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1');
  t.equal(applyReceived(otherIp!, '198.51.100.7', 5060).params.get('received'), '198.51.100.7');
  const [v6] = parseVia('SIP/2.0/UDP [2001:db8::1];branch=z9hG4bK1');
  t.notOk(applyReceived(v6!, '2001:DB8::1', 5060).params.has('received'), 'IPv6 compared without brackets and case');
});

t.test('RFC 3581 §4: rport is filled and received is added even when identical', async (t) => {
  const [v] = parseVia('SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport');
  applyReceived(v!, '192.0.2.1', 40000);
  t.equal(v!.params.get('rport'), '40000');
  t.equal(v!.params.get('received'), '192.0.2.1');
  const [none] = parseVia('SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1');
  applyReceived(none!, '192.0.2.1', 40000);
  t.notOk(none!.params.has('rport'), 'no rport requested, none added');
});

t.test('applyReceived on a message rewrites the top Via only', async (t) => {
  const m = parse(INVITE.replace('Via: SIP/2.0/UDP pc33', 'Via: SIP/2.0/UDP pc33.atlanta.example.com:5066;branch=z9hG4bKtop;rport, SIP/2.0/UDP pc33'));
  const top = applyReceived(m, '203.0.113.9', 61000);
  t.equal(top?.params.get('received'), '203.0.113.9');
  t.equal(m.getAll('Via')[0], 'SIP/2.0/UDP pc33.atlanta.example.com:5066;branch=z9hG4bKtop;rport=61000;received=203.0.113.9');
  t.equal(m.vias.length, 2);
  t.equal(m.vias[1]!.params.get('branch'), 'z9hG4bK0', 'second Via untouched');
  const same = parse(INVITE.replace('pc33.atlanta.example.com:5066;branch=z9hG4bK0;rport', '192.0.2.1;branch=z9hG4bK0'));
  const before = same.get('Via');
  applyReceived(same, '192.0.2.1', 5060);
  t.equal(same.get('Via'), before, 'nothing to change, nothing rewritten');
  const bare = parse();
  bare.remove('Via');
  t.equal(applyReceived(bare, '192.0.2.1', 5060), undefined);
});

t.test('RFC 3261 §16.6 step 3: Max-Forwards decremented, or added as 70', async (t) => {
  const m = parse();
  t.equal(decrementMaxForwards(m), 2);
  t.equal(m.get('Max-Forwards'), '2');
  t.equal(m.maxForwards, 2);
  m.set('Max-Forwards', '0');
  t.equal(decrementMaxForwards(m), null, '0: answer 483, leave the message');
  t.equal(m.get('Max-Forwards'), '0');
  m.remove('Max-Forwards');
  t.equal(decrementMaxForwards(m), 70);
  t.equal(m.get('Max-Forwards'), '70');
  m.set('Max-Forwards', 'x');
  t.throws(() => decrementMaxForwards(m), { code: 'BAD_MAX_FORWARDS' });
});

t.test('RFC 3261 §16.4: the first Route is removed only when it is ours', async (t) => {
  const m = parse();
  const ours = (host: string) => (r: { uri: { host: string } }) => r.uri.host === host;
  t.equal(popRouteIfMatches(m, ours('elsewhere.example.com')), undefined);
  t.equal(m.routes.length, 2);
  t.equal(popRouteIfMatches(m, ours('proxy.example.com'))?.uri.host, 'proxy.example.com');
  t.strictSame(m.routes.map((r) => r.uri.host), ['next.example.com']);
  t.equal(m.get('Route'), '<sip:next.example.com;lr>');
  m.remove('Route');
  t.equal(popRouteIfMatches(m, () => true), undefined);
});

t.test('RFC 3261 §16.4: a strict-routing previous hop has its Request-URI restored from the last Route', async (t) => {
  const m = parse(INVITE.replace('INVITE sip:bob@biloxi.example.com', 'INVITE sip:proxy.example.com;lr').replace(
    'Route: <sip:proxy.example.com;lr>, <sip:next.example.com;lr>', 'Route: <sip:next.example.com;lr>, <sip:bob@192.0.2.4>'));
  t.notOk(restoreStrictRoute(m, (u) => u.host === 'other'));
  t.ok(restoreStrictRoute(m, (u) => u.host === 'proxy.example.com'));
  t.equal(m.uriText, 'sip:bob@192.0.2.4');
  t.strictSame(m.getAll('Route'), ['<sip:next.example.com;lr>']);
});

t.test('Record-Route and Path go on top', async (t) => {
  const m = parse();
  prependRecordRoute(m, 'sip:p1.example.com;lr');
  prependRecordRoute(m, '<sip:p2.example.com;lr>');
  t.strictSame(m.getAll('Record-Route'), ['<sip:p2.example.com;lr>', '<sip:p1.example.com;lr>']);
  addPath(m, 'sip:edge.example.com;lr;ob');
  addPath(m, 'sip:edge2.example.com;lr');
  t.strictSame((m as Request).paths.map((p) => p.uri.host), ['edge2.example.com', 'edge.example.com']);
  t.ok(isRfc3261Branch(m.topVia!));
  t.notOk(isRfc3261Branch(parseVia('SIP/2.0/UDP h;branch=1')[0]!));
});
