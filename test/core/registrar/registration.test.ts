import t from 'tap';
import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { decideRegister, contactsForReply, DEFAULT_REGISTRAR_POLICY, type RegisterInput } from '../../../core/registrar/registration.js';
import { TempGruuCodec, callIdHash } from '../../../core/registrar/gruu.js';
import type { Binding } from '../../../core/location/location-store.js';
import { register } from '../../helpers/sip-text.js';

const gruus = new TempGruuCodec(['registrar-test-secret-0123456789']);
const now = 1_700_000_000_000;
const aor = 'sip:alice@example.com';

function input(over: Partial<RegisterInput> & Pick<RegisterInput, 'request'>): RegisterInput {
  return { aor, domain: 'example.com', now, policy: DEFAULT_REGISTRAR_POLICY, firstHop: 'self', path: ['<sip:tok@core;lr>'], existing: [], tempGruus: gruus, ...over };
}

function binding(over: Partial<Binding>): Binding {
  return { aor, key: 'sip:alice@192.0.2.10:5060', contact: 'sip:alice@192.0.2.10:5060', q: 1, path: [], callId: 'call-1', cseq: 1, expiresAt: now + 600_000, createdAt: now, ...over };
}

t.test('expiry comes from the Contact expires param, else the Expires header, else the default', async (t) => {
  const d1 = decideRegister(input({ request: register({ contacts: ['<sip:alice@192.0.2.10>;expires=120'], expires: 300 }) }));
  t.equal(d1.ok && d1.upsert[0]!.expiresAt, now + 120_000, 'contact param wins');
  const d2 = decideRegister(input({ request: register({ expires: 300 }) }));
  t.equal(d2.ok && d2.upsert[0]!.expiresAt, now + 300_000, 'Expires header');
  const d3 = decideRegister(input({ request: register() }));
  t.equal(d3.ok && d3.upsert[0]!.expiresAt, now + DEFAULT_REGISTRAR_POLICY.defaultExpires * 1000, 'default');
  const d4 = decideRegister(input({ request: register({ expires: 999_999 }) }));
  t.equal(d4.ok && d4.upsert[0]!.expiresAt, now + DEFAULT_REGISTRAR_POLICY.maxExpires * 1000, 'capped at the maximum');
});

t.test('an interval shorter than Min-Expires MUST get 423 with Min-Expires', async (t) => {
  const d = decideRegister(input({ request: register({ expires: 10 }) }));
  t.same(d, { ok: false, error: 'interval-too-brief', minExpires: DEFAULT_REGISTRAR_POLICY.minExpires });
});

t.test('Contact: * with Expires: 0 removes every binding; anything else with * is a 400', async (t) => {
  const existing = [binding({}), binding({ key: 'k2', contact: 'sip:alice@192.0.2.11', callId: 'other' })];
  const d = decideRegister(input({ request: register({ contacts: ['*'], expires: 0, cseq: 2 }), existing }));
  t.ok(d.ok);
  if (d.ok) t.same(d.removeKeys.sort(), existing.map((b) => b.key).sort());
  t.same(decideRegister(input({ request: register({ contacts: ['*'], expires: 60 }), existing })), { ok: false, error: 'wildcard-misuse' });
  t.same(decideRegister(input({ request: register({ contacts: ['*'] }), existing })), { ok: false, error: 'wildcard-misuse' });
});

t.test('a refresh with the same Call-ID and a CSeq that is not higher is out of order', async (t) => {
  const existing = [binding({ cseq: 5 })];
  t.same(decideRegister(input({ request: register({ cseq: 5 }), existing })), { ok: false, error: 'out-of-order' });
  t.same(decideRegister(input({ request: register({ cseq: 4 }), existing })), { ok: false, error: 'out-of-order' });
  const ok = decideRegister(input({ request: register({ cseq: 6 }), existing }));
  t.ok(ok.ok, 'higher CSeq accepted');
  const reboot = decideRegister(input({ request: register({ cseq: 1, callId: 'new-call-id' }), existing }));
  t.ok(reboot.ok, 'a new Call-ID replaces the binding whatever its CSeq');
});

