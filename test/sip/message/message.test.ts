import t from 'tap';
import { Request, Response } from '../../../sip/message/message.js';
import { parseMessage } from '../../../sip/message/parser.js';
import { parseUri } from '../../../sip/grammar/uri.js';
import { SipParseError } from '../../../sip/message/errors.js';

const crlf = (lines: string[]): string => lines.join('\r\n');

const INVITE = crlf([
  'INVITE sip:bob@biloxi.example.com SIP/2.0',
  'v: SIP/2.0/UDP p2.example.com;branch=z9hG4bK2, SIP/2.0/UDP p1.example.com;branch=z9hG4bK1',
  'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK0',
  'Max-Forwards: 68',
  'Route: <sip:p3.example.com;lr>, <sip:p4.example.com;lr>',
  'To: Bob <sip:bob@biloxi.example.com>',
  'f: Alice <sip:alice@atlanta.example.com>;tag=1928301774',
  'Call-ID: a84b4c76e66710@pc33.atlanta.example.com',
  'CSeq: 314159 INVITE',
  'Contact: <sip:alice@pc33.atlanta.example.com>',
  'X-Unknown-Thing: keep  this   exactly ;a="b,c"',
  'Content-Type: application/sdp',
  'l: 5',
  '',
  'v=0\r\n',
]);

function parse(text: string | Buffer): Request {
  const r = parseMessage(text);
  if (!r.ok) throw r.error;
  if (r.message.kind !== 'request') throw new Error('not a request');
  return r.message as Request;
}

t.test('headers: case-insensitive and compact-form lookup, wire order kept', async (t) => {
  const m = parse(INVITE);
  t.equal(m.get('VIA'), 'SIP/2.0/UDP p2.example.com;branch=z9hG4bK2, SIP/2.0/UDP p1.example.com;branch=z9hG4bK1');
  t.equal(m.get('from'), 'Alice <sip:alice@atlanta.example.com>;tag=1928301774');
  t.equal(m.get('F'), m.get('From'));
  t.strictSame(m.getAll('via').length, 2, 'getAll: one per line');
  t.strictSame(m.values('Via').length, 3, 'values: list elements');
  t.strictSame(m.values('X-Unknown-Thing'), ['keep  this   exactly ;a="b,c"'], 'unknown headers are not split');
  t.ok(m.has('l'));
  t.notOk(m.has('Record-Route'));
  t.equal(m.get('Record-Route'), undefined);
  t.strictSame(m.headers.map((h) => h.name), ['v', 'Via', 'Max-Forwards', 'Route', 'To', 'f', 'Call-ID', 'CSeq', 'Contact', 'X-Unknown-Thing', 'Content-Type', 'l']);
});

t.test('parsed accessors', async (t) => {
  const m = parse(INVITE);
  t.equal(m.vias.length, 3);
  t.equal(m.topVia?.host, 'p2.example.com');
  t.equal(m.from.params.get('tag'), '1928301774');
  t.equal(m.to.displayName, 'Bob');
  t.equal(m.callId, 'a84b4c76e66710@pc33.atlanta.example.com');
  t.strictSame(m.cseq, { seq: 314159, method: 'INVITE' });
  t.equal(m.maxForwards, 68);
  t.equal((m.contacts as unknown[]).length, 1);
  t.strictSame(m.routes.map((r) => r.uri.host), ['p3.example.com', 'p4.example.com']);
  t.strictSame(m.recordRoutes, []);
  t.equal(m.contentType, 'application/sdp');
  t.equal(m.contentLength, 5);
  t.equal(m.uri.user, 'bob');
  t.equal(m.parsedValue('Route'), m.routes);
  t.equal(m.parsedValue('X-Unknown-Thing'), 'keep  this   exactly ;a="b,c"');
  t.equal(m.parsedValue('Nope'), undefined);
});

