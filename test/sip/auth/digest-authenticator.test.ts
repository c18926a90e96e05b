import t from 'tap';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { DigestAuthenticator, type DigestAuthenticatorOptions, type LookupHa1 } from '../../../sip/auth/digest-authenticator.js';
import type { DigestAlgorithm } from '../../../sip/auth/digest-hash.js';
import { failureReply } from '../../../sip/auth/verify-result.js';

const S1 = 'first-cluster-secret-0123456789abcdef';
const S2 = 'second-cluster-secret-0123456789abcdef';
const REALM = 'sipflow.example';
const RURI = 'sip:sipflow.example';
const PASSWORDS: Record<string, string> = { alice: 'wonderland', 'o"dd\\user': 'p' };

// The client side is computed here from the RFC formulas with node:crypto, not with our code.
const H = (alg: DigestAlgorithm, s: string) => createHash(alg === 'MD5' ? 'md5' : 'sha256').update(s, 'utf8').digest('hex');
const q = (s: string) => '"' + s.replace(/[\\"]/g, (m) => '\\' + m) + '"';

interface Answer {
  username?: string;
  password?: string;
  realm?: string;
  method?: string;
  uri?: string;
  nc?: number;
  cnonce?: string;
  qop?: string | null;
  algorithmParam?: string | null;
  response?: string;
}

/** Answer a challenge value like a UA would (qop=auth unless told otherwise). */
function answer(challenge: string, a: Answer = {}): string {
  const nonce = /nonce="([^"]+)"/.exec(challenge)![1]!;
  const algorithm = /algorithm=([A-Za-z0-9-]+)/.exec(challenge)![1] as DigestAlgorithm;
  const username = a.username ?? 'alice';
  const realm = a.realm ?? /realm="([^"]+)"/.exec(challenge)![1]!;
  const method = a.method ?? 'REGISTER';
  const uri = a.uri ?? RURI;
  const nc = (a.nc ?? 1).toString(16).padStart(8, '0');
  const cnonce = a.cnonce ?? 'c0ffee';
  const qop = a.qop === undefined ? 'auth' : a.qop;
  const ha1 = H(algorithm, `${username}:${realm}:${a.password ?? PASSWORDS[username] ?? ''}`);
  const ha2 = H(algorithm, `${method}:${uri}`);
  const response = a.response ?? (qop === null ? H(algorithm, `${ha1}:${nonce}:${ha2}`) : H(algorithm, `${ha1}:${nonce}:${nc}:${cnonce}:${qop}:${ha2}`));
  const parts = [`username=${q(username)}`, `realm=${q(realm)}`, `nonce=${q(nonce)}`, `uri=${q(uri)}`, `response=${q(response)}`];
  const algorithmParam = a.algorithmParam === undefined ? algorithm : a.algorithmParam;
  if (algorithmParam !== null) parts.push(`algorithm=${algorithmParam}`);
  if (qop !== null) parts.push(`qop=${qop}`, `nc=${nc}`, `cnonce=${q(cnonce)}`);
  return 'Digest ' + parts.join(', ');
}

function store() {
  let calls = 0;
  const lookup: LookupHa1 = async (username, realm, algorithm) => {
    calls++;
    const password = PASSWORDS[username];
    return password === undefined ? undefined : H(algorithm, `${username}:${realm}:${password}`);
  };
  return { lookup, calls: () => calls };
}

function cluster(opts: Partial<DigestAuthenticatorOptions> = {}) {
  let now = 1_700_000_000_000;
  const node = (more: Partial<DigestAuthenticatorOptions> = {}) =>
    new DigestAuthenticator({ realm: REALM, secrets: [S1], now: () => now, ...opts, ...more });
  return { node, advance: (s: number) => (now += s * 1000) };
}

const req = (headerValues: string[], more: { method?: string; requestUri?: string; realm?: string; binding?: string } = {}) => ({
  method: more.method ?? 'REGISTER',
  requestUri: more.requestUri ?? RURI,
  headerValues,
  ...(more.realm !== undefined ? { realm: more.realm } : {}),
  ...(more.binding !== undefined ? { binding: more.binding } : {}),
});