t.test('expires=0 removes only that binding', async (t) => {
  const existing = [binding({}), binding({ key: 'sip:alice@192.0.2.11', contact: 'sip:alice@192.0.2.11' })];
  const d = decideRegister(input({ request: register({ contacts: ['<sip:alice@192.0.2.10:5060>;expires=0'], cseq: 2 }), existing }));
  t.ok(d.ok);
  if (!d.ok) return;
  t.same(d.removeKeys, ['sip:alice@192.0.2.10:5060']);
  t.same(d.current.map((b) => b.key), ['sip:alice@192.0.2.11']);
});

t.test('the bindings after a REGISTER keep the stored order: a refreshed one in its place, new ones last; the stored list is not changed', async (t) => {
  const a = binding({ key: 'sip:alice@192.0.2.1', contact: 'sip:alice@192.0.2.1', callId: 'other' });
  const b = binding({ key: 'sip:alice@192.0.2.2', contact: 'sip:alice@192.0.2.2', callId: 'other' });
  const c = binding({ key: 'sip:alice@192.0.2.3', contact: 'sip:alice@192.0.2.3', callId: 'other' });
  const expired = binding({ key: 'sip:alice@192.0.2.9', contact: 'sip:alice@192.0.2.9', expiresAt: now - 1 });
  const existing = [a, expired, b, c];
  const before = existing.map((x) => ({ ...x }));
  const d = decideRegister(input({
    request: register({ contacts: ['<sip:alice@192.0.2.4>', '<sip:alice@192.0.2.2>', '<sip:alice@192.0.2.1>;expires=0'], cseq: 7 }),
    existing,
  }));
  t.ok(d.ok);
  if (!d.ok) return;
  t.same(d.current.map((x) => x.contact), ['sip:alice@192.0.2.2', 'sip:alice@192.0.2.3', 'sip:alice@192.0.2.4'], 'a removed, b refreshed in place, the new one last, the expired one gone');
  t.equal(d.current[0]!.cseq, 7, 'b is the refreshed binding');
  t.same(d.upsert.map((x) => x.contact), ['sip:alice@192.0.2.4', 'sip:alice@192.0.2.2']);
  t.same(d.removeKeys, ['sip:alice@192.0.2.1']);
  t.strictSame(existing, before, 'the stored bindings are as they were');
  t.equal(existing.length, 4);
});

t.test('an expires=0 for a contact not stored removes nothing; the same contact twice in one REGISTER is out of order', async (t) => {
  const a = binding({ key: 'sip:alice@192.0.2.1', contact: 'sip:alice@192.0.2.1', callId: 'other' });
  const b = binding({ key: 'sip:alice@192.0.2.2', contact: 'sip:alice@192.0.2.2', callId: 'other' });
  const d = decideRegister(input({ request: register({ contacts: ['<sip:alice@192.0.2.5>;expires=0', '<sip:alice@192.0.2.1>;expires=0'], cseq: 3 }), existing: [a, b] }));
  t.ok(d.ok);
  if (!d.ok) return;
  t.same(d.removeKeys, ['sip:alice@192.0.2.1']);
  t.same(d.current.map((x) => x.contact), ['sip:alice@192.0.2.2']);
  const twice = decideRegister(input({ request: register({ contacts: ['<sip:alice@192.0.2.1>', '<sip:alice@192.0.2.1>'], cseq: 3 }), existing: [a, b] }));
  t.same(twice, { ok: false, error: 'out-of-order' }, 'the same contact twice with one CSeq is the second one out of order (RFC 3261 §10.3 step 7)');
});

t.test('more bindings than maxContactsPerAor are refused; what the same REGISTER removes does not count', async (t) => {
  const policy = { ...DEFAULT_REGISTRAR_POLICY, maxContactsPerAor: 2 };
  const existing = [1, 2].map((n) => binding({ key: `sip:alice@192.0.2.${n}`, contact: `sip:alice@192.0.2.${n}`, callId: 'other' }));
  t.same(decideRegister(input({ request: register({ contacts: ['<sip:alice@192.0.2.3>'] }), existing, policy })), { ok: false, error: 'too-many-contacts' });
  const swap = decideRegister(input({ request: register({ contacts: ['<sip:alice@192.0.2.1>;expires=0', '<sip:alice@192.0.2.3>'] }), existing, policy }));
  t.ok(swap.ok, 'one out, one in');
  t.same(swap.ok && swap.current.map((x) => x.contact), ['sip:alice@192.0.2.2', 'sip:alice@192.0.2.3']);
});