t.test('values are parsed once and cached until their header changes', async (t) => {
  const m = parse(INVITE);
  t.equal(m.vias, m.vias, 'same array while unchanged');
  t.equal(m.from, m.from);
  const before = m.to;
  m.set('Via', 'SIP/2.0/TCP new.example.com;branch=z9hG4bKnew');
  t.equal(m.vias.length, 1, 'Via cache dropped on set');
  t.equal(m.topVia?.host, 'new.example.com');
  t.equal(m.to, before, 'other caches kept');
  m.set('To', '<sip:carol@example.com>');
  t.equal(m.to.uri.user, 'carol', 'To cache dropped');
  m.append('Contact', '<sip:second@example.com>');
  t.equal((m.contacts as unknown[]).length, 2, 'Contact cache dropped on append');
  m.prepend('Route', '<sip:p0.example.com;lr>');
  t.equal(m.routes[0]?.uri.host, 'p0.example.com', 'Route cache dropped on prepend');
  m.remove('Route');
  t.strictSame(m.routes, [], 'Route cache dropped on remove');
  m.set('CSeq', '7 INVITE');
  t.equal(m.cseq.seq, 7, 'CSeq cache dropped');
});

t.test('topVia parses only the first line, and agrees with vias', async (t) => {
  const m = parse(INVITE.replace('Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK0', 'Via: broken'));
  t.equal(m.topVia?.params.get('branch'), 'z9hG4bK2');
  t.throws(() => m.vias, { code: 'BAD_VIA' });
  m.removeFirstValue('Via');
  t.equal(m.topVia?.params.get('branch'), 'z9hG4bK1', 'topVia cache dropped too');
});

t.test('malformed values throw SipParseError naming the header; missing ones too', async (t) => {
  const m = parse(INVITE.replace('To: Bob <sip:bob@biloxi.example.com>', 'To: Bob <sip:bob@biloxi.example.com'));
  t.throws(() => m.to, { code: 'BAD_NAME_ADDR', header: 'To', message: 'Bad To Header' });
  m.remove('Call-ID');
  t.throws(() => m.callId, { code: 'MISSING_HEADER', header: 'Call-ID' });
  m.set('Max-Forwards', '-1');
  t.throws(() => m.maxForwards, { code: 'BAD_MAX_FORWARDS' });
  m.set('Contact', '*');
  t.equal(m.contacts, '*');
  m.append('Contact', '<sip:a@b>');
  t.throws(() => m.contacts, { code: 'BAD_NAME_ADDR', header: 'Contact' });
  m.setUriText('sip:[oops');
  t.throws(() => m.uri, { code: 'BAD_URI', header: 'Request-URI' });
  try {
    void m.uri;
  } catch (e) {
    t.type(e, SipParseError);
  }
});

t.test('set keeps the position and spelling of the first field; append/prepend use full names', async (t) => {
  const m = parse(INVITE);
  m.set('From', '<sip:x@y>;tag=9');
  t.equal(m.headers[5]?.name, 'f', 'compact spelling kept in place');
  t.equal(m.get('from'), '<sip:x@y>;tag=9');
  m.set('v', 'SIP/2.0/UDP only;branch=z9hG4bKo');
  t.equal(m.getAll('via').length, 1, 'set replaces every field');
  t.equal(m.headers[0]?.name, 'v');
  m.append('k', 'path');
  t.equal(m.headers.at(-1)?.name, 'Supported', 'a new header gets its full name');
  m.prepend('Record-Route', '<sip:rr@x;lr>');
  t.equal(m.headers.at(-1)?.name, 'Record-Route', 'prepend without existing fields adds at the end');
  m.prepend('Via', 'SIP/2.0/TCP top;branch=z9hG4bKt');
  t.equal(m.headers[0]?.value, 'SIP/2.0/TCP top;branch=z9hG4bKt', 'prepend goes before the first field');
  m.append('Via', 'SIP/2.0/TCP bottom;branch=z9hG4bKb');
  t.equal(m.headers[2]?.value, 'SIP/2.0/TCP bottom;branch=z9hG4bKb', 'append goes after the last field');
  t.equal(m.remove('Via'), 3);
  t.equal(m.remove('Via'), 0);
});

