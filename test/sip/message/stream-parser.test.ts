import t from 'tap';
import { StreamParser } from '../../../sip/message/stream-parser.js';
import type { SipMessage } from '../../../sip/message/model.js';
import type { SipParseError } from '../../../sip/message/errors.js';

const crlf = (lines: string[]): string => lines.join('\r\n');

function request(callId: string, body = ''): string {
  return crlf([
    'MESSAGE sip:bob@example.com SIP/2.0',
    'Via: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK' + callId,
    'Max-Forwards: 70',
    'To: <sip:bob@example.com>',
    'From: <sip:alice@example.com>;tag=a',
    `Call-ID: ${callId}`,
    'CSeq: 1 MESSAGE',
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ]);
}

function collect(limits?: ConstructorParameters<typeof StreamParser>[0]) {
  const messages: SipMessage[] = [];
  const errors: { err: SipParseError; fatal: boolean; canReply?: boolean }[] = [];
  const keepalives: string[] = [];
  const parser = new StreamParser({
    ...limits,
    onMessage: (m) => messages.push(m),
    onError: (err, fatal, partial) => errors.push({ err, fatal, canReply: partial?.canReply }),
    onKeepalive: (kind) => keepalives.push(kind),
  });
  return { parser, messages, errors, keepalives };
}

t.test('frames back-to-back messages in one chunk', async (t) => {
  const { parser, messages, errors } = collect();
  parser.push(Buffer.from(request('one', 'hello') + request('two') + request('three', 'héllo wörld')));
  t.strictSame(messages.map((m) => m.callId), ['one', 'two', 'three']);
  t.equal(messages[0]!.body.toString(), 'hello');
  t.equal(messages[2]!.body.toString(), 'héllo wörld');
  t.equal(errors.length, 0);
  t.equal(parser.buffered, 0);
});

t.test('reassembles a message split at every possible byte', async (t) => {
  const text = Buffer.from(request('split', 'body with\r\n\r\nblank lines'));
  for (let cut = 1; cut < text.length; cut++) {
    const { parser, messages } = collect();
    parser.push(text.subarray(0, cut));
    parser.push(text.subarray(cut));
    if (messages.length !== 1 || messages[0]!.body.toString() !== 'body with\r\n\r\nblank lines') {
      t.fail(`cut at ${cut}`);
      return;
    }
  }
  t.pass('every split point works');
});

t.test('one byte at a time', async (t) => {
  const { parser, messages } = collect();
  const data = Buffer.from(request('a', 'xyz') + '\r\n\r\n' + request('b'));
  for (let i = 0; i < data.length; i++) parser.push(data.subarray(i, i + 1));
  t.strictSame(messages.map((m) => m.callId), ['a', 'b']);
});

t.test('RFC 5626 §4.4.1: CRLFCRLF is a ping, a lone CRLF a pong', async (t) => {
  const { parser, messages, keepalives } = collect();
  parser.push(Buffer.from('\r\n\r\n'));
  t.strictSame(keepalives, ['ping']);
  parser.push(Buffer.from('\r\n'));
  t.strictSame(keepalives, ['ping', 'pong']);
  parser.push(Buffer.from('\r\n\r\n' + request('after')));
  t.strictSame(keepalives, ['ping', 'pong', 'ping']);
  t.equal(messages.length, 1);
  parser.push(Buffer.from('\r\n\r'));
  t.strictSame(keepalives, ['ping', 'pong', 'ping'], 'waits for the last byte of a ping');
  parser.push(Buffer.from('\n'));
  t.strictSame(keepalives, ['ping', 'pong', 'ping', 'ping']);
});

t.test('RFC 3261 §18.3: Content-Length is mandatory on streams; without it the stream is dead', async (t) => {
  const { parser, messages, errors } = collect();
  parser.push(Buffer.from(request('x').replace('Content-Length: 0\r\n', '') + request('y')));
  t.equal(messages.length, 0);
  t.equal(errors.length, 1);
  t.equal(errors[0]!.err.code, 'MISSING_HEADER');
  t.equal(errors[0]!.fatal, true);
  t.ok(parser.failed);
  parser.push(Buffer.from(request('z')));
  t.equal(messages.length, 0, 'ignores input after a fatal error');
  parser.reset();
  parser.push(Buffer.from(request('z')));
  t.equal(messages.length, 1, 'usable again after reset');
});

t.test('an unreadable Content-Length is fatal; the compact form is read', async (t) => {
  const bad = collect();
  bad.parser.push(Buffer.from(request('x').replace('Content-Length: 0', 'Content-Length: zero')));
  t.equal(bad.errors[0]?.err.code, 'BAD_CONTENT_LENGTH');
  t.equal(bad.errors[0]?.fatal, true);
  const compact = collect();
  compact.parser.push(Buffer.from(request('c', 'abc').replace('Content-Length: 3', 'l : 3')));
  t.equal(compact.messages[0]?.body.toString(), 'abc');
});

t.test('bounded buffering: a header section or message over maxMessageBytes is fatal', async (t) => {
  const endless = collect({ limits: { maxMessageBytes: 1000 } });
  for (let i = 0; i < 20 && !endless.parser.failed; i++) endless.parser.push(Buffer.from('X-Filler: ' + 'a'.repeat(90) + '\r\n'));
  t.equal(endless.errors[0]?.err.code, 'TOO_LARGE');
  t.equal(endless.parser.buffered, 0, 'buffer released');
  const big = collect({ limits: { maxMessageBytes: 1000 } });
  big.parser.push(Buffer.from(request('big').replace('Content-Length: 0', 'Content-Length: 5000')));
  t.equal(big.errors[0]?.err.code, 'TOO_LARGE');
  t.equal(big.errors[0]?.fatal, true);
});

t.test('a framed but invalid message is reported without killing the stream', async (t) => {
  const { parser, messages, errors } = collect();
  parser.push(Buffer.from(request('bad').replace('CSeq: 1 MESSAGE', 'CSeq: one MESSAGE') + request('good')));
  t.equal(errors.length, 1);
  t.equal(errors[0]!.err.code, 'BAD_CSEQ');
  t.equal(errors[0]!.fatal, false);
  t.equal(errors[0]!.canReply, true, 'partial data allows a 400');
  t.strictSame(messages.map((m) => m.callId), ['good']);
});

t.test('callbacks can be assigned after construction', async (t) => {
  const parser = new StreamParser();
  const seen: string[] = [];
  parser.push(Buffer.from(request('early')));
  parser.onMessage = (m) => seen.push(m.callId);
  parser.push(Buffer.from(request('late')));
  t.strictSame(seen, ['late']);
  t.equal(parser.limits.maxMessageBytes, 65535);
});

t.test('a folded Content-Length still frames the message', async (t) => {
  const { parser, messages, errors } = collect();
  parser.push(Buffer.from(request('folded', 'abcd').replace('Content-Length: 4', 'Content-Length:\r\n  4') + request('next')));
  t.equal(errors.length, 0);
  t.strictSame(messages.map((m) => m.body.toString()), ['abcd', '']);
});
