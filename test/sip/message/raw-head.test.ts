import t from 'tap';
import { findHeaderLine, hasTopLevelComma, headEnd, rawParam, rawStatus } from '../../../sip/message/raw-head.js';

const RESPONSE = 'SIP/2.0 200 OK\r\nv: SIP/2.0/TCP 10.0.0.1:5060;Branch=z9hG4bKabc;received=10.0.0.9\r\nVia: SIP/2.0/WS x.invalid;branch=z9hG4bKb\r\nFlow-Timer: 120\r\nContent-Length: 0\r\n\r\n';

t.test('findHeaderLine: the first line of a header, compact forms included, with its CRLF', async (t) => {
  const end = headEnd(RESPONSE);
  const via = findHeaderLine(RESPONSE, 'via', RESPONSE.indexOf('\r\n') + 2, end)!;
  t.equal(RESPONSE.slice(via.lineStart, via.lineEnd), 'v: SIP/2.0/TCP 10.0.0.1:5060;Branch=z9hG4bKabc;received=10.0.0.9\r\n');
  t.equal(RESPONSE.slice(via.valueStart, via.valueEnd), 'SIP/2.0/TCP 10.0.0.1:5060;Branch=z9hG4bKabc;received=10.0.0.9');
  const ft = findHeaderLine(RESPONSE, 'flow-timer', 0, end)!;
  t.equal(RESPONSE.slice(ft.valueStart, ft.valueEnd), '120');
  t.equal(findHeaderLine(RESPONSE, 'path', 0, end), undefined, 'absent');
  const folded = 'SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n ;received=1.2.3.4\r\n\r\n';
  t.equal(findHeaderLine(folded, 'via', 16, headEnd(folded)), undefined, 'a folded line is left to the parser');
});

t.test('rawParam: case-insensitive names, valueless and quoted parameters', async (t) => {
  const v = 'SIP/2.0/TCP h;Branch=z9hG4bKabc;rport;tag="a;b"';
  t.equal(rawParam(v, 0, v.length, 'branch'), 'z9hG4bKabc');
  t.equal(rawParam(v, 0, v.length, 'rport'), '');
  t.equal(rawParam(v, 0, v.length, 'received'), undefined);
  t.equal(rawParam('x;a = 1 ;b', 0, 10, 'a'), '1');
});

t.test('hasTopLevelComma: commas inside quotes or angle brackets do not count', async (t) => {
  const s = (x: string) => hasTopLevelComma(x, 0, x.length);
  t.ok(s('SIP/2.0/TCP a;branch=1, SIP/2.0/TCP b;branch=2'));
  t.notOk(s('"a, b" <sip:x@y;p=1,2>'));
  t.notOk(s('"a \\" , b" <sip:x@y>'), 'an escaped quote does not end the quoted string');
});

t.test('rawStatus: the code of a status line, -1 for anything else', async (t) => {
  t.equal(rawStatus('SIP/2.0 486 Busy Here\r\n'), 486);
  t.equal(rawStatus('SIP/2.0 100 Trying'), 100);
  t.equal(rawStatus('REGISTER sip:x SIP/2.0'), -1);
  t.equal(rawStatus('SIP/2.0 99 Low'), -1);
  t.equal(rawStatus('SIP/2.0 2000 Long'), -1);
});
