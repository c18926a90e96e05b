import t from 'tap';
import { aorOf, cloneUri, formatUri, parseUri, tryParseUri, uriEquals } from '../../../sip/grammar/uri.js';
import { SipParseError } from '../../../sip/message/errors.js';

t.test('parses every part of a SIP URI (RFC 3261 §19.1.1)', async (t) => {
  const u = parseUri('sip:alice:secret@Atlanta.Example.COM:5070;transport=TCP;lr;maddr=239.255.255.1?subject=project%20x&priority=urgent');
  t.equal(u.scheme, 'sip');
  t.equal(u.user, 'alice');
  t.equal(u.password, 'secret');
  t.equal(u.host, 'atlanta.example.com', 'host lower-cased');
  t.equal(u.port, 5070);
  t.strictSame([...u.params], [['transport', 'TCP'], ['lr', null], ['maddr', '239.255.255.1']], 'params in order, flag is null, value case kept');
  t.strictSame([...u.headers], [['subject', 'project x'], ['priority', 'urgent']], 'headers unescaped');
});

t.test('absent parts are absent keys, not undefined values', async (t) => {
  const u = parseUri('sip:example.com');
  t.strictSame(Object.keys(u).sort(), ['headers', 'host', 'params', 'scheme']);
  t.equal(u.port, undefined);
});

t.test('sips, upper-case scheme, IPv6 references and ports', async (t) => {
  t.equal(parseUri('SIPS:bob@example.com').scheme, 'sips');
  const v6 = parseUri('sip:[2001:DB8::1]:5060;transport=udp');
  t.equal(v6.host, '[2001:db8::1]');
  t.equal(v6.port, 5060);
  t.equal(parseUri('sip:u@[::ffff:192.0.2.1]').host, '[::ffff:192.0.2.1]');
  t.equal(parseUri('sip:host:0').port, 0);
  t.equal(parseUri('sip:host:65535').port, 65535);
});

t.test('escaped user: stored unescaped, re-escaped on format', async (t) => {
  const u = parseUri('sip:%61lice;par=u%40example.net@example.com');
  t.equal(u.user, 'alice;par=u@example.net');
  t.equal(formatUri(u), 'sip:alice;par=u%40example.net@example.com');
  const sp = parseUri('sip:j%20doe%25x@example.com');
  t.equal(sp.user, 'j doe%x');
  t.equal(formatUri(sp), 'sip:j%20doe%25x@example.com');
  const utf = parseUri('sip:%C3%A9t%C3%A9@example.com');
  t.equal(utf.user, 'été');
  t.equal(formatUri(utf), 'sip:%C3%A9t%C3%A9@example.com');
  t.equal(parseUri('sip:%FF@example.com').user, '\u00ff', 'invalid UTF-8 escapes read one char per byte');
});

t.test('tel URIs (RFC 3966) keep the number as user', async (t) => {
  const u = parseUri('tel:+1-201-555-0123;ext=1234;phone-context=example.com');
  t.equal(u.scheme, 'tel');
  t.equal(u.user, '+1-201-555-0123');
  t.equal(u.host, '');
  t.strictSame([...u.params], [['ext', '1234'], ['phone-context', 'example.com']]);
  t.equal(formatUri(u), 'tel:+1-201-555-0123;ext=1234;phone-context=example.com');
});

t.test('other schemes are kept opaque', async (t) => {
  const u = parseUri('urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6');
  t.equal(u.scheme, 'urn');
  t.equal(u.opaque, 'uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6');
  t.equal(formatUri(u), 'urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6');
  t.equal(parseUri('HTTP://example.com/a?b=c').opaque, '//example.com/a?b=c');
});

t.test('rejects malformed URIs with BAD_URI', async (t) => {
  const bad = [
    '', 'sip', 'sip:', ':host', '1sip:host', 'sip:@host', 'sip:user@', 'sip:host:', 'sip:host:65536', 'sip:host:123456',
    'sip:host:12a', 'sip:[2001:db8::1', 'sip:[zz::1]', 'sip:-host', 'sip:ho st', 'sip:user@ho"st', 'sip:us<er@host',
    'sip:user@host;a=b c', 'sip:user@host?h', 'sip:host;%zz', 'sip:%4@host', 'tel:', 'tel:+1 555', 'urn:a b', 'urn:<x>',
    'sip:user@host>junk',
  ];
  for (const text of bad) {
    t.throws(() => parseUri(text), { code: 'BAD_URI' }, JSON.stringify(text));
    t.equal(tryParseUri(text), undefined);
  }
  try {
    parseUri('sip:');
  } catch (e) {
    t.type(e, SipParseError);
  }
});