t.test('removeFirstValue splits a comma-joined line', async (t) => {
  const m = parse(INVITE);
  t.equal(m.removeFirstValue('Route'), '<sip:p3.example.com;lr>');
  t.equal(m.get('Route'), '<sip:p4.example.com;lr>');
  t.equal(m.removeFirstValue('Route'), '<sip:p4.example.com;lr>');
  t.notOk(m.has('Route'));
  t.equal(m.removeFirstValue('Route'), undefined);
  t.equal(m.removeFirstValue('Via'), 'SIP/2.0/UDP p2.example.com;branch=z9hG4bK2');
  t.equal(m.vias.length, 2);
  m.set('Supported', ' , ,timer');
  t.equal(m.removeFirstValue('Supported'), 'timer', 'empty elements are skipped');
  t.notOk(m.has('Supported'));
  t.equal(m.removeFirstValue('Subject'), undefined);
  m.set('Subject', 'a, b');
  t.equal(m.removeFirstValue('Subject'), 'a, b', 'non-list headers are removed whole');
});

t.test('mutators refuse header injection and bad names', async (t) => {
  const m = parse(INVITE);
  t.throws(() => m.set('X-A', 'ok\r\nInjected: yes'), TypeError);
  t.throws(() => m.append('X-A', 'a\nb'), TypeError);
  t.throws(() => m.prepend('X A', 'v'), TypeError);
  t.throws(() => m.set('', 'v'), TypeError);
  t.throws(() => m.set('X-A', 'nul\0'), TypeError);
  t.throws(() => m.set('X-A', 'lone CR\r then more'), TypeError);
  t.throws(() => m.append('Contact', `<sip:a@b>;x="${'y'.repeat(600)}"\n`), TypeError, 'at the end of a long value too');
  t.doesNotThrow(() => m.set('X-A', `${'y'.repeat(600)} tab\tand spaces`), 'long values without them pass');
  t.throws(() => new Request('INVITE', 'sip:a b', []), TypeError);
  t.throws(() => new Request('IN VITE', 'sip:a@b', []), TypeError);
  t.throws(() => new Response(99, 'x'), RangeError);
  t.throws(() => new Response(200, 'O\r\nK'), TypeError);
});

t.test('toBuffer: unchanged canonical messages come out byte for byte', async (t) => {
  const m = parse(INVITE);
  t.ok(m.toBuffer().equals(Buffer.from(INVITE)));
  t.equal(m.toString(), INVITE);
});

t.test('toBuffer recomputes Content-Length, keeping the spelling; adds it in full when absent', async (t) => {
  const m = parse(INVITE);
  m.body = Buffer.from('v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n');
  const out = m.toBuffer().toString();
  t.match(out, /\r\nl: 29\r\n\r\nv=0/);
  const noLength = parse(INVITE.replace('l: 5\r\n', ''));
  t.match(noLength.toBuffer().toString(), /\r\nContent-Length: 5\r\n\r\nv=0\r\n$/);
  const built = new Request('MESSAGE', 'sip:bob@example.com', [['To', '<sip:bob@example.com>']], Buffer.from('héllo'));
  t.equal(built.toString(), 'MESSAGE sip:bob@example.com SIP/2.0\r\nTo: <sip:bob@example.com>\r\nContent-Length: 6\r\n\r\nhéllo', 'length in bytes');
});

t.test('folded and oddly spaced headers are normalised but keep name and value', async (t) => {
  const odd = INVITE.replace('Max-Forwards: 68', 'Max-Forwards  :  68\r\n').replace('Content-Type: application/sdp', 'Content-Type:\r\n  application/sdp');
  const m = parse(odd.replace('68\r\n\r\n', '68\r\n'));
  const out = m.toBuffer().toString();
  t.match(out, /\r\nMax-Forwards: 68\r\n/);
  t.match(out, /\r\nContent-Type: application\/sdp\r\n/);
});

