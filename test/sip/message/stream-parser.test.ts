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

/**
 * What RFC 3261 says Content-Length is, read the obvious way (unfold, split into header lines,
 * match the name case-insensitively, every copy must agree): the framer's fast reading must agree.
 */
function referenceContentLength(head: string): number | 'missing' | 'bad' {
  const lines = head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/);
  let found: number | 'missing' = 'missing';
  for (const line of lines.slice(1)) {
    const m = /^(content-length|l)[ \t]*:(.*)$/is.exec(line);
    if (!m) continue;
    const value = m[2]!.replace(/\s+/g, ' ').trim();
    if (!/^\d+$/.test(value) || Number(value) > 0x7fffffff) return 'bad';
    const n = Number(value);
    if (found !== 'missing' && found !== n) return 'bad';
    found = n;
  }
  return found;
}

t.test('Content-Length is read as RFC 3261 defines it, whatever its spelling, folding or copies', async (t) => {
  let seed = 7;
  const next = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return (seed >>> 16) % n;
  };
  const spell = (name: string): string => [...name].map((c) => (next(2) ? c.toUpperCase() : c.toLowerCase())).join('');
  const names = ['Content-Length', 'Content-Length', 'l', 'l', 'Content-Type', 'Location', 'Content-Lengths', 'Content_Length', 'Contentlength', 'Call-ID', 'X-Content-Length'];
  const values = ['0', '3', '03', ' 3 ', '3 4', 'x', '', '2147483648', '\r\n 3', '3\r\n\t'];
  const mismatches: string[] = [];
  for (let i = 0; i < 2000; i++) {
    const lines = ['MESSAGE sip:bob@example.com SIP/2.0', 'Via: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bKcl' + i, 'Call-ID: cl' + i, 'CSeq: 1 MESSAGE'];
    for (let h = next(4); h >= 0; h--) {
      const name = spell(names[next(names.length)]!);
      lines.splice(1 + next(lines.length), 0, `${name}${[':', ' :', '\t:', ': '][next(4)]}${values[next(values.length)]}`);
    }
    const eol = next(8) === 0 ? '\n' : '\r\n';
    const head = lines.join(eol) + eol + eol;
    const expected = referenceContentLength(head);
    const { parser, errors } = collect();
    const framed: Buffer[] = [];
    parser.onFrame = (bytes) => (framed.push(bytes), true);
    parser.push(Buffer.from(head + 'abc' + request('after')));
    const got = framed.length > 0 ? framed[0]!.length - Buffer.byteLength(head) : errors[0]?.err.code === 'MISSING_HEADER' ? 'missing' : errors[0]?.err.code === 'BAD_CONTENT_LENGTH' ? 'bad' : `? ${errors[0]?.err.code}`;
    const want = typeof expected === 'number' ? Math.min(expected, 3 + Buffer.byteLength(request('after'))) : expected;
    // A length past what was pushed leaves the message waiting: nothing framed, no error.
    const waiting = typeof expected === 'number' && expected > 3 + Buffer.byteLength(request('after'));
    if (waiting ? framed.length !== 0 || errors.length !== 0 : got !== want) mismatches.push(`${JSON.stringify(head)}: framer ${got}, reference ${expected}`);
  }
  t.strictSame(mismatches.slice(0, 5), [], 'the framer and the reference agree on 2,000 header sections');
});

t.test('a header section ending in bare LFs before a CRLF one further on is framed at the first', async (t) => {
  const { parser, messages, errors } = collect();
  const lf = request('lf', 'ab').replace(/\r\n/g, '\n');
  parser.push(Buffer.from(lf + request('crlf', 'cd')));
  t.equal(errors.length, 0);
  t.strictSame(messages.map((m) => [m.callId, m.body.toString()]), [['lf', 'ab'], ['crlf', 'cd']]);
});
