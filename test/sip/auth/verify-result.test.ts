import t from 'tap';
import { AUTH_HEADERS, failureReply, type VerifyFailureReason } from '../../../sip/auth/verify-result.js';

t.test('a UAS challenges with 401, a proxy with 407 (RFC 3261 §22.1, §22.3)', async (t) => {
  t.same(failureReply('missing', 'uas'), { kind: 'challenge', status: 401, stale: false });
  t.same(failureReply('missing', 'proxy'), { kind: 'challenge', status: 407, stale: false });
  t.equal(AUTH_HEADERS.proxy.challenge, 'Proxy-Authenticate');
  t.equal(AUTH_HEADERS.uas.credentials, 'Authorization');
});

t.test("stale, replay and another node's nonce re-challenge with stale=true; nothing else does", async (t) => {
  const all: VerifyFailureReason[] = ['missing', 'malformed', 'wrong-realm', 'unknown-user', 'bad-response', 'stale', 'replay', 'bad-nonce', 'foreign-nonce', 'algorithm', 'uri-mismatch'];
  const stale = all.filter((r) => {
    const reply = failureReply(r, 'uas');
    return reply.kind === 'challenge' && reply.stale;
  });
  t.same(stale, ['stale', 'replay', 'foreign-nonce']);
});

t.test('unknown user and wrong password are indistinguishable (403); syntax problems are 400', async (t) => {
  t.same(failureReply('unknown-user', 'proxy'), failureReply('bad-response', 'proxy'));
  t.equal(failureReply('bad-response', 'uas').status, 403);
  t.equal(failureReply('malformed', 'uas').status, 400);
  t.equal(failureReply('uri-mismatch', 'proxy').status, 400);
});