t.test('RFC 8760: one challenge per algorithm, most preferred (SHA-256) first, qop="auth"', async (t) => {
  const [sha, md5, ...rest] = cluster().node().challenge();
  t.equal(rest.length, 0);
  t.match(sha, /^Digest realm="sipflow\.example", nonce="[A-Za-z0-9_-]{75}", algorithm=SHA-256, qop="auth"$/);
  t.match(md5, /algorithm=MD5/);
  t.equal(/nonce="([^"]+)"/.exec(sha!)![1], /nonce="([^"]+)"/.exec(md5!)![1], 'both carry the same nonce');
  t.notMatch(sha, /stale/);
  t.match(cluster().node().challenge(REALM, { stale: true })[0], /, stale=true$/);
  t.same(
    cluster({ algorithms: ['MD5'] }).node().challenge('other.example').map((c) => /algorithm=(\S+),/.exec(c)![1]),
    ['MD5'],
  );
  t.throws(() => new DigestAuthenticator({ secrets: [S1] }).challenge(), TypeError, 'no realm anywhere');
  t.throws(() => new DigestAuthenticator({ secrets: [S1], algorithms: [] }), TypeError);
});

t.test('valid credentials are accepted for both algorithms', async (t) => {
  const node = cluster().node();
  const s = store();
  // Both challenges carry one nonce, so the second answer must count on: nc=2.
  let nc = 0;
  for (const challenge of node.challenge()) {
    const r = await node.verify(req([answer(challenge, { nc: ++nc })]), s.lookup);
    const algorithm = /algorithm=([A-Z0-9-]+)/.exec(challenge)![1];
    t.same(r, { ok: true, username: 'alice', realm: REALM, algorithm });
  }
});

t.test('quoted-string usernames with escapes are unescaped before hashing and lookup', async (t) => {
  const node = cluster().node();
  const r = await node.verify(req([answer(node.challenge()[0]!, { username: 'o"dd\\user' })]), store().lookup);
  t.same(r, { ok: true, username: 'o"dd\\user', realm: REALM, algorithm: 'SHA-256' });
});

t.test("another node's nonce with a correct digest → foreign-nonce (stale=true), and that node's own nonce works", async (t) => {
  const c = cluster();
  const a = c.node({ issuer: '10.0.0.1:5060' });
  const b = c.node({ issuer: '10.0.0.2:5060' });
  const s = store();
  t.same(await b.verify(req([answer(a.challenge()[0]!)]), s.lookup), { ok: false, reason: 'foreign-nonce' });
  t.same(failureReply('foreign-nonce', 'uas'), { kind: 'challenge', status: 401, stale: true }, 'the UA retries without a prompt');
  t.same(await b.verify(req([answer(a.challenge()[0]!, { password: 'guess' })]), s.lookup), { ok: false, reason: 'bad-response' }, 'never stale=true without a valid digest');
  t.equal((await b.verify(req([answer(b.challenge()[0]!)]), s.lookup)).ok, true, "b's own nonce");
  t.equal((await a.verify(req([answer(a.challenge()[0]!)]), s.lookup)).ok, true, "a's own nonce");
});

t.test('stale: correct digest, expired nonce → stale; wrong digest, expired nonce → bad-response', async (t) => {
  const c = cluster({ nonceLifetimeSeconds: 300 });
  const node = c.node();
  const challenge = node.challenge()[0]!;
  c.advance(301);
  t.same(await node.verify(req([answer(challenge)]), store().lookup), { ok: false, reason: 'stale' });
  t.same(await node.verify(req([answer(challenge, { password: 'guess' })]), store().lookup), {
    ok: false,
    reason: 'bad-response',
  }, 'RFC 2617 §3.2.1: stale only "with a valid digest for that nonce"');
});

t.test('forged nonce (bad HMAC) → bad-nonce, without asking the store', async (t) => {
  const c = cluster();
  const node = c.node();
  const challenge = node.challenge()[0]!;
  const nonce = /nonce="([^"]+)"/.exec(challenge)![1]!;
  const flipped = nonce.slice(0, 40) + (nonce[40] === 'A' ? 'B' : 'A') + nonce.slice(41);
  const s = store();
  t.same(await node.verify(req([answer(challenge.replace(nonce, flipped))]), s.lookup), { ok: false, reason: 'bad-nonce' });
  const foreign = new DigestAuthenticator({ realm: REALM, secrets: [S2] }).challenge()[0]!;
  t.same(await node.verify(req([answer(foreign)]), s.lookup), { ok: false, reason: 'bad-nonce' });
  t.same(await node.verify(req([answer(challenge.replace(nonce, 'dcd98b7102dd2f0e8b11d0f600bfb0c093'))]), s.lookup), {
    ok: false,
    reason: 'bad-nonce',
  });
  t.equal(s.calls(), 0);
});

