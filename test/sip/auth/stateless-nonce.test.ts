import t from 'tap';
import { StatelessNonce } from '../../../sip/auth/stateless-nonce.js';

const SECRET_A = 'cluster-secret-A-0123456789abcdef';
const SECRET_B = 'cluster-secret-B-0123456789abcdef';

function clock(start = 1_700_000_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

function codec(secrets: string[], c = clock(), lifetimeMs = 300_000) {
  return new StatelessNonce({ secrets, lifetimeMs, maxClockSkewMs: 30_000, now: c.now });
}

t.test('a nonce issued by one node is valid on another node sharing the secret', async (t) => {
  const c = clock();
  const a = codec([SECRET_A], c);
  const b = codec([SECRET_A], c);
  const nonce = a.issue('example.com');
  t.match(nonce, /^[A-Za-z0-9_-]{75}$/, 'base64url, fixed length');
  const check = b.check(nonce, 'example.com');
  t.equal(check.status, 'valid');
  if (check.status === 'valid') {
    t.equal(check.issuedAt, c.now());
    t.equal(check.expiresAt, c.now() + 300_000);
  }
  t.not(a.issue('example.com'), nonce, 'random part makes each nonce unique');
});

t.test('only the issuing node accepts its nonce; other nodes of the cluster see it is genuine but foreign', async (t) => {
  const c = clock();
  const a = new StatelessNonce({ secrets: [SECRET_A], lifetimeMs: 300_000, maxClockSkewMs: 30_000, now: c.now, issuer: '10.0.0.1:5060' });
  const b = new StatelessNonce({ secrets: [SECRET_A], lifetimeMs: 300_000, maxClockSkewMs: 30_000, now: c.now, issuer: '10.0.0.2:5060' });
  const nonce = a.issue('example.com');
  t.match(nonce, /^[A-Za-z0-9_-]{75}$/, 'same length with the issuer in it');
  t.equal(a.check(nonce, 'example.com').status, 'valid', 'the issuer accepts it');
  t.equal(b.check(nonce, 'example.com').status, 'foreign', 'another node: genuine, not its own');
  t.equal(codec([SECRET_A], c).check(nonce, 'example.com').status, 'foreign', 'a node without an id is another node too');
  t.equal(codec([SECRET_B], c).check(nonce, 'example.com').status, 'forged', 'a node with another secret cannot tell it from a forgery');
  // The issuer bytes are signed: rewriting them to B's makes a forgery, not a nonce of B.
  const raw = Buffer.from(b.issue('example.com'), 'base64url');
  const forged = Buffer.from(nonce, 'base64url');
  raw.copy(forged, 20, 20, 24);
  t.equal(b.check(forged.toString('base64url'), 'example.com').status, 'forged', "A's nonce with B's issuer bytes: forged");
  c.advance(301_000);
  t.equal(a.check(nonce, 'example.com').status, 'stale', 'expired at its issuer: stale');
});

t.test('the nonce is bound to the realm and the optional binding', async (t) => {
  const n = codec([SECRET_A]);
  const nonce = n.issue('example.com', '192.0.2.1');
  t.equal(n.check(nonce, 'example.com', '192.0.2.1').status, 'valid');
  t.equal(n.check(nonce, 'example.com', '192.0.2.2').status, 'forged');
  t.equal(n.check(nonce, 'example.com').status, 'forged');
  t.equal(n.check(nonce, 'example.org', '192.0.2.1').status, 'forged');
  // Length-prefixing: moving a character between realm and binding changes the signature.
  const n2 = n.issue('ab', 'c');
  t.equal(n.check(n2, 'a', 'bc').status, 'forged');
});

t.test('forged nonces: another secret, flipped bits, wrong lengths, non-canonical spellings', async (t) => {
  const c = clock();
  const ours = codec([SECRET_A], c);
  const theirs = codec([SECRET_B], c);
  t.equal(ours.check(theirs.issue('r'), 'r').status, 'forged', 'signed with a secret we do not have');

  const nonce = ours.issue('r');
  const raw = Buffer.from(nonce, 'base64url');
  for (const index of [0, 7, 8, 23, 24, raw.length - 1]) {
    const bad = Buffer.from(raw);
    bad[index]! ^= 0x01;
    t.equal(ours.check(bad.toString('base64url'), 'r').status, 'forged', `bit flipped in byte ${index}`);
  }
  t.equal(ours.check(nonce.slice(0, -1), 'r').status, 'forged', 'truncated');
  t.equal(ours.check(nonce + 'A', 'r').status, 'forged', 'extended');
  t.equal(ours.check(nonce.replace(/.$/, '*'), 'r').status, 'forged', 'outside the alphabet');
  t.equal(ours.check('', 'r').status, 'forged');
  // The last base64url character carries 2 unused bits: another spelling decodes to the same
  // bytes but is not ours.
  const last = nonce[nonce.length - 1]!;
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const sibling = alphabet[alphabet.indexOf(last) ^ 1]!;
  const variant = nonce.slice(0, -1) + sibling;
  t.same(Buffer.from(variant, 'base64url'), raw, 'the variant decodes to the same bytes');
  t.equal(ours.check(variant, 'r').status, 'forged');
});

t.test('expiry: valid up to the lifetime, stale after it; far-future issue times are stale', async (t) => {
  const c = clock();
  const n = codec([SECRET_A], c, 300_000);
  const nonce = n.issue('r');
  c.advance(300_000);
  t.equal(n.check(nonce, 'r').status, 'valid', 'exactly at the lifetime');
  c.advance(1);
  t.equal(n.check(nonce, 'r').status, 'stale');

  const ahead = clock(c.now() + 60_000);
  const fromTheFuture = codec([SECRET_A], ahead).issue('r');
  t.equal(n.check(fromTheFuture, 'r').status, 'stale', '60 s ahead is beyond the 30 s skew');
  const slightlyAhead = codec([SECRET_A], clock(c.now() + 10_000)).issue('r');
  t.equal(n.check(slightlyAhead, 'r').status, 'valid', '10 s ahead is tolerated');
});

t.test('secret rotation: sign with the first secret, verify with any', async (t) => {
  const c = clock();
  const old = codec([SECRET_A], c);
  const rotating = codec([SECRET_B, SECRET_A], c);
  const retired = codec([SECRET_B], c);
  const oldNonce = old.issue('r');
  const newNonce = rotating.issue('r');
  t.equal(rotating.check(oldNonce, 'r').status, 'valid', 'old nonces still verify during rotation');
  t.equal(retired.check(newNonce, 'r').status, 'valid', 'new nonces are signed with the first secret');
  t.equal(old.check(newNonce, 'r').status, 'forged');
  t.equal(retired.check(oldNonce, 'r').status, 'forged', 'after the old secret is dropped');
});

t.test('configuration errors are TypeErrors at the boundary', async (t) => {
  t.throws(() => codec([]), TypeError);
  t.throws(() => codec(['short']), TypeError);
  t.throws(() => new StatelessNonce({ secrets: [SECRET_A], lifetimeMs: 0, maxClockSkewMs: 0, now: Date.now }), TypeError);
});