t.test('q-values are kept and malformed ones refused', async (t) => {
  const d = decideRegister(input({ request: register({ contacts: ['<sip:alice@192.0.2.10>;q=0.5'] }) }));
  t.equal(d.ok && d.upsert[0]!.q, 0.5);
  t.same(decideRegister(input({ request: register({ contacts: ['<sip:alice@192.0.2.10>;q=2'] }) })), { ok: false, error: 'invalid-contact' });
});

const instance = 'urn:uuid:00000000-0000-4000-8000-000000000001';
const obContact = (regId: number, host = 'abc.invalid') => `<sip:x@${host};transport=ws;ob>;+sip.instance="<${instance}>";reg-id=${regId}`;

t.test('outbound: bindings are keyed by instance and reg-id; a refresh on a new flow replaces that reg-id', async (t) => {
  const first = decideRegister(input({ request: register({ contacts: [obContact(1)] }), firstHop: 'outbound-edge', path: ['<sip:flowA@edge1;lr;ob>'] }));
  t.ok(first.ok && first.outbound);
  if (!first.ok) return;
  t.equal(first.upsert[0]!.key, `${instance};1`);
  const second = decideRegister(input({ request: register({ contacts: [obContact(2)], callId: 'call-1', cseq: 2 }), firstHop: 'outbound-edge', path: ['<sip:flowB@edge2;lr;ob>'], existing: first.current }));
  t.ok(second.ok);
  if (!second.ok) return;
  t.equal(second.current.length, 2, 'two flows for one instance');
  const moved = decideRegister(input({ request: register({ contacts: [obContact(1, 'def.invalid')], cseq: 3 }), firstHop: 'outbound-edge', path: ['<sip:flowC@edge2;lr;ob>'], existing: second.current }));
  t.ok(moved.ok);
  if (!moved.ok) return;
  t.equal(moved.current.length, 2, 'still two flows');
  t.same(moved.current.find((b) => b.regId === 1)!.path, ['<sip:flowC@edge2;lr;ob>'], 'reg-id 1 now uses the new flow');
});

t.test('439 First Hop Lacks Outbound Support when the edge did not put ob in Path', async (t) => {
  t.same(decideRegister(input({ request: register({ contacts: [obContact(1)] }), firstHop: 'plain-edge' })), { ok: false, error: 'first-hop-lacks-outbound' });
  t.ok(decideRegister(input({ request: register({ contacts: [obContact(1)] }), firstHop: 'self' })).ok, 'no 439 when the core holds the flow itself');
});

t.test('the 200 OK lists every binding with its remaining expiry, and GRUUs only for UAs that support them', async (t) => {
  const b = binding({ instance, key: instance, expiresAt: now + 90_000 });
  const [withGruu] = contactsForReply([b], { now, domain: 'example.com', gruu: true, tempGruus: gruus });
  t.match(withGruu, /;expires=90/);
  t.match(withGruu, `;pub-gruu="sip:alice@example.com;gr=${instance}"`);
  const temp = /temp-gruu="sip:([^@]+)@example.com;gr"/.exec(withGruu!);
  t.ok(temp, 'temp-gruu present');
  t.same(gruus.open(temp![1]!), { aor, instance, callIdHash: callIdHash('call-1') }, 'any core can open the temp-gruu');
  const [again] = contactsForReply([b], { now, domain: 'example.com', gruu: true, tempGruus: gruus });
  const againUser = /temp-gruu="sip:([^@]+)@example.com;gr"/.exec(again!)![1]!;
  t.not(againUser, temp![1], 'a fresh temp-gruu on each registration');
  t.same(gruus.open(againUser), gruus.open(temp![1]!), 'both open to the same binding');
  const [without] = contactsForReply([b], { now, domain: 'example.com', gruu: false, tempGruus: gruus });
  t.notMatch(without, /gruu/);
});

