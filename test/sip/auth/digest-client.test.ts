import t from 'tap';
import { createHash } from 'node:crypto';
import { buildCredentials, parseChallenge, pickChallenge } from '../../../sip/auth/digest-client.js';
import { DigestAuthenticator } from '../../../sip/auth/digest-authenticator.js';

const SECRET = 'client-test-cluster-secret-0123456789';

t.test('parseChallenge reads realm, nonce, algorithm, qop list, stale, opaque', async (t) => {
  const c = parseChallenge('Digest realm="atlanta.com", domain="sip:ss1.carrier.com", qop="auth,auth-int", nonce="f84f1cec41e6cbe5aea9c8e88d359", opaque="", stale=FALSE, algorithm=MD5');
  t.same(c, {
    ok: true,
    value: { realm: 'atlanta.com', nonce: 'f84f1cec41e6cbe5aea9c8e88d359', algorithm: 'MD5', qop: ['auth', 'auth-int'], stale: false, opaque: '' },
  });
  t.same(parseChallenge('Digest realm="a", nonce="b", algorithm=SHA-512-256'), { ok: false, reason: 'algorithm' });
  t.same(parseChallenge('Digest realm="a"'), { ok: false, reason: 'malformed' });
  t.same(parseChallenge('Basic realm="a"'), { ok: false, reason: 'malformed' });
});

t.test('RFC 8760: the UAC uses the topmost challenge it supports', async (t) => {
  const values = [
    'Digest realm="r", nonce="1", algorithm=SHA-512-256, qop="auth"',
    'Digest realm="r", nonce="2", algorithm=SHA-256, qop="auth"',
    'Digest realm="r", nonce="3", algorithm=MD5, qop="auth"',
  ];
  t.equal(pickChallenge(values)?.nonce, '2');
  t.equal(pickChallenge(values, ['MD5'])?.nonce, '3');
  t.equal(pickChallenge(values, ['SHA-256'], 'other'), undefined);
});

t.test('RFC 2617 §3.5 example credentials are reproduced', async (t) => {
  const c = parseChallenge(
    'Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"',
  );
  if (!c.ok) throw new Error('challenge did not parse');
  const header = buildCredentials({
    challenge: c.value,
    username: 'Mufasa',
    password: 'Circle Of Life',
    method: 'GET',
    uri: '/dir/index.html',
    cnonce: '0a4f113b',
    nc: 1,
  });
  t.match(header, /response="6629fae49393a05397450978507c4ef1"/);
  t.match(header, /qop=auth, nc=00000001, cnonce="0a4f113b", opaque="5ccc069c403ebaf9f0171e9517f40e41"$/);
});

t.test('round trip: our client against our authenticator, with password or stored HA1', async (t) => {
  const server = new DigestAuthenticator({ realm: 'r.example', secrets: [SECRET] });
  const challenge = pickChallenge(server.challenge());
  if (challenge === undefined) throw new Error('no challenge');
  t.equal(challenge.algorithm, 'SHA-256');
  const lookup = async () => createHash('sha256').update('bob:r.example:pw').digest('hex');
  const common = { challenge, username: 'bob', method: 'INVITE', uri: 'sip:carol@r.example', cnonce: 'abc' };
  const first = buildCredentials({ ...common, password: 'pw', nc: 1 });
  const second = buildCredentials({ ...common, ha1: await lookup(), nc: 2 });
  const req = (h: string) => ({ method: 'INVITE', requestUri: 'sip:carol@r.example', headerValues: [h] });
  t.equal((await server.verify(req(first), lookup)).ok, true);
  t.equal((await server.verify(req(second), lookup)).ok, true);
  t.throws(() => buildCredentials({ ...common, challenge: { ...challenge, qop: ['auth-int'] }, password: 'pw', nc: 3 }), TypeError);
});
