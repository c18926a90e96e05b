import t from 'tap';
import { createHash } from 'node:crypto';
import {
  computeHa1,
  computeResponse,
  digestHexLength,
  hexDigestEquals,
  parseDigestAlgorithm,
} from '../../../sip/auth/digest-hash.js';

const md5 = (s: string) => createHash('md5').update(s).digest('hex');
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

t.test('RFC 2617 §3.5 example: Mufasa / "Circle Of Life", qop=auth', async (t) => {
  const ha1 = computeHa1('Mufasa', 'testrealm@host.com', 'Circle Of Life', 'MD5');
  t.equal(ha1, md5('Mufasa:testrealm@host.com:Circle Of Life'));
  const response = computeResponse({
    algorithm: 'MD5',
    ha1,
    nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
    method: 'GET',
    uri: '/dir/index.html',
    qop: 'auth',
    nc: '00000001',
    cnonce: '0a4f113b',
  });
  // The value printed in RFC 2617 §3.5.
  t.equal(response, '6629fae49393a05397450978507c4ef1');
});

t.test('RFC 7616 §3.9.1 (used by RFC 8760 for SIP): SHA-256 and MD5 with qop=auth', async (t) => {
  const common = {
    nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
    method: 'GET',
    uri: '/dir/index.html',
    qop: 'auth' as const,
    nc: '00000001',
    cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
  };
  const realm = 'http-auth@example.org';
  const password = 'Circle of Life';

  // Computed independently, straight from the formula, with node:crypto.
  const ha1 = sha256(`Mufasa:${realm}:${password}`);
  const ha2 = sha256(`${common.method}:${common.uri}`);
  const independent = sha256(`${ha1}:${common.nonce}:${common.nc}:${common.cnonce}:auth:${ha2}`);

  const ours = computeResponse({ algorithm: 'SHA-256', ha1: computeHa1('Mufasa', realm, password, 'SHA-256'), ...common });
  t.equal(ours, independent);
  // And the values printed in RFC 7616 §3.9.1.
  t.equal(ours, '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1');
  t.equal(
    computeResponse({ algorithm: 'MD5', ha1: computeHa1('Mufasa', realm, password, 'MD5'), ...common }),
    '8ca523f5e9506fed4657c9700eebdbec',
  );
});

t.test('RFC 2069 form (no qop): response = H(HA1:nonce:HA2)', async (t) => {
  const ha1 = computeHa1('bob', 'biloxi.com', 'zanzibar', 'SHA-256');
  const expect = sha256(`${ha1}:abc:${sha256('REGISTER:sip:biloxi.com')}`);
  t.equal(computeResponse({ algorithm: 'SHA-256', ha1, nonce: 'abc', method: 'REGISTER', uri: 'sip:biloxi.com' }), expect);
});

t.test('an upper-case HA1 from the store is folded, the response stays lower-case hex', async (t) => {
  const ha1 = computeHa1('bob', 'biloxi.com', 'zanzibar', 'MD5');
  const input = { algorithm: 'MD5' as const, nonce: 'n', method: 'INVITE', uri: 'sip:a@b', qop: 'auth' as const, nc: '00000001', cnonce: 'c' };
  t.equal(computeResponse({ ...input, ha1: ha1.toUpperCase() }), computeResponse({ ...input, ha1 }));
  t.match(computeResponse({ ...input, ha1 }), /^[0-9a-f]{32}$/);
});

t.test('HA1 is computed over UTF-8 (SIP text is UTF-8)', async (t) => {
  t.equal(computeHa1('jürgen', 'r', 'pä', 'MD5'), createHash('md5').update(Buffer.from('jürgen:r:pä', 'utf8')).digest('hex'));
});

t.test('algorithm names: absent means MD5, case-insensitive, others refused', async (t) => {
  t.equal(parseDigestAlgorithm(undefined), 'MD5');
  t.equal(parseDigestAlgorithm('md5'), 'MD5');
  t.equal(parseDigestAlgorithm('sha-256'), 'SHA-256');
  t.equal(parseDigestAlgorithm('MD5-sess'), undefined);
  t.equal(parseDigestAlgorithm('SHA-512-256'), undefined);
  t.equal(digestHexLength('SHA-256'), 64);
  t.equal(digestHexLength('MD5'), 32);
});

t.test('hexDigestEquals: equal ignoring case, unequal on any difference or length', async (t) => {
  t.ok(hexDigestEquals('abcdef', 'ABCDEF'));
  t.notOk(hexDigestEquals('abcdef', 'abcdee'));
  t.notOk(hexDigestEquals('abcdef', 'abcde'));
});
