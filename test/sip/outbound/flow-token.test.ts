import t from 'tap';
import { FlowTokenCodec } from '../../../sip/outbound/flow-token.js';

const secret = 'a-cluster-secret-of-enough-length';
const ref = { transport: 'ws' as const, host: '192.0.2.7', port: 50123, flow: 'f42' };

t.test('a token round-trips on the node that minted it', async (t) => {
  const codec = new FlowTokenCodec([secret], 'edge-1');
  const token = codec.encode(ref);
  t.match(token, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, 'only URI-user-safe unreserved characters');
  t.same(codec.decode(token), { ok: true, ref: { node: 'edge-1', ...ref } });
  t.equal(FlowTokenCodec.peekNode(token), 'edge-1');
});

t.test('a token from one edge is worthless on another', async (t) => {
  const token = new FlowTokenCodec([secret], 'edge-1').encode(ref);
  t.same(new FlowTokenCodec([secret], 'edge-2').decode(token), { ok: false, error: 'other-node' });
});

t.test('a forged token is refused', async (t) => {
  const codec = new FlowTokenCodec([secret], 'edge-1');
  const token = codec.encode(ref);
  const [payload, mac] = token.split('.') as [string, string];
  const forgedPayload = Buffer.from(Buffer.from(payload, 'base64url').toString().replace('f42', 'f43')).toString('base64url');
  t.same(codec.decode(`${forgedPayload}.${mac}`), { ok: false, error: 'bad-signature' }, 'payload changed');
  const otherSecret = new FlowTokenCodec(['another-secret-of-enough-length'], 'edge-1').encode(ref);
  t.same(codec.decode(otherSecret), { ok: false, error: 'bad-signature' }, 'signed with a secret the cluster does not have');
  for (const garbage of ['', '.', 'abc', 'a.b.c', '%%%.%%%', 'x'.repeat(5000)]) {
    t.equal(codec.decode(garbage).ok, false, `garbage ${JSON.stringify(garbage.slice(0, 10))} refused`);
  }
});

t.test('rotation: tokens signed with the previous secret stay valid while it is listed', async (t) => {
  const old = new FlowTokenCodec(['old-secret-0123456789'], 'core-a');
  const token = old.encode({ transport: 'udp', host: '10.0.0.1', port: 5060, flow: '' });
  t.equal(new FlowTokenCodec(['new-secret-0123456789', 'old-secret-0123456789'], 'core-a').decode(token).ok, true);
  t.equal(new FlowTokenCodec(['new-secret-0123456789'], 'core-a').decode(token).ok, false, 'gone once the old secret is dropped');
});

t.test('IPv6 hosts survive', async (t) => {
  const codec = new FlowTokenCodec([secret], 'core-a');
  const decoded = codec.decode(codec.encode({ transport: 'tcp', host: '[2001:db8::1]', port: 5060, flow: 'c9' }));
  t.equal(decoded.ok && decoded.ref.host, '[2001:db8::1]');
});

t.test('remembered tokens: the same token for the same flow, the same answer for the same token, forgeries still refused', async (t) => {
  const codec = new FlowTokenCodec([secret], 'edge-1');
  const first = codec.encode(ref);
  t.equal(codec.encode({ ...ref }), first, 'encoding again gives the same token');
  const a = codec.decode(first);
  const b = codec.decode(first);
  t.ok(a.ok && b.ok);
  t.same(b, a);
  t.throws(() => {
    if (a.ok) (a.ref as { host: string }).host = '198.51.100.1';
  }, TypeError, 'a remembered answer cannot be changed by a caller');
  const [payload, mac] = first.split('.') as [string, string];
  const flipped = mac.slice(0, -1) + (mac.endsWith('A') ? 'B' : 'A');
  t.same(codec.decode(`${payload}.${flipped}`), { ok: false, error: 'bad-signature' }, 'a token one character off is checked, not taken from the table');
  // More flows than the table holds: the oldest are signed again, identically.
  const tokens = Array.from({ length: 5000 }, (_, i) => codec.encode({ ...ref, flow: `f${i}` }));
  t.equal(codec.encode({ ...ref, flow: 'f0' }), tokens[0]);
  t.ok(tokens.every((tk, i) => { const d = codec.decode(tk); return d.ok && d.ref.flow === `f${i}`; }), 'every token still verifies');
});