t.test('RFC 2617 §3.2.2 nc replay: the same nc twice is refused, a higher one accepted', async (t) => {
  const node = cluster().node();
  const s = store();
  const challenge = node.challenge()[0]!;
  t.equal((await node.verify(req([answer(challenge, { nc: 1 })]), s.lookup)).ok, true);
  t.same(await node.verify(req([answer(challenge, { nc: 1 })]), s.lookup), { ok: false, reason: 'replay' });
  t.equal((await node.verify(req([answer(challenge, { nc: 2, cnonce: 'x' })]), s.lookup)).ok, true);
  t.same(await node.verify(req([answer(challenge, { nc: 1, cnonce: 'y' })]), s.lookup), { ok: false, reason: 'replay' });
});

t.test('concurrent verifications of one request: exactly one wins', async (t) => {
  const node = cluster().node();
  const header = answer(node.challenge()[0]!);
  const results = await Promise.all([1, 2, 3].map(() => node.verify(req([header]), store().lookup)));
  t.equal(results.filter((r) => r.ok).length, 1);
  t.equal(results.filter((r) => !r.ok && r.reason === 'replay').length, 2);
});

t.test('a replay to ANOTHER node of the cluster is refused: only the issuer accepts a nonce, and its table has seen it', async (t) => {
  const c = cluster();
  const a = c.node({ issuer: '10.0.0.1:5060' });
  const b = c.node({ issuer: '10.0.0.2:5060' });
  const header = answer(a.challenge()[0]!);
  t.equal((await a.verify(req([header]), store().lookup)).ok, true);
  t.same(await b.verify(req([header]), store().lookup), { ok: false, reason: 'foreign-nonce' }, 'replayed to b');
  t.same(await a.verify(req([header]), store().lookup), { ok: false, reason: 'replay' }, 'replayed to a');
});

t.test('one-time nonce mode: a nonce is accepted once per node, whatever the nc', async (t) => {
  const node = cluster({ oneTimeNonces: true }).node();
  const challenge = node.challenge()[0]!;
  t.equal((await node.verify(req([answer(challenge, { nc: 1 })]), store().lookup)).ok, true);
  t.same(await node.verify(req([answer(challenge, { nc: 2 })]), store().lookup), { ok: false, reason: 'replay' });
});

t.test('wrong password → bad-response; unknown user → unknown-user', async (t) => {
  const node = cluster().node();
  t.same(await node.verify(req([answer(node.challenge()[0]!, { password: 'nope' })]), store().lookup), {
    ok: false,
    reason: 'bad-response',
  });
  t.same(await node.verify(req([answer(node.challenge()[0]!, { username: 'mallory' })]), store().lookup), {
    ok: false,
    reason: 'unknown-user',
  });
});

t.test('wrong realm: credentials for another realm only → wrong-realm', async (t) => {
  const node = cluster().node();
  const other = cluster({ realm: 'other.example' }).node().challenge()[0]!;
  t.same(await node.verify(req([answer(other)]), store().lookup), { ok: false, reason: 'wrong-realm' });
  // Our own nonce, presented for another realm, must not verify in ours either.
  const ours = node.challenge()[0]!;
  t.same(await node.verify(req([answer(ours, { realm: 'other.example' })]), store().lookup), { ok: false, reason: 'wrong-realm' });
  const otherNode = cluster({ realm: 'other.example' }).node();
  t.same(
    await otherNode.verify(req([answer(ours.replace(REALM, 'other.example'))]), store().lookup),
    { ok: false, reason: 'bad-nonce' },
    'a nonce is signed for its realm',
  );
});

t.test('RFC 3261 §22.3: among several credentials headers, the one for our realm is used', async (t) => {
  const node = cluster().node();
  const other = cluster({ realm: 'downstream.example' }).node().challenge()[0]!;
  const ours = answer(node.challenge()[0]!);
  const r = await node.verify(req(['Bearer mF_9.B5f-4.1JqM', answer(other), ours]), store().lookup);
  t.equal(r.ok, true);
});

t.test('missing: no header, or only other schemes', async (t) => {
  const node = cluster().node();
  t.same(await node.verify(req([]), store().lookup), { ok: false, reason: 'missing' });
  t.same(await node.verify(req(['Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==', 'Bearer abc']), store().lookup), {
    ok: false,
    reason: 'missing',
  });
});

