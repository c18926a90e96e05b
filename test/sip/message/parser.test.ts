import t from 'tap';
import { DEFAULT_PARSE_LIMITS, findHeaderEnd, parseMessage, validateMessage } from '../../../sip/message/parser.js';
import { SipParseError } from '../../../sip/message/errors.js';
import { Request, Response } from '../../../sip/message/message.js';

const crlf = (lines: string[]): string => lines.join('\r\n');

const OPTIONS = crlf([
  'OPTIONS sip:carol@chicago.example.com SIP/2.0',
  'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKhjhs8ass877',
  'Max-Forwards: 70',
  'To: <sip:carol@chicago.example.com>',
  'From: Alice <sip:alice@atlanta.example.com>;tag=1928301774',
  'Call-ID: a84b4c76e66710',
  'CSeq: 63104 OPTIONS',
  'Accept: application/sdp',
  'Content-Length: 0',
  '',
  '',
]);

function ok(data: string | Buffer | Uint8Array | ArrayBuffer): Request | Response {
  const r = parseMessage(data);
  if (!r.ok) throw new Error(`expected ok, got ${r.error.code}`);
  if (!(r.message instanceof Request) && !(r.message instanceof Response)) throw new Error('not a Request or Response');
  return r.message;
}

function err(data: string | Buffer, limits?: Parameters<typeof parseMessage>[1]) {
  const r = parseMessage(data, limits);
  if (r.ok) throw new Error('expected an error');
  return r;
}

t.test('parses a request from a string or a Buffer', async (t) => {
  for (const data of [OPTIONS, Buffer.from(OPTIONS)]) {
    const m = ok(data);
    t.equal(m.kind, 'request');
    if (m.kind !== 'request') return;
    t.equal(m.method, 'OPTIONS');
    t.equal(m.uriText, 'sip:carol@chicago.example.com');
    t.equal(m.headers.length, 8);
    t.equal(m.get('accept'), 'application/sdp');
    t.strictSame(m.cseq, { seq: 63104, method: 'OPTIONS' });
  }
});

t.test('DEFAULT_PARSE_LIMITS are the documented ones', async (t) => {
  t.strictSame({ ...DEFAULT_PARSE_LIMITS }, { maxMessageBytes: 65535, maxHeaders: 128, maxLineLength: 8192 });
  t.ok(Object.isFrozen(DEFAULT_PARSE_LIMITS));
});

t.test('RFC 3261 §18.3: Content-Length larger than the datagram is an error, smaller truncates', async (t) => {
  const head = OPTIONS.replace('Content-Length: 0', 'Content-Length: 5');
  t.equal(err(head + 'abc').error.code, 'TRUNCATED');
  t.equal(ok(head + 'abcdefgh').body.toString(), 'abcde');
  t.equal(ok(head + 'abcde').body.toString(), 'abcde');
});

t.test('a datagram without Content-Length takes the rest as body', async (t) => {
  const m = ok(OPTIONS.replace('Content-Length: 0\r\n', '') + 'body bytes');
  t.equal(m.body.toString(), 'body bytes');
  t.equal(m.contentLength, undefined);
});

t.test('requests without Max-Forwards are tolerated and report undefined', async (t) => {
  const m = ok(OPTIONS.replace('Max-Forwards: 70\r\n', ''));
  t.equal(m.maxForwards, undefined);
});

