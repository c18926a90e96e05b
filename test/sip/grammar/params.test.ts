import t from 'tap';
import { formatParams, isBareParamValue, parseParams, parseParamsAt, quote, scanQuotedString, unquote } from '../../../sip/grammar/params.js';

t.test('generic-param: names lower-cased, values as written, flags null', async (t) => {
  const p = parseParams(';Tag=AbC;LR;expires=3600;+sip.instance="<urn:uuid:1>";received=[2001:db8::1]');
  t.strictSame([...p], [['tag', 'AbC'], ['lr', null], ['expires', '3600'], ['+sip.instance', '"<urn:uuid:1>"'], ['received', '[2001:db8::1]']]);
});

t.test('SEMI and EQUAL allow whitespace around them (RFC 3261 §25.1)', async (t) => {
  const p = parseParams('  ;  a = 1 ;\tb\t;c= "x; y" ');
  t.strictSame([...p], [['a', '1'], ['b', null], ['c', '"x; y"']]);
});

t.test('the leading ; may be omitted and a trailing ; is tolerated', async (t) => {
  t.strictSame([...parseParams('a=1;b')], [['a', '1'], ['b', null]]);
  t.strictSame([...parseParams(';a=1;')], [['a', '1']]);
  t.equal(parseParams('').size, 0);
});

t.test('the first of a repeated parameter wins', async (t) => {
  t.equal(parseParams(';tag=1;tag=2').get('tag'), '1');
});

t.test('parseParamsAt stops at a comma and reports where', async (t) => {
  const s = '<sip:a@b>;q=1, <sip:c@d>';
  const out = new Map();
  const end = parseParamsAt(s, 9, out);
  t.equal(s[end], ',');
  t.strictSame([...out], [['q', '1']]);
});

t.test('rejects broken parameters with BAD_PARAM', async (t) => {
  for (const bad of [';=1', ';a="unterminated', ';a=1 b', ';a;;b', ';é=1']) {
    t.throws(() => parseParams(bad), { code: 'BAD_PARAM' }, bad);
  }
});

t.test('quoted strings: quote/unquote/scan agree on escapes', async (t) => {
  const raw = 'say "hi" \\ bye';
  const q = quote(raw);
  t.equal(q, '"say \\"hi\\" \\\\ bye"');
  t.equal(unquote(q), raw);
  t.equal(scanQuotedString(q + 'rest', 0), q.length);
  t.equal(scanQuotedString('"abc', 0), -1);
  t.equal(scanQuotedString('"a\\\\"b', 0), 5, 'an escaped backslash does not escape the quote');
  t.equal(unquote('bare'), 'bare');
  t.equal(unquote('"'), '"');
});

t.test('formatParams writes back what parseParams read', async (t) => {
  const text = ';tag=x;lr;+sip.instance="<urn:uuid:1>"';
  t.equal(formatParams(parseParams(text)), text);
  t.ok(isBareParamValue('z9hG4bK.1'));
  t.ok(isBareParamValue('[::1]'));
  t.notOk(isBareParamValue('a b'));
  t.notOk(isBareParamValue(''));
});