t.test('malformed credentials → malformed', async (t) => {
  const node = cluster().node();
  const challenge = node.challenge()[0]!;
  const good = answer(challenge);
  const cases: [string, string][] = [
    ['garbage', 'Digest username="alice", realm="sipflow.example'],
    ['no response', good.replace(/response="[0-9a-f]+", /, '')],
    ['no nonce', good.replace(/nonce="[^"]+", /, '')],
    ['nc not 8 hex', good.replace(/nc=[0-9a-f]{8}/, 'nc=1')],
    ['nc zero', good.replace(/nc=[0-9a-f]{8}/, 'nc=00000000')],
    ['no cnonce', good.replace(/, cnonce="[^"]*"/, '')],
    ['response wrong length', good.replace(/response="([0-9a-f]+)"/, 'response="$1a"')],
    ['response not hex', good.replace(/response="[0-9a-f]/, 'response="z')],
    ['qop missing (we offered qop=auth)', answer(challenge, { qop: null })],
    ['duplicate parameter', good + ', nonce="x"'],
  ];
  for (const [what, header] of cases) {
    t.same(await node.verify(req([header]), store().lookup), { ok: false, reason: 'malformed' }, what);
  }
});

t.test('algorithm: unsupported algorithm or qop → algorithm', async (t) => {
  const node = cluster().node();
  const challenge = node.challenge()[0]!;
  t.same(await node.verify(req([answer(challenge, { algorithmParam: 'SHA-256-sess' })]), store().lookup), {
    ok: false,
    reason: 'algorithm',
  });
  t.same(await node.verify(req([answer(challenge, { qop: 'auth-int' })]), store().lookup), { ok: false, reason: 'algorithm' });
  const shaOnly = cluster({ algorithms: ['SHA-256'] }).node();
  const md5Challenge = node.challenge()[1]!;
  t.same(await shaOnly.verify(req([answer(md5Challenge)]), store().lookup), { ok: false, reason: 'algorithm' });
  t.same(
    await shaOnly.verify(req([answer(md5Challenge, { algorithmParam: null })]), store().lookup),
    { ok: false, reason: 'algorithm' },
    'RFC 2617 §3.2.1: no algorithm parameter means MD5',
  );
});

t.test('RFC 2617 §3.2.2.5: a uri that is not the Request-URI → uri-mismatch', async (t) => {
  const node = cluster().node();
  const challenge = node.challenge()[0]!;
  t.same(await node.verify(req([answer(challenge, { uri: 'sip:evil.example' })]), store().lookup), {
    ok: false,
    reason: 'uri-mismatch',
  });
  const loose = await node.verify(req([answer(challenge, { uri: 'SIP:SIPFLOW.example' })]), store().lookup);
  t.equal(loose.ok, true, 'scheme and host case differences are tolerated, digest over the uri as sent');
});

t.test('the method is part of the digest: credentials for REGISTER do not authorise INVITE', async (t) => {
  const node = cluster().node();
  const header = answer(node.challenge()[0]!, { method: 'REGISTER' });
  t.same(await node.verify(req([header], { method: 'INVITE' }), store().lookup), { ok: false, reason: 'bad-response' });
});

t.test('secret rotation: sign with the first, verify with any', async (t) => {
  const c = cluster();
  const before = c.node({ secrets: [S1] });
  const during = c.node({ secrets: [S2, S1] });
  const after = c.node({ secrets: [S2] });
  t.equal((await during.verify(req([answer(before.challenge()[0]!)]), store().lookup)).ok, true, 'old nonce, rotating node');
  t.equal((await after.verify(req([answer(during.challenge()[0]!)]), store().lookup)).ok, true, 'new nonce, new node');
  t.same(await after.verify(req([answer(before.challenge()[0]!)]), store().lookup), { ok: false, reason: 'bad-nonce' });
});

t.test('setSecrets rotates at run time and keeps the replay table', async (t) => {
  const node = cluster().node({ secrets: [S1] });
  const oldChallenge = node.challenge()[0]!;
  const used = answer(oldChallenge);
  t.equal((await node.verify(req([used]), store().lookup)).ok, true);
  node.setSecrets([S2, S1]);
  t.same(await node.verify(req([used]), store().lookup), { ok: false, reason: 'replay' }, 'table kept');
  t.equal((await node.verify(req([answer(oldChallenge, { nc: 2 })]), store().lookup)).ok, true, 'old secret still verifies');
  const newChallenge = node.challenge()[0]!;
  t.equal((await cluster().node({ secrets: [S2] }).verify(req([answer(newChallenge)]), store().lookup)).ok, true, 'signed with S2');
  node.setSecrets([S2]);
  t.same(await node.verify(req([answer(oldChallenge, { nc: 3 })]), store().lookup), { ok: false, reason: 'bad-nonce' });
  t.throws(() => node.setSecrets([]), TypeError);
});

t.test('memory bound of the nc tracker; an evicted nonce is never accepted again', async (t) => {
  const c = cluster({ maxTrackedNonces: 5 });
  const node = c.node();
  const headers: string[] = [];
  for (let i = 0; i < 20; i++) {
    headers.push(answer(node.challenge()[0]!));
    t.equal((await node.verify(req([headers[i]!]), store().lookup)).ok, true);
    t.ok(node.trackedNonces <= 5, `tracked ${node.trackedNonces} after ${i + 1}`);
    c.advance(1);
  }
  t.equal(node.trackedNonces, 5);
  t.same(await node.verify(req([headers[0]!]), store().lookup), { ok: false, reason: 'stale' }, 'forgotten → fresh nonce');
  t.same(await node.verify(req([headers[19]!]), store().lookup), { ok: false, reason: 'replay' }, 'still tracked');
});

t.test('tracked entries expire with their nonce', async (t) => {
  const c = cluster({ nonceLifetimeSeconds: 10 });
  const node = c.node();
  for (let i = 0; i < 5; i++) await node.verify(req([answer(node.challenge()[0]!)]), store().lookup);
  t.equal(node.trackedNonces, 5);
  c.advance(11);
  await node.verify(req([answer(node.challenge()[0]!)]), store().lookup);
  t.equal(node.trackedNonces, 1);
});

t.test('binding: a nonce bound to the client address verifies only with it', async (t) => {
  const node = cluster().node();
  const challenge = node.challenge(REALM, { binding: '192.0.2.10' })[0]!;
  t.same(await node.verify(req([answer(challenge)], { binding: '192.0.2.11' }), store().lookup), { ok: false, reason: 'bad-nonce' });
  t.equal((await node.verify(req([answer(challenge)], { binding: '192.0.2.10' }), store().lookup)).ok, true);
});

t.test('RFC 2069 form (no qop) only when allowed, and then one-time', async (t) => {
  const strict = cluster().node();
  t.same(await strict.verify(req([answer(strict.challenge()[0]!, { qop: null })]), store().lookup), {
    ok: false,
    reason: 'malformed',
  });
  const legacy = cluster({ allowNoQop: true }).node();
  const header = answer(legacy.challenge()[0]!, { qop: null });
  t.equal((await legacy.verify(req([header]), store().lookup)).ok, true);
  t.same(await legacy.verify(req([header]), store().lookup), { ok: false, reason: 'replay' });
});

t.test('property: random and mutated headers never throw and never authenticate a wrong response', async (t) => {
  const node = cluster().node();
  const s = store();
  const good = answer(node.challenge()[0]!);
  const reasons = new Set(['missing', 'malformed', 'wrong-realm', 'unknown-user', 'bad-response', 'stale', 'replay', 'bad-nonce', 'algorithm', 'uri-mismatch']);
  const mutated = fc
    .tuple(fc.nat(good.length - 1), fc.char())
    .map(([i, ch]) => good.slice(0, i) + ch + good.slice(i + 1));
  const header = fc.oneof(fc.string({ maxLength: 200 }), fc.fullUnicodeString({ maxLength: 80 }), mutated, fc.constant(good));
  await fc.assert(
    fc.asyncProperty(fc.array(header, { maxLength: 3 }), async (values) => {
      const r = await node.verify(req(values), s.lookup);
      if (r.ok) return r.username === 'alice';
      return reasons.has(r.reason);
    }),
    { numRuns: 600 },
  );
  // A response with any digit changed never passes.
  const response = /response="([0-9a-f]+)"/.exec(good)![1]!;
  await fc.assert(
    fc.asyncProperty(fc.nat(response.length - 1), fc.constantFrom(...'0123456789abcdef'.split('')), async (i, d) => {
      fc.pre(response[i] !== d);
      const forged = good.replace(response, response.slice(0, i) + d + response.slice(i + 1));
      const r = await node.verify(req([forged]), s.lookup);
      return !r.ok && r.reason === 'bad-response';
    }),
    { numRuns: 100 },
  );
  t.pass('held');
});