t.test('RFC 3261 §8.1.1.5: the CSeq method MUST match that of the request', async (t) => {
  const r = err(OPTIONS.replace('CSeq: 63104 OPTIONS', 'CSeq: 63104 INVITE'));
  t.equal(r.error.code, 'BAD_CSEQ');
  t.equal(r.error.header, 'CSeq');
  t.equal(err(OPTIONS.replace('CSeq: 63104 OPTIONS', 'CSeq: 63104 options')).error.code, 'BAD_CSEQ', 'methods are case-sensitive');
  const resp = ok(crlf(['SIP/2.0 200 OK', 'Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'To: <sip:a@b>;tag=1', 'From: <sip:a@b>;tag=2', 'Call-ID: x', 'CSeq: 1 INVITE', '', '']));
  t.equal(resp.kind, 'response', 'responses carry the method of their request');
});

t.test('each mandatory header is required, and named in the error', async (t) => {
  for (const [line, name] of [['Via: ', 'Via'], ['To: ', 'To'], ['From: ', 'From'], ['Call-ID: ', 'Call-ID'], ['CSeq: ', 'CSeq']] as const) {
    const text = OPTIONS.split('\r\n').filter((l) => !l.startsWith(line)).join('\r\n');
    const r = err(text);
    t.equal(r.error.code, 'MISSING_HEADER', name);
    t.equal(r.error.header, name);
    t.equal(r.error.message, `Missing ${name} Header`);
  }
});

t.test('errors carry what a proxy needs to answer 400 (partial)', async (t) => {
  const r = err(OPTIONS.replace('CSeq: 63104 OPTIONS', 'CSeq: x OPTIONS'));
  t.equal(r.partial?.isRequest, true);
  t.equal(r.partial?.method, 'OPTIONS');
  t.equal(r.partial?.complete, true);
  t.equal(r.partial?.canReply, true);
  t.type(r.partial?.request, Request);
  t.equal(r.partial?.request?.get('Call-ID'), 'a84b4c76e66710');
  t.equal(r.partial?.request?.topVia?.params.get('branch'), 'z9hG4bKhjhs8ass877');

  const early = err(OPTIONS.replace('Max-Forwards: 70', 'Max-Forwards 70'));
  t.equal(early.error.code, 'BAD_HEADER');
  t.equal(early.partial?.complete, false, 'headers after the bad line were not read');
  t.equal(early.partial?.headers?.length, 1, 'only the Via before it');
  t.equal(early.partial?.canReply, false, 'From/To/Call-ID/CSeq come after the bad line');

  const ack = err(OPTIONS.replace(/OPTIONS/g, 'ACK').replace('Call-ID: a84b4c76e66710\r\n', ''));
  t.equal(ack.partial?.canReply, false, 'never answer an ACK');

  const resp = err(crlf(['SIP/2.0 200 OK', 'To: <sip:a@b>', '', '']));
  t.equal(resp.partial?.isRequest, false);
  t.equal(resp.partial?.status, 200);
  t.equal(resp.partial?.request, undefined);

  t.equal(err('garbage\r\n\r\n').partial, undefined, 'no partial when the start line is unreadable');
});

t.test('a SIP-Version other than 2.0 is BAD_VERSION and still readable for a 505', async (t) => {
  const r = err(OPTIONS.replace('SIP/2.0\r\n', 'SIP/3.0\r\n'));
  t.equal(r.error.code, 'BAD_VERSION');
  t.equal(r.partial?.canReply, true);
  t.equal(err(OPTIONS.replace('SIP/2.0\r\n', 'HTTP/1.1\r\n')).error.code, 'BAD_START_LINE');
  t.equal(ok(OPTIONS.replace('SIP/2.0\r\n', 'Sip/2.0\r\n')).kind, 'request', 'the version is case-insensitive');
});

t.test('start lines', async (t) => {
  const resp = ok(crlf(['SIP/2.0 486 Busy Here, Really', 'Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'To: <sip:a@b>;tag=1', 'From: <sip:a@b>;tag=2', 'Call-ID: x', 'CSeq: 1 INVITE', '', '']));
  t.equal(resp.kind === 'response' && resp.status, 486);
  t.equal(resp.kind === 'response' && resp.reason, 'Busy Here, Really');
  const noReason = ok(crlf(['SIP/2.0 200', 'Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'To: <sip:a@b>;tag=1', 'From: <sip:a@b>;tag=2', 'Call-ID: x', 'CSeq: 1 INVITE', '', '']));
  t.equal(noReason.kind === 'response' && noReason.reason, '');
  for (const line of ['SIP/2.0 2000 OK', 'SIP/2.0 abc OK', 'SIP/2.0 099 Low', 'SIP/2.0 700 High', 'SIP/2.0  200 OK', 'INVITE sip:a@b', 'INV@TE sip:a@b SIP/2.0', ' INVITE sip:a@b SIP/2.0', 'INVITE sip:a@b SIP/2.0 extra']) {
    t.equal(err(OPTIONS.replace(/^[^\r]*/, line)).error.code, 'BAD_START_LINE', line);
  }
});

t.test('limits: message size, header count, line length', async (t) => {
  t.equal(err(OPTIONS, { maxMessageBytes: 100 }).error.code, 'TOO_LARGE');
  t.equal(err(OPTIONS, { maxHeaders: 5 }).error.code, 'TOO_MANY_HEADERS');
  t.equal(ok(OPTIONS.replace('Accept:', 'X-A: 1\r\nAccept:')).headers.length, 9);
  t.equal(err(OPTIONS, { maxLineLength: 40 }).error.code, 'LINE_TOO_LONG');
  t.equal(err('x'.repeat(70000)).error.code, 'TOO_LARGE');
  t.equal(err('x'.repeat(70000), { maxMessageBytes: 1 << 20, maxLineLength: 100 }).error.code, 'TRUNCATED', 'no header end found');
  const folded = OPTIONS.replace('Accept: application/sdp', 'Accept: a' + '\r\n b'.repeat(30));
  t.equal(err(folded, { maxLineLength: 50 }).error.code, 'LINE_TOO_LONG', 'unfolded length is bounded too');
  // Complete limits are used as given (a stream parser passes its merged ones with every message);
  // partial ones still get the defaults for what they leave out.
  const complete = { maxMessageBytes: 1 << 20, maxHeaders: 5, maxLineLength: 8192 };
  t.equal(err(OPTIONS, complete).error.code, 'TOO_MANY_HEADERS', 'every field of complete limits counts');
  t.equal(err(OPTIONS, { ...complete, maxHeaders: 128, maxLineLength: 40 }).error.code, 'LINE_TOO_LONG');
  t.equal(err('x'.repeat(70000), { maxHeaders: 5 }).error.code, 'TOO_LARGE', 'a partial limit keeps the default size');
  t.strictSame(complete, { maxMessageBytes: 1 << 20, maxHeaders: 5, maxLineLength: 8192 }, 'the caller\'s limits are not changed');
});

t.test('NUL bytes in the header section are refused; in the body they are fine', async (t) => {
  t.equal(err(OPTIONS.replace('Accept: application/sdp', 'Accept: app\0lication/sdp')).error.code, 'NUL_BYTE');
  const withBody = Buffer.concat([Buffer.from(OPTIONS.replace('Content-Length: 0', 'Content-Length: 3')), Buffer.from([0, 1, 0])]);
  t.strictSame([...ok(withBody).body], [0, 1, 0]);
});

t.test('a datagram of only CR/LF is EMPTY (a keepalive), not a message', async (t) => {
  t.equal(err('\r\n\r\n').error.code, 'EMPTY');
  t.equal(err('\r\n').error.code, 'EMPTY');
  t.equal(err(Buffer.alloc(0)).error.code, 'EMPTY');
});

t.test('header lines: folding, whitespace, empty values, names as written', async (t) => {
  const m = ok(OPTIONS.replace('Accept: application/sdp', 'Subject : first\r\n\t second \r\n   third\r\nX-Empty:\r\nX-Tabs:\t\tv\t'));
  t.equal(m.get('subject'), 'first second third');
  t.equal(m.get('x-empty'), '');
  t.equal(m.get('x-tabs'), 'v');
  t.equal(m.headers.find((h) => h.value === 'first second third')?.name, 'Subject');
  t.equal(err(OPTIONS.replace('Accept:', 'Acc ept:')).error.code, 'BAD_HEADER');
  t.equal(err(OPTIONS.replace('Accept:', 'Accépt:')).error.code, 'BAD_HEADER');
  t.equal(err(OPTIONS.replace('Accept:', ': no name')).error.code, 'BAD_HEADER');
});

t.test('bare LF line ends are accepted', async (t) => {
  const m = ok(OPTIONS.replace(/\r\n/g, '\n'));
  t.equal(m.get('call-id'), 'a84b4c76e66710');
  const mixed = ok(OPTIONS.replace('Accept: application/sdp\r\n', 'Accept: application/sdp\n'));
  t.equal(mixed.get('accept'), 'application/sdp');
});

t.test('findHeaderEnd finds the empty line however lines end', async (t) => {
  t.strictSame(findHeaderEnd(Buffer.from('A\r\nB\r\n\r\nbody'), 0), { lastLf: 5, bodyStart: 8 });
  t.strictSame(findHeaderEnd(Buffer.from('A\nB\n\nbody'), 0), { lastLf: 3, bodyStart: 5 });
  t.strictSame(findHeaderEnd(Buffer.from('A\nB\n\r\nbody'), 0), { lastLf: 3, bodyStart: 6 });
  t.equal(findHeaderEnd(Buffer.from('A\r\nB\r\n'), 0), undefined);
  t.equal(findHeaderEnd(Buffer.from('A\r\nB\r\n\r\n'), 0, 6), undefined, 'respects the end bound');
});

t.test('Content-Length: duplicates must agree, values must be digits', async (t) => {
  t.equal(ok(OPTIONS.replace('Content-Length: 0', 'Content-Length: 0\r\nl: 0')).body.length, 0);
  t.equal(err(OPTIONS.replace('Content-Length: 0', 'Content-Length: 0\r\nl: 1')).error.code, 'BAD_CONTENT_LENGTH');
  for (const v of ['-1', '+1', '1.0', '0x10', '', '99999999999']) {
    t.equal(err(OPTIONS.replace('Content-Length: 0', `Content-Length: ${v}`)).error.code, 'BAD_CONTENT_LENGTH', v);
  }
});

t.test('duplicated single-valued headers are refused', async (t) => {
  for (const line of ['To: <sip:x@y>', 'f: <sip:x@y>;tag=9', 'i: other', 'CSeq: 1 OPTIONS', 'Max-Forwards: 1', 'Content-Type: text/plain\r\nc: text/html']) {
    t.equal(err(OPTIONS.replace('Accept:', `${line}\r\nAccept:`)).error.code, 'DUPLICATE_HEADER', line);
  }
});

t.test('a non-UTF-8 header section is read byte for byte and written back unchanged', async (t) => {
  // 0xE9 alone is Latin-1 'é' and not valid UTF-8.
  const raw = Buffer.from(OPTIONS.replace('Accept: application/sdp', 'X-L1: caf\u00e9'), 'latin1');
  t.ok(raw.includes(0xe9));
  const m = ok(raw);
  t.equal(m.get('x-l1'), 'caf\u00e9');
  t.ok(m.toBuffer().equals(raw), 'same bytes out');
  t.ok(m.clone().toBuffer().equals(raw), 'a clone too');
});

t.test('UTF-8 header values are decoded as UTF-8', async (t) => {
  const m = ok(OPTIONS.replace('Accept: application/sdp', 'Subject: Grüße ☕'));
  t.equal(m.get('subject'), 'Grüße ☕');
  t.ok(m.toBuffer().equals(Buffer.from(OPTIONS.replace('Accept: application/sdp', 'Subject: Grüße ☕'))));
});

t.test('validateMessage forces the lazily parsed headers', async (t) => {
  const m = ok(OPTIONS.replace('Max-Forwards: 70', 'Max-Forwards: x'));
  const e = validateMessage(m);
  t.type(e, SipParseError);
  t.equal(e?.code, 'BAD_MAX_FORWARDS');
  t.equal(validateMessage(ok(OPTIONS)), undefined);
  const strict = parseMessage(OPTIONS.replace('sip:carol@chicago.example.com SIP', 'sip:carol@[bad SIP'), undefined, { validate: true });
  t.equal(strict.ok, false);
  if (!strict.ok) {
    t.equal(strict.error.code, 'BAD_URI');
    t.equal(strict.error.header, 'Request-URI');
    t.equal(strict.partial?.canReply, true);
  }
});

t.test('never throws, whatever it is given', async (t) => {
  const inputs: unknown[] = [undefined, null, 42, {}, [], Buffer.from([0xff, 0xfe]), '\u0000', 'INVITE', '\r\n\r\n\r\n', 'SIP/2.0 \r\n\r\n'];
  for (const input of inputs) {
    const r = parseMessage(input as Buffer);
    t.equal(r.ok, false);
    if (!r.ok) t.type(r.error, SipParseError);
  }
});

t.test('WebSocket frames: ArrayBuffer (copied) and Uint8Array views are accepted', async (t) => {
  const bytes = Buffer.from(OPTIONS.replace('Content-Length: 0', 'Content-Length: 2') + 'hi');
  const ab = new ArrayBuffer(bytes.length);
  new Uint8Array(ab).set(bytes);
  const fromAb = ok(ab);
  new Uint8Array(ab).fill(0);
  t.equal(fromAb.body.toString(), 'hi', 'body does not share the ArrayBuffer');
  const padded = new Uint8Array(bytes.length + 4);
  padded.set(bytes, 2);
  t.equal(ok(padded.subarray(2, 2 + bytes.length)).body.toString(), 'hi');
});

t.test('RFC 3261 §7.3: a CR is only allowed before the LF; one inside a header line is refused', async (t) => {
  const bad = 'OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nSubject: one\rtwo\r\nContent-Length: 0\r\n\r\n';
  const r = parseMessage(Buffer.from(bad));
  t.equal(r.ok, false);
  if (!r.ok) {
    t.equal(r.error.code, 'BAD_HEADER');
    t.ok(r.partial?.canReply, 'still answerable with 400');
  }
  const folded = 'OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nSubject: one\r\n two\rthree\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n';
  t.equal(parseMessage(Buffer.from(folded)).ok, false, 'in a continuation line too');
});

t.test('findHeaderEnd: a bare-LF end counts only before the first CRLF end', async (t) => {
  const two = Buffer.from('A: 1\r\n\r\nB: 2\n\n');
  t.same(findHeaderEnd(two, 0), { lastLf: 5, bodyStart: 8 }, 'the CRLF end of the first message');
  const lf = Buffer.from('A: 1\n\nB: 2\r\n\r\n');
  t.same(findHeaderEnd(lf, 0), { lastLf: 4, bodyStart: 6 }, 'the bare-LF end that comes first');
});