t.test('Request-URI: text kept as received until the URI is assigned or changed in place', async (t) => {
  const m = parse(INVITE.replace('sip:bob@biloxi.example.com SIP', 'sip:%62ob@BILOXI.example.com SIP'));
  t.equal(m.uri.user, 'bob');
  t.equal(m.uriText, 'sip:%62ob@BILOXI.example.com', 'reading does not rewrite');
  m.uri.params.set('transport', 'tcp');
  t.equal(m.uriText, 'sip:bob@biloxi.example.com;transport=tcp', 'in-place change noticed');
  m.uri = parseUri('sip:carol@chicago.example.com');
  t.equal(m.uriText, 'sip:carol@chicago.example.com');
  t.match(m.toString(), /^INVITE sip:carol@chicago.example.com SIP\/2.0\r\n/);
  m.setUriText('sip:dave@example.com');
  t.equal(m.uri.user, 'dave');
});

t.test('clone is deep', async (t) => {
  const m = parse(INVITE);
  void m.vias;
  const c = m.clone();
  t.type(c, Request);
  c.set('To', '<sip:other@example.com>');
  c.body = Buffer.from('x');
  c.method = 'BYE';
  c.uri = parseUri('sip:z@z');
  t.equal(m.to.uri.user, 'bob');
  t.equal(m.body.toString(), 'v=0\r\n');
  t.equal(m.method, 'INVITE');
  t.equal(m.uriText, 'sip:bob@biloxi.example.com');
  const raw = parseMessage(INVITE);
  if (raw.ok) {
    const original = raw.message.toBuffer();
    const clone = raw.message.clone();
    clone.body.fill(0x41);
    t.ok(raw.message.toBuffer().equals(original), 'the clone owns its body bytes');
  }
  const r = new Response(180, 'Ringing', [['To', '<sip:a@b>;tag=1']]);
  const rc = r.clone();
  rc.status = 183;
  t.equal(r.status, 180);
  t.equal(rc.get('to'), '<sip:a@b>;tag=1');
});

t.test('constructors accept HeaderField objects and tuples', async (t) => {
  const r = new Response(200, 'OK', [{ name: 'Via', value: 'SIP/2.0/UDP h;branch=z9hG4bK1' }, ['CSeq', '1 INVITE']]);
  t.equal(r.kind, 'response');
  t.equal(r.topVia?.host, 'h');
  t.equal(r.cseq.method, 'INVITE');
  t.equal(r.toString(), 'SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n');
  const q = new Request('OPTIONS', parseUri('sip:a@b'));
  t.equal(q.uriText, 'sip:a@b');
  t.equal(q.headers.length, 0);
});

t.test('skeletonText(): the skeleton as one flat string that parses back to the same skeleton; none for a non-UTF-8 message', async (t) => {
  const parsed = parseMessage(Buffer.from(INVITE));
  if (!parsed.ok || parsed.message.kind !== 'request') throw new Error('fixture does not parse');
  const req = parsed.message;
  const text = req.skeletonText();
  if (text === undefined) throw new Error('an ASCII message has a skeleton text');
  t.ok(text.endsWith('\r\n\r\n'), 'ends with the empty line');
  t.notMatch(text, /Contact|Content-Type|v=0/, 'no other header, no body');
  const back = parseMessage(text);
  if (!back.ok || back.message.kind !== 'request') throw new Error('skeleton text does not parse');
  const sk = req.skeleton();
  t.equal(back.message.toString(), sk.toString(), 'the same message as skeleton()');
  t.equal(back.message.callId, req.callId);

  const utf8 = parseMessage(Buffer.from(INVITE.replace('Bob <sip:', 'Bøb <sip:'), 'utf8'));
  if (!utf8.ok) throw new Error('fixture does not parse');
  const again = parseMessage(utf8.message.skeletonText()!);
  t.ok(again.ok && again.message.toBuffer().includes(Buffer.from('Bøb', 'utf8')), 'UTF-8 text survives');

  const latin1 = parseMessage(Buffer.concat([Buffer.from(INVITE.slice(0, INVITE.indexOf('To:')), 'latin1'), Buffer.from([0x54, 0x6f, 0x3a, 0x20, 0xe9]), Buffer.from(INVITE.slice(INVITE.indexOf('To:') + 3), 'latin1')]));
  if (!latin1.ok) throw new Error('latin1 fixture does not parse');
  t.equal(latin1.message.skeletonText(), undefined, 'bytes that are not UTF-8: no text form');
});