t.test('a temp-gruu is opaque and cannot be forged', async (t) => {
  const user = gruus.mint({ aor, instance, callIdHash: 'abcd' });
  t.notMatch(user, /alice/, 'does not reveal the AOR');
  t.equal(new TempGruuCodec(['another-secret-0123456789abcdef']).open(user), undefined, 'another cluster cannot open it');
  t.equal(gruus.open(user.slice(0, -2) + 'AA'), undefined, 'tampering is detected');
  t.equal(gruus.open('tgruu.garbage'), undefined);
  // Every byte is covered: nonce, tag and ciphertext.
  const raw = Buffer.from(user.slice('tgruu.'.length), 'base64url');
  for (const at of [0, 11, 12, 27, 28, raw.length - 1]) {
    const flipped = Buffer.from(raw);
    flipped[at]! ^= 0x80;
    t.equal(gruus.open('tgruu.' + flipped.toString('base64url')), undefined, `a bit flipped in byte ${at} is detected`);
  }
});

t.test('temp-gruus of the same binding share nothing an observer could link', async (t) => {
  const users = new Set<string>();
  for (let i = 0; i < 1000; i++) users.add(gruus.mint({ aor, instance, callIdHash: 'abcd' }));
  t.equal(users.size, 1000, 'no two alike');
  const [a, b] = [...users].map((u) => Buffer.from(u.slice('tgruu.'.length), 'base64url'));
  let sameBytes = 0;
  for (let i = 0; i < a!.length; i++) if (a![i] === b![i]) sameBytes++;
  t.ok(sameBytes < a!.length / 4, `two mints agree on ${sameBytes} of ${a!.length} bytes (chance: ~1/256 each)`);
});

t.test('secret rotation: a token minted under the old secret opens while that secret is still listed', async (t) => {
  const old = new TempGruuCodec(['old-secret-0123456789abcdef']);
  const user = old.mint({ aor, instance, callIdHash: 'abcd' });
  t.same(new TempGruuCodec(['new-secret-0123456789abcdef', 'old-secret-0123456789abcdef']).open(user), { aor, instance, callIdHash: 'abcd' });
  t.equal(new TempGruuCodec(['new-secret-0123456789abcdef']).open(user), undefined, 'and not once it is dropped');
});

t.test('temp-gruus minted by earlier versions (AES-256-GCM) still open', async (t) => {
  // What the registrar minted before ChaCha20-Poly1305: the key and layout it used.
  const secret = 'registrar-test-secret-0123456789';
  const key = createHmac('sha256', secret).update('sipflow-temp-gruu').digest();
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(Buffer.from(`${aor}\n${instance}\nabcd`)), cipher.final()]);
  const legacy = 'tgruu.' + Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
  t.same(gruus.open(legacy), { aor, instance, callIdHash: 'abcd' });
  const tampered = Buffer.from(legacy.slice('tgruu.'.length), 'base64url');
  tampered[tampered.length - 1]! ^= 1;
  t.equal(gruus.open('tgruu.' + tampered.toString('base64url')), undefined, 'tampering is detected there too');
});

