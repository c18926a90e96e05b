import t from 'tap';
import { cloneNameAddr, formatNameAddr, parseNameAddr, parseNameAddrList } from '../../../sip/grammar/name-addr.js';
import { formatUri } from '../../../sip/grammar/uri.js';

t.test('name-addr with quoted display name and header params', async (t) => {
  const na = parseNameAddr('"Alice Smith" <sip:alice@example.com;transport=tcp>;tag=1928301774;X=y');
  t.equal(na.displayName, 'Alice Smith');
  t.equal(formatUri(na.uri), 'sip:alice@example.com;transport=tcp');
  t.strictSame([...na.params], [['tag', '1928301774'], ['x', 'y']]);
});

t.test('quoted display names resolve escapes and may hold commas, quotes and UTF-8', async (t) => {
  t.equal(parseNameAddr('"Bob \\"B\\" \\\\ Jr, III" <sip:bob@h>').displayName, 'Bob "B" \\ Jr, III');
  t.equal(parseNameAddr('"José" <sip:j@h>').displayName, 'José');
  t.equal(parseNameAddr('"" <sip:j@h>').displayName, '');
});

t.test('token display names and no display name', async (t) => {
  t.equal(parseNameAddr('Alice  Smith <sip:a@h>').displayName, 'Alice  Smith');
  t.equal(parseNameAddr('<sip:a@h>').displayName, undefined);
  t.notOk('displayName' in parseNameAddr('<sip:a@h>'));
});

t.test('RFC 3261 §20.10: in the addr-spec form the parameters belong to the header', async (t) => {
  const na = parseNameAddr('sip:bob@example.com;tag=abc;transport=tcp');
  t.equal(na.uri.params.size, 0, 'no URI parameters');
  t.strictSame([...na.params], [['tag', 'abc'], ['transport', 'tcp']]);
  t.equal(formatNameAddr(na), '<sip:bob@example.com>;tag=abc;transport=tcp');
  const inside = parseNameAddr('<sip:bob@example.com;transport=tcp>;tag=abc');
  t.equal(inside.uri.params.get('transport'), 'tcp', 'inside <> they belong to the URI');
  t.equal(parseNameAddr('tel:+1555;tag=t').params.get('tag'), 't');
});

t.test('whitespace around parameters and inside brackets is tolerated', async (t) => {
  const na = parseNameAddr('  "A"   < sip:a@h >  ;  tag = 1 ; expires=5  ');
  t.equal(na.uri.host, 'h');
  t.strictSame([...na.params], [['tag', '1'], ['expires', '5']]);
});

t.test('lists split on commas outside quotes and brackets', async (t) => {
  const list = parseNameAddrList('"Smith, Bob" <sip:bob,jr@a;x=1>;q=0.5 , <sip:c@d>;expires=0,sip:e@f;lr');
  t.equal(list.length, 3);
  t.equal(list[0]!.displayName, 'Smith, Bob');
  t.equal(list[0]!.uri.user, 'bob,jr', 'a comma inside <> belongs to the URI');
  t.equal(list[1]!.params.get('expires'), '0');
  t.equal(list[2]!.params.has('lr'), true);
  t.equal(parseNameAddrList(' , <sip:a@b>,, ').length, 1, 'empty elements skipped');
  t.equal(parseNameAddrList('').length, 0);
});

t.test('malformed addresses throw', async (t) => {
  t.throws(() => parseNameAddr('"unterminated <sip:a@b>'), { code: 'BAD_NAME_ADDR' });
  t.throws(() => parseNameAddr('<sip:a@b'), { code: 'BAD_NAME_ADDR' });
  t.throws(() => parseNameAddr('"A" sip:a@b'), { code: 'BAD_NAME_ADDR' });
  t.throws(() => parseNameAddr('<sip:a@b> junk'), { code: 'BAD_NAME_ADDR' });
  t.throws(() => parseNameAddr(''), { code: 'BAD_NAME_ADDR' });
  t.throws(() => parseNameAddr('<sip:a@[::1>'), { code: 'BAD_URI' });
  t.throws(() => parseNameAddr('<sip:a@b>;=x'), { code: 'BAD_PARAM' });
  t.throws(() => parseNameAddrList('<sip:a@b> <sip:c@d>'), { code: 'BAD_NAME_ADDR' });
});

t.test('formatNameAddr quotes the display name and round-trips', async (t) => {
  const texts = ['"A \\"q\\"" <sip:a@h>;tag=1', '<sip:a@h;lr>', 'Bob <sips:b@h:5061>;expires=60;+sip.instance="<urn:uuid:x>"'];
  for (const text of texts) {
    const once = formatNameAddr(parseNameAddr(text));
    t.equal(formatNameAddr(parseNameAddr(once)), once, text);
  }
  t.equal(formatNameAddr(parseNameAddr('Bob <sip:b@h>')), '"Bob" <sip:b@h>');
});

t.test('cloneNameAddr is deep', async (t) => {
  const a = parseNameAddr('"A" <sip:a@h;lr>;tag=1');
  const b = cloneNameAddr(a);
  b.params.set('tag', '2');
  b.uri.params.delete('lr');
  t.equal(formatNameAddr(a), '"A" <sip:a@h;lr>;tag=1');
  t.equal(formatNameAddr(b), '"A" <sip:a@h>;tag=2');
});