t.test('formatUri(parseUri(t)) is canonical and stable', async (t) => {
  const samples = [
    'sip:alice@atlanta.example.com', 'SIP:Alice@ATLANTA.example.com:5060;Transport=TCP;LR',
    'sips:%61@h;x=%41?a=%20b&c=d', 'sip:[2001:db8::1]:5070', 'tel:+15551234;phone-context=+1', 'urn:service:sos',
    'sip:user:pa%3Ass@host', 'sip:host;lr;ob', 'sip:+1555%23@gw;user=phone',
  ];
  for (const s of samples) {
    const once = formatUri(parseUri(s));
    t.equal(formatUri(parseUri(once)), once, s);
    t.ok(uriEquals(parseUri(once), parseUri(s)), `${s} equals its canonical form`);
  }
  t.equal(formatUri(parseUri('SIP:Alice@ATLANTA.example.com;Transport=TCP')), 'sip:Alice@atlanta.example.com;transport=TCP');
});

t.test('uriEquals follows RFC 3261 §19.1.4', async (t) => {
  const eq = (a: string, b: string) => uriEquals(parseUri(a), parseUri(b));
  // The RFC's equal pairs.
  t.ok(eq('sip:%61lice@atlanta.com;transport=TCP', 'sip:alice@AtLanTa.CoM;Transport=tcp'));
  t.ok(eq('sip:carol@chicago.com', 'sip:carol@chicago.com;newparam=5'));
  t.ok(eq('sip:carol@chicago.com;security=on', 'sip:carol@chicago.com;newparam=5'));
  t.ok(eq('sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com', 'sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com'));
  t.ok(eq('sip:alice@atlanta.com?subject=project%20x&priority=urgent', 'sip:alice@atlanta.com?priority=urgent&subject=project%20x'));
  // The RFC's unequal pairs.
  t.notOk(eq('SIP:ALICE@AtLanTa.CoM;Transport=udp', 'sip:alice@AtLanTa.CoM;Transport=UDP'), 'user is case-sensitive');
  t.notOk(eq('sip:bob@biloxi.com', 'sip:bob@biloxi.com:5060'), 'absent port differs from 5060');
  t.notOk(eq('sip:bob@biloxi.com', 'sip:bob@biloxi.com;transport=udp'), 'transport on one side only');
  t.notOk(eq('sip:bob@biloxi.com', 'sip:bob@biloxi.com:6000;transport=tcp'));
  t.notOk(eq('sip:carol@chicago.com', 'sip:carol@chicago.com?Subject=next%20meeting'), 'headers are never ignored');
  t.notOk(eq('sip:bob@phone21.boxesbybob.com', 'sip:bob@192.0.2.4'));
  t.notOk(eq('sip:carol@chicago.com;security=on', 'sip:carol@chicago.com;security=off'));
  t.notOk(eq('sip:a@h', 'sips:a@h'), 'sip and sips never equal');
  t.notOk(eq('sip:a@h;maddr=x', 'sip:a@h'), 'maddr on one side only');
  t.notOk(eq('sip:a:p@h', 'sip:a@h'), 'password');
  t.ok(eq('tel:+1-555-0100', 'tel:+15550100'), 'tel ignores visual separators');
  t.notOk(eq('tel:+15550100;ext=1', 'tel:+15550100'), 'tel compares all params');
  t.ok(eq('urn:service:sos', 'urn:service:sos'));
  t.notOk(eq('urn:service:sos', 'urn:service:police'));
});

t.test('cloneUri is deep', async (t) => {
  const a = parseUri('sip:a@h;lr?x=y');
  const b = cloneUri(a);
  b.params.set('transport', 'tcp');
  b.headers.delete('x');
  b.user = 'z';
  t.equal(formatUri(a), 'sip:a@h;lr?x=y');
  t.equal(formatUri(b), 'sip:z@h;lr;transport=tcp');
});

t.test('aorOf drops port, params and headers', async (t) => {
  t.equal(aorOf(parseUri('sip:Alice@Example.COM:5070;transport=tcp?x=y')), 'sip:Alice@example.com');
  t.equal(aorOf(parseUri('sip:example.com')), 'sip:example.com');
  t.equal(aorOf(parseUri('tel:+1-555-0100')), 'tel:+15550100');
});