t.test('claims with a urn:uuid instance and our hash are sealed in binary, 38 bytes shorter, and open to the same text', async (t) => {
  const uuidInstance = 'urn:uuid:0b6f2d7e-1c2a-4f8e-9a3b-5d6c7e8f9a0b';
  const claims = { aor, instance: uuidInstance, callIdHash: callIdHash('call-7') };
  const binary = gruus.mint(claims);
  t.same(gruus.open(binary), claims, 'opens to the claims as given');
  const rawLength = (user: string): number => Buffer.from(user.slice('tgruu.'.length), 'base64url').length;
  const textLength = Buffer.byteLength(`${aor}\n${uuidInstance}\n${claims.callIdHash}`);
  t.equal(rawLength(binary), 12 + 16 + 1 + 8 + 16 + Buffer.byteLength(aor), 'nonce, tag, marker, hash, UUID, AOR');
  t.equal(12 + 16 + textLength - rawLength(binary), 38, `${rawLength(binary)} bytes where the text form takes ${12 + 16 + textLength}`);

  // Anything else is sealed as text, and opens exactly as it was given.
  const others = [
    { aor, instance: uuidInstance.toUpperCase().replace('URN:UUID:', 'urn:uuid:'), callIdHash: claims.callIdHash },
    { aor, instance: 'urn:uuid:0b6f2d7e1c2a4f8e9a3b5d6c7e8f9a0b-xxxx', callIdHash: claims.callIdHash },
    { aor, instance: 'urn:uuid:0b6f2d7e-1c2a-4f8e-9a3b-5d6c7e8f9a0g', callIdHash: claims.callIdHash },
    { aor, instance: '<urn:uuid:0b6f2d7e-1c2a-4f8e-9a3b-5d6c7e8f9a0b>'.slice(1, -1) + 'z', callIdHash: claims.callIdHash },
    { aor, instance: uuidInstance, callIdHash: claims.callIdHash.toUpperCase() },
    { aor, instance: 'urn:example:not-a-uuid', callIdHash: claims.callIdHash },
  ];
  for (const c of others) {
    const user = gruus.mint(c);
    t.same(gruus.open(user), c, `text form for ${c.instance} / ${c.callIdHash}`);
    t.equal(rawLength(user), 12 + 16 + Buffer.byteLength(`${c.aor}\n${c.instance}\n${c.callIdHash}`));
  }
  // AORs: non-ASCII in binary, one too long for the binary form in text.
  const unicode = { aor: 'sip:jürgen@example.com', instance: uuidInstance, callIdHash: claims.callIdHash };
  t.same(gruus.open(gruus.mint(unicode)), unicode, 'a UTF-8 AOR comes back whole');
  const long = { aor: `sip:${'a'.repeat(300)}@example.com`, instance: uuidInstance, callIdHash: claims.callIdHash };
  t.same(gruus.open(gruus.mint(long)), long, 'an AOR too long for the binary form is sealed as text');
  t.same(gruus.open(gruus.mint(claims)), claims, 'and the next binary mint is unaffected');

  // The binary form holds up to 256 bytes of claims (marker, hash, UUID: 25): an AOR of 231 bytes
  // is the longest in binary, by its UTF-8 length, not its length in characters.
  const aorOf = (bytes: number, tail = ''): string => `sip:${'b'.repeat(bytes - 'sip:@example.com'.length - Buffer.byteLength(tail))}${tail}@example.com`;
  for (const [c, form] of [
    [{ aor: aorOf(231), instance: uuidInstance, callIdHash: claims.callIdHash }, 'binary'],
    [{ aor: aorOf(232), instance: uuidInstance, callIdHash: claims.callIdHash }, 'text'],
    [{ aor: aorOf(231, 'ü'), instance: uuidInstance, callIdHash: claims.callIdHash }, 'binary'],
    [{ aor: aorOf(232, 'ü'), instance: uuidInstance, callIdHash: claims.callIdHash }, 'text'],
  ] as const) {
    const user = gruus.mint(c);
    t.same(gruus.open(user), c, `an AOR of ${Buffer.byteLength(c.aor)} bytes comes back whole`);
    const expected = form === 'binary' ? 1 + 8 + 16 + Buffer.byteLength(c.aor) : Buffer.byteLength(`${c.aor}\n${c.instance}\n${c.callIdHash}`);
    t.equal(rawLength(user), 12 + 16 + expected, `sealed in ${form}`);
  }
});

t.test('text temp-gruus of the same claims, as the previous version minted them, still open', async (t) => {
  const uuidInstance = 'urn:uuid:0b6f2d7e-1c2a-4f8e-9a3b-5d6c7e8f9a0b';
  const claims = { aor, instance: uuidInstance, callIdHash: callIdHash('call-8') };
  const key = createHmac('sha256', 'registrar-test-secret-0123456789').update('sipflow-temp-gruu-chacha20-poly1305').digest();
  const nonce = randomBytes(12);
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  const body = Buffer.concat([cipher.update(Buffer.from(`${claims.aor}\n${claims.instance}\n${claims.callIdHash}`)), cipher.final()]);
  const previous = 'tgruu.' + Buffer.concat([nonce, cipher.getAuthTag(), body]).toString('base64url');
  t.same(gruus.open(previous), claims);
  const flipped = Buffer.from(previous.slice('tgruu.'.length), 'base64url');
  flipped[flipped.length - 1]! ^= 1;
  t.equal(gruus.open('tgruu.' + flipped.toString('base64url')), undefined, 'tampering is detected');
});
