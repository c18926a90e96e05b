import t from 'tap';
import { createRequest, createResponse, defaultReason, generateCallId, generateTag, randomToken } from '../../../sip/message/factory.js';
import { parseMessage } from '../../../sip/message/parser.js';
import { Request, Response } from '../../../sip/message/message.js';
import type { SipRequest } from '../../../sip/message/model.js';

const crlf = (lines: string[]): string => lines.join('\r\n');
const INVITE = crlf([
  'INVITE sip:bob@biloxi.example.com SIP/2.0',
  'Via: SIP/2.0/UDP p2.example.com;branch=z9hG4bK2;received=192.0.2.2, SIP/2.0/UDP p1.example.com;branch=z9hG4bK1',
  'v: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK0',
  'Max-Forwards: 70',
  'To: Bob <sip:bob@biloxi.example.com>',
  'From: Alice <sip:alice@atlanta.example.com>;tag=1928301774',
  'Call-ID: a84b4c76e66710@pc33.atlanta.example.com',
  'CSeq: 314159 INVITE',
  'Timestamp: 54',
  'Contact: <sip:alice@pc33.atlanta.example.com>',
  'Content-Length: 0',
  '',
  '',
]);

function parse(text: string): SipRequest {
  const r = parseMessage(text);
  if (!r.ok || r.message.kind !== 'request') throw new Error('bad fixture');
  return r.message;
}

t.test('RFC 3261 §8.2.6.2: Via values copied in order, From, Call-ID and CSeq equal', async (t) => {
  const req = parse(INVITE);
  const res = createResponse(req, 486, undefined, { toTag: 'bobtag' });
  t.type(res, Response);
  t.equal(res.status, 486);
  t.equal(res.reason, 'Busy Here');
  t.strictSame(res.getAll('Via'), req.getAll('Via'));
  t.strictSame(res.vias.map((v) => v.params.get('branch')), ['z9hG4bK2', 'z9hG4bK1', 'z9hG4bK0']);
  t.equal(res.get('From'), req.get('From'));
  t.equal(res.get('Call-ID'), req.get('Call-ID'));
  t.equal(res.get('CSeq'), req.get('CSeq'));
  t.equal(res.get('To'), 'Bob <sip:bob@biloxi.example.com>;tag=bobtag');
  t.notOk(res.has('Timestamp'), 'Timestamp only for 100');
  t.notOk(res.has('Contact'));
  t.notOk(res.has('Max-Forwards'));
  const again = parseMessage(res.toBuffer());
  t.ok(again.ok, 'the response parses');
});

t.test('RFC 3261 §8.2.6.2: the UAS MUST add a To tag, except for 100 (Trying)', async (t) => {
  const req = parse(INVITE);
  t.equal(createResponse(req, 100, undefined, { toTag: 'x' }).get('To'), 'Bob <sip:bob@biloxi.example.com>', 'no tag on 100');
  t.equal(createResponse(req, 180).get('To'), 'Bob <sip:bob@biloxi.example.com>', 'only when a tag is given');
  const generated = createResponse(req, 200, 'OK', { toTag: true }).to.params.get('tag');
  t.match(generated, /^[a-z0-9]{12}$/);
  const tagged = parse(INVITE.replace('To: Bob <sip:bob@biloxi.example.com>', 'To: Bob <sip:bob@biloxi.example.com>;tag=existing'));
  t.equal(createResponse(tagged, 200, 'OK', { toTag: 'new' }).to.params.get('tag'), 'existing', 'an existing tag is kept');
});

t.test('RFC 3261 §8.2.6.1: a 100 (Trying) copies the Timestamp', async (t) => {
  const res = createResponse(parse(INVITE), 100);
  t.equal(res.reason, 'Trying');
  t.equal(res.get('Timestamp'), '54');
});

t.test('extra headers and body', async (t) => {
  const res = createResponse(parse(INVITE), 200, 'Fine', {
    toTag: 't', headers: [['Contact', '<sip:bob@192.0.2.4>'], ['Content-Type', 'application/sdp']], body: Buffer.from('v=0\r\n'),
  });
  t.equal(res.reason, 'Fine');
  t.equal(res.get('Contact'), '<sip:bob@192.0.2.4>');
  t.match(res.toString(), /Content-Length: 5\r\n\r\nv=0\r\n$/);
});

