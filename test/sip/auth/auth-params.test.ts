import t from 'tap';
import fc from 'fast-check';
import {
  authScheme,
  formatAuthParams,
  isDigest,
  MAX_AUTH_HEADER_LENGTH,
  parseAuthParams,
  quoteString,
  type AuthParamsResult,
} from '../../../sip/auth/auth-params.js';

function ok(r: AuthParamsResult) {
  if (!r.ok) throw new Error(`expected a parse, got ${r.error.code} at ${r.error.offset}`);
  return r.value;
}

t.test('RFC 3261 §25.1 digest-response: tokens, quoted strings and case-insensitive names', async (t) => {
  const v = ok(
    parseAuthParams(
      'Digest username="bob", REALM="biloxi.com", Nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",' +
        ' uri="sip:bob@biloxi.com", qop=auth, nc=00000001, cnonce="0a4f113b",' +
        ' response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41"',
    ),
  );
  t.equal(v.scheme, 'Digest');
  t.ok(isDigest(v));
  t.equal(v.params.get('realm'), 'biloxi.com');
  t.equal(v.params.get('nonce'), 'dcd98b7102dd2f0e8b11d0f600bfb0c093');
  t.equal(v.params.get('qop'), 'auth');
  t.equal(v.params.get('nc'), '00000001');
  t.ok(v.quoted.has('uri'));
  t.notOk(v.quoted.has('qop'));
  t.equal(v.params.size, 9);
});

t.test('the scheme is a case-insensitive token', async (t) => {
  t.ok(isDigest(ok(parseAuthParams('dIgEsT realm="a"'))));
  t.notOk(isDigest(ok(parseAuthParams('Basic realm="a"'))));
});

t.test('quoted-pair escapes are removed: "\\"" and "\\\\"', async (t) => {
  const v = ok(parseAuthParams('Digest username="a\\"b\\\\c", realm="x,y = z"'));
  t.equal(v.params.get('username'), 'a"b\\c');
  t.equal(v.params.get('realm'), 'x,y = z', 'commas and equals inside quotes are data');
});

t.test('LWS around separators, folded lines and empty list elements are tolerated', async (t) => {
  const v = ok(parseAuthParams('  Digest\r\n  realm = "a" ,, \tnonce\t=\t"b"\r\n , algorithm=MD5 ,'));
  t.same([...v.params.entries()], [
    ['realm', 'a'],
    ['nonce', 'b'],
    ['algorithm', 'MD5'],
  ]);
});

t.test('a scheme with no parameters parses', async (t) => {
  const v = ok(parseAuthParams('Digest'));
  t.equal(v.params.size, 0);
});

t.test('typed errors, never exceptions', async (t) => {
  const cases: [string, string][] = [
    ['', 'empty'],
    ['   ', 'empty'],
    ['"Digest" realm="a"', 'expected-scheme'],
    ['Digest, realm="a"', 'expected-scheme'],
    ['Digest realm', 'expected-equals'],
    ['Digest realm=', 'expected-value'],
    ['Digest realm="abc', 'unterminated-quoted-string'],
    ['Digest realm="abc\\', 'unterminated-quoted-string'],
    ['Digest realm="a" nonce="b"', 'expected-comma'],
    ['Digest =x', 'expected-param-name'],
    ['Digest realm="a", Realm="b"', 'duplicate-param'],
    ['Digest realm="a\u0000b"', 'invalid-character'],
    ['Digest realm=a\u0001b', 'invalid-character'],
  ];
  for (const [input, code] of cases) {
    const r = parseAuthParams(input);
    t.equal(r.ok, false, JSON.stringify(input));
    if (!r.ok) t.equal(r.error.code, code, JSON.stringify(input));
  }
  const long = parseAuthParams('Digest realm="' + 'a'.repeat(MAX_AUTH_HEADER_LENGTH) + '"');
  t.equal(long.ok ? 'parsed' : long.error.code, 'too-long');
  const many = parseAuthParams('Digest ' + Array.from({ length: 40 }, (_, i) => `p${i}=1`).join(','));
  t.equal(many.ok ? 'parsed' : many.error.code, 'too-many-params');
  t.equal(parseAuthParams(undefined as unknown as string).ok, false, 'not even a string');
});

t.test('authScheme reads the scheme of a value whose parameters do not parse', async (t) => {
  t.equal(authScheme('Bearer mF_9.B5f-4.1JqM'), 'Bearer');
  t.equal(authScheme('  digest realm='), 'digest');
  t.equal(authScheme('"x"'), undefined);
});

t.test('formatting quotes and escapes, and refuses header injection', async (t) => {
  t.equal(
    formatAuthParams('Digest', [
      ['realm', 'a"b\\c', 'quoted'],
      ['algorithm', 'SHA-256', 'token'],
    ]),
    'Digest realm="a\\"b\\\\c", algorithm=SHA-256',
  );
  t.throws(() => quoteString('a\r\nVia: evil'), TypeError);
  t.throws(() => formatAuthParams('Digest', [['stale', 'tr ue', 'token']]), TypeError);
  t.throws(() => formatAuthParams('Digest', [['bad name', 'x', 'quoted']]), TypeError);
});

t.test('property: any string parses to a value or a typed error, never throws', async (t) => {
  const alphabet = fc.constantFrom(...'Digest realm=",\\ \t\r\n\u0000aZ9-_.!%*+`\'~;:@<>/?é'.split(''));
  const nasty = fc.oneof(
    fc.string({ maxLength: 300 }),
    fc.fullUnicodeString({ maxLength: 100 }),
    fc.stringOf(alphabet, { maxLength: 200 }),
    fc.stringOf(alphabet, { maxLength: 60 }).map((s) => 'Digest ' + s),
  );
  let errors = 0;
  fc.assert(
    fc.property(nasty, (s) => {
      const r = parseAuthParams(s);
      if (!r.ok) {
        errors++;
        return typeof r.error.code === 'string' && r.error.offset >= 0 && r.error.offset <= s.length;
      }
      return typeof r.value.scheme === 'string' && r.value.params.size <= 32;
    }),
    { numRuns: 2000 },
  );
  t.ok(errors > 0, 'the generator does reach the error paths');
});

t.test('property: format then parse gives back the same names and values', async (t) => {
  const name = fc.stringOf(fc.constantFrom(...'abcxyz-_.0'.split('')), { minLength: 1, maxLength: 8 });
  const value = fc.oneof(fc.string({ maxLength: 30 }), fc.fullUnicodeString({ maxLength: 20 })).filter((s) => !/[\r\n\0]/.test(s));
  fc.assert(
    fc.property(fc.uniqueArray(fc.tuple(name, value), { maxLength: 10, selector: ([n]) => n }), (pairs) => {
      const text = formatAuthParams(
        'Digest',
        pairs.map(([n, v]) => [n, v, 'quoted'] as [string, string, 'quoted']),
      );
      const back = parseAuthParams(text);
      if (!back.ok) return false;
      return pairs.every(([n, v]) => back.value.params.get(n) === v) && back.value.params.size === pairs.length;
    }),
    { numRuns: 500 },
  );
  t.pass('round trip held');
});
