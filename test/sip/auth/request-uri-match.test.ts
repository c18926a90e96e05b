import t from 'tap';
import fc from 'fast-check';
import { digestUriMatches, normaliseDigestUri } from '../../../sip/auth/request-uri-match.js';

t.test('RFC 2617 §3.2.2.5: the uri must designate the Request-URI — equal strings match', async (t) => {
  t.ok(digestUriMatches('sip:example.com', 'sip:example.com'));
  t.ok(digestUriMatches('sip:alice@example.com;transport=ws', 'sip:alice@example.com;transport=ws'));
});

t.test('simple normalisation: scheme and host case, parameter order and case, escapes, <>', async (t) => {
  t.ok(digestUriMatches('SIP:alice@EXAMPLE.com', 'sip:alice@example.com'));
  t.ok(digestUriMatches('sip:example.com;lr;transport=WS', 'sip:example.com;Transport=ws;lr'));
  t.ok(digestUriMatches('sip:%61lice@example.com', 'sip:alice@example.com'), 'escaped unreserved char');
  t.ok(digestUriMatches('sip:a%3ab@example.com', 'sip:a%3Ab@example.com'), 'escape hex case');
  t.ok(digestUriMatches(' <sip:example.com> ', 'sip:example.com'));
  t.ok(digestUriMatches('sip:example.com', 'sip:example.com;'), 'empty parameter');
  t.equal(normaliseDigestUri('SIPS:Bob@Biloxi.COM:5061;B=1;a'), 'sips:Bob@biloxi.com:5061;a;b=1');
});

t.test('not equal: other user, user case, port, transport on one side, other host, headers', async (t) => {
  t.notOk(digestUriMatches('sip:bob@example.com', 'sip:alice@example.com'));
  t.notOk(digestUriMatches('sip:Alice@example.com', 'sip:alice@example.com'), 'user part is case-sensitive');
  t.notOk(digestUriMatches('sip:example.com:5060', 'sip:example.com'));
  t.notOk(digestUriMatches('sip:example.com;transport=ws', 'sip:example.com'));
  t.notOk(digestUriMatches('sip:example.org', 'sip:example.com'));
  t.notOk(digestUriMatches('sip:example.com?X=1', 'sip:example.com?X=2'));
  t.notOk(digestUriMatches('sip:example.com', 'sips:example.com'));
});

t.test('other schemes compare as written after the scheme', async (t) => {
  t.ok(digestUriMatches('TEL:+1-201-555-0123', 'tel:+1-201-555-0123'));
  t.notOk(digestUriMatches('tel:+1-201-555-0123', 'tel:+12015550123'));
});

t.test('property: normalisation never throws and is idempotent', async (t) => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 80 }), fc.string({ maxLength: 40 }).map((s) => 'sip:' + s)), (s) => {
      const once = normaliseDigestUri(s);
      return normaliseDigestUri(once) === once && digestUriMatches(s, s);
    }),
    { numRuns: 1000 },
  );
  t.pass('held');
});