t.test('builds a 400 from the partial request of a message that failed to parse', async (t) => {
  const broken = INVITE.replace('Content-Length: 0', 'Content-Length: nope');
  const r = parseMessage(broken);
  t.equal(r.ok, false);
  if (r.ok) return;
  t.equal(r.error.code, 'BAD_CONTENT_LENGTH');
  t.equal(r.partial?.canReply, true);
  const res = createResponse(r.partial!.request!, 400, r.error.message, { toTag: 'x' });
  t.equal(res.reason, 'Bad Content-Length Header');
  t.equal(res.topVia?.params.get('branch'), 'z9hG4bK2');
  t.ok(parseMessage(res.toBuffer()).ok);

  const badTo = parseMessage(INVITE.replace('To: Bob <sip:bob@biloxi.example.com>', 'To: Bob <sip:bob@biloxi'), undefined, { validate: true });
  t.equal(badTo.ok, false);
  if (badTo.ok) return;
  const res2 = createResponse(badTo.partial!.request!, 400, badTo.error.message, { toTag: 'x' });
  t.equal(res2.get('To'), 'Bob <sip:bob@biloxi;tag=x', 'a broken To is copied as text');
  t.equal(res2.reason, 'Bad To Header');
});

t.test('defaultReason knows the RFC 3261 codes and falls back by class', async (t) => {
  t.equal(defaultReason(200), 'OK');
  t.equal(defaultReason(401), 'Unauthorized');
  t.equal(defaultReason(407), 'Proxy Authentication Required');
  t.equal(defaultReason(423), 'Interval Too Brief');
  t.equal(defaultReason(439), 'First Hop Lacks Outbound Support');
  t.equal(defaultReason(481), 'Call/Transaction Does Not Exist');
  t.equal(defaultReason(483), 'Too Many Hops');
  t.equal(defaultReason(505), 'Version Not Supported');
  t.equal(defaultReason(603), 'Decline');
  t.equal(defaultReason(499), 'Client Error');
  t.equal(defaultReason(299), 'Success');
});

t.test('tags and Call-IDs are random tokens', async (t) => {
  const tags = new Set(Array.from({ length: 2000 }, () => generateTag()));
  t.equal(tags.size, 2000, 'no repeats in 2000');
  for (const tag of [...tags].slice(0, 10)) t.match(tag, /^[a-z0-9]{12}$/);
  t.match(generateCallId(), /^[a-z0-9]{24}$/);
  t.match(generateCallId('edge1.example.com'), /^[a-z0-9]{24}@edge1\.example\.com$/);
  t.equal(randomToken(5000).length, 5000, 'longer than the pool refills correctly');
});

t.test('random tokens use every character of [a-z0-9], at any length, and each is its own string', async (t) => {
  const long = randomToken(1000);
  t.match(long, /^[a-z0-9]{1000}$/, 'past the scratch buffer: still only [a-z0-9]');
  t.equal(new Set(long).size, 36, 'all 36 characters appear in 1000');
  for (const n of [0, 1, 63, 64, 65, 128, 129]) t.equal(randomToken(n).length, n, `length ${n}`);
  const a = randomToken(16);
  const b = randomToken(16);
  t.not(a, b, 'the scratch buffer is not shared between tokens');
  t.match(a, /^[a-z0-9]{16}$/);
});

t.test('createRequest builds a request from parts', async (t) => {
  const req = createRequest({
    method: 'OPTIONS', uri: 'sip:bob@example.com',
    headers: [['Via', 'SIP/2.0/UDP h;branch=z9hG4bKx'], ['To', '<sip:bob@example.com>'], ['From', '<sip:a@b>;tag=1'], ['Call-ID', 'c'], ['CSeq', '1 OPTIONS'], ['Max-Forwards', '70']],
  });
  t.type(req, Request);
  t.equal(req.method, 'OPTIONS');
  const r = parseMessage(req.toBuffer());
  t.ok(r.ok);
  if (r.ok) t.equal(r.message.callId, 'c');
});

t.test('a response shares the request’s fields where they are spelled canonically, and spells them canonically otherwise', async (t) => {
  const compact = 'OPTIONS sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nf: <sip:a@b>;tag=1\r\nt: <sip:a@b>\r\ni: c1\r\nCSeq: 1 OPTIONS\r\nl: 0\r\n\r\n';
  const r = parseMessage(Buffer.from(compact));
  if (!r.ok || r.message.kind !== 'request') return t.fail('does not parse');
  const res = createResponse(r.message, 200, undefined, { toTag: 'x' });
  t.same(res.headers.map((h) => h.name), ['Via', 'From', 'To', 'Call-ID', 'CSeq']);
  t.equal(res.get('To'), '<sip:a@b>;tag=x');
  const full = parseMessage(Buffer.from(compact.replace('v:', 'Via:').replace('i:', 'Call-ID:')));
  if (!full.ok || full.message.kind !== 'request') return t.fail('does not parse');
  const res2 = createResponse(full.message, 486);
  t.equal(res2.headers[0], full.message.headers[0], 'the Via field object itself');
  t.equal(res2.toString().split('\r\n')[1], 'Via: SIP/2.0/UDP h;branch=z9hG4bK1');
});