t.test('toText(): text whose UTF-8 is exactly toBuffer(), when the message has one', async (t) => {
  const parsed = parseMessage(Buffer.from(INVITE));
  if (!parsed.ok) throw new Error('fixture does not parse');
  const withBody = parsed.message;
  t.ok(withBody.body.length > 0, 'the fixture has a body');
  t.equal(Buffer.from(withBody.toText()!, 'utf8').compare(withBody.toBuffer()), 0, 'an ASCII body: the same bytes');
  const noBody = new Response(200, 'OK', [['Via', 'SIP/2.0/TCP a.example;branch=z9hG4bKx'], ['Contact', '<sip:b@ü.example>']]);
  t.equal(Buffer.from(noBody.toText()!, 'utf8').compare(noBody.toBuffer()), 0, 'UTF-8 headers, no body: the same bytes');
  const utf8Body = new Request('MESSAGE', 'sip:b@example.com', [['Content-Type', 'text/plain']], Buffer.from('grüß', 'utf8'));
  t.equal(utf8Body.toText(), undefined, 'a body that is not ASCII: no text form (the buffer is sent)');
  const latin1 = parseMessage(Buffer.concat([Buffer.from(INVITE.slice(0, INVITE.indexOf('To:')), 'latin1'), Buffer.from([0x54, 0x6f, 0x3a, 0x20, 0xe9]), Buffer.from(INVITE.slice(INVITE.indexOf('To:') + 3), 'latin1')]));
  if (!latin1.ok) throw new Error('latin1 fixture does not parse');
  t.equal(latin1.message.toText(), undefined, 'bytes that are not UTF-8: no text form');
});

t.test('skeleton(): the start line, Via, From, To, Call-ID and CSeq only — what a waiting transaction keeps', async (t) => {
  const parsed = parseMessage(Buffer.from(INVITE));
  if (!parsed.ok || parsed.message.kind !== 'request') throw new Error('fixture does not parse');
  const req = parsed.message;
  const sk = req.skeleton();
  t.equal(sk.method, 'INVITE');
  t.equal(sk.uriText, 'sip:bob@biloxi.example.com');
  t.same(
    sk.headers.map((h) => h.name),
    ['v', 'Via', 'To', 'f', 'Call-ID', 'CSeq'],
    'kept in order, as spelled',
  );
  t.same(sk.vias.map((v) => v.params.get('branch')), ['z9hG4bK2', 'z9hG4bK1', 'z9hG4bK0']);
  t.equal(sk.from.params.get('tag'), '1928301774');
  t.equal(sk.callId, req.callId);
  t.same(sk.cseq, req.cseq);
  t.equal(sk.get('Contact'), undefined, 'Contact dropped');
  t.equal(sk.get('Route'), undefined, 'Route dropped');
  t.equal(sk.body.length, 0, 'no body');
  const again = parseMessage(sk.toBuffer());
  t.ok(again.ok, 'the skeleton serializes to a parsable message');
  sk.set('Call-ID', 'changed');
  t.equal(req.callId, 'a84b4c76e66710@pc33.atlanta.example.com', 'a copy: changing it leaves the original alone');

  const res = new Response(486, 'Busy Here', [['Via', 'SIP/2.0/UDP a.example.com;branch=z9hG4bKx'], ['To', '<sip:b@example.com>;tag=t1'], ['From', '<sip:a@example.com>;tag=f1'], ['Call-ID', 'c1'], ['CSeq', '1 INVITE'], ['Contact', '<sip:b@192.0.2.1>'], ['Retry-After', '10']]);
  const rsk = res.skeleton();
  t.equal(rsk.status, 486);
  t.equal(rsk.reason, 'Busy Here');
  t.equal(rsk.to.params.get('tag'), 't1');
  t.same(rsk.headers.map((h) => h.name), ['Via', 'To', 'From', 'Call-ID', 'CSeq']);
});
