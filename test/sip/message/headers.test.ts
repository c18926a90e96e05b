import t from 'tap';
import {
  COMPACT_FORMS, canonicalHeaderName, compactFormOf, headerKey, isListHeader, isNameAddrHeader, isSingletonHeader,
  knownSpelling,
} from '../../../sip/message/headers.js';

t.test('every compact form of RFC 3261 §7.3.3 and its successors expands', async (t) => {
  const expected: Record<string, string> = {
    i: 'Call-ID', m: 'Contact', e: 'Content-Encoding', l: 'Content-Length', c: 'Content-Type', f: 'From', s: 'Subject',
    k: 'Supported', t: 'To', v: 'Via', o: 'Event', r: 'Refer-To', b: 'Referred-By', x: 'Session-Expires',
    u: 'Allow-Events', y: 'Identity', a: 'Accept-Contact', j: 'Reject-Contact', d: 'Request-Disposition',
  };
  t.equal(COMPACT_FORMS.size, Object.keys(expected).length);
  for (const [letter, name] of Object.entries(expected)) {
    t.equal(canonicalHeaderName(letter), name, letter);
    t.equal(canonicalHeaderName(letter.toUpperCase()), name, letter.toUpperCase());
    t.equal(headerKey(letter), name.toLowerCase());
    t.equal(compactFormOf(name), letter);
  }
});

t.test('canonical spellings; unknown names keep theirs', async (t) => {
  t.equal(canonicalHeaderName('call-id'), 'Call-ID');
  t.equal(canonicalHeaderName('CSEQ'), 'CSeq');
  t.equal(canonicalHeaderName('www-authenticate'), 'WWW-Authenticate');
  t.equal(canonicalHeaderName('max-FORWARDS'), 'Max-Forwards');
  t.equal(canonicalHeaderName('X-My-Header'), 'X-My-Header');
  t.equal(canonicalHeaderName('x-my-header'), 'x-my-header');
  t.equal(compactFormOf('Max-Forwards'), undefined);
});

t.test('headerKey makes spellings of one header equal and others different', async (t) => {
  t.equal(headerKey('Via'), headerKey('v'));
  t.equal(headerKey('VIA'), headerKey('via'));
  t.equal(headerKey('Call-Id'), headerKey('i'));
  t.not(headerKey('To'), headerKey('From'));
  t.not(headerKey('X'), headerKey('x-'), 'a single unknown letter is just itself');
  t.equal(headerKey('Q'), 'q');
});

t.test('list headers: the #element ones, not the auth or single-valued ones', async (t) => {
  for (const h of ['Via', 'v', 'Route', 'Record-Route', 'Path', 'Contact', 'm', 'Supported', 'k', 'Require', 'Proxy-Require',
    'Unsupported', 'Allow', 'Accept', 'Allow-Events', 'Service-Route', 'Reason', 'Warning']) {
    t.ok(isListHeader(h), h);
  }
  for (const h of ['WWW-Authenticate', 'Authorization', 'Proxy-Authenticate', 'Proxy-Authorization', 'Date', 'From', 'To',
    'Call-ID', 'CSeq', 'Subject', 'User-Agent', 'Content-Type', 'X-Unknown']) {
    t.notOk(isListHeader(h), h);
  }
  t.ok(isNameAddrHeader('f'));
  t.ok(isNameAddrHeader('Record-Route'));
  t.notOk(isNameAddrHeader('Via'));
  t.ok(isSingletonHeader('l'));
  t.notOk(isSingletonHeader('Via'));
});

t.test('the parser table recognises common spellings in place', async (t) => {
  for (const name of ['Via', 'v', 'Call-ID', 'Content-Length', 'CSeq', 'From', 'cseq']) {
    const s = `xx${name}yy`;
    const known = knownSpelling(s, 2, 2 + name.length);
    t.equal(known?.name, name);
    t.equal(known?.key, headerKey(name));
  }
  t.equal(knownSpelling('X-Foo', 0, 5), undefined);
  t.equal(knownSpelling('Vxa', 0, 3), undefined, 'same length, first and last char as Via is not enough');
  t.equal(knownSpelling('Via', 0, 0), undefined);
});

t.test('the headers of every REGISTER and call, in canonical spelling and in either case, get their lower-case long name as key and their canonical spelling back', async (t) => {
  const names = [
    'To', 'Via', 'From', 'CSeq', 'Path', 'Date', 'Route', 'Allow', 'Call-ID', 'Contact', 'Expires', 'Require', 'Supported',
    'User-Agent', 'Flow-Timer', 'Max-Forwards', 'Content-Type', 'Record-Route', 'Authorization', 'Content-Length',
    'WWW-Authenticate', 'Proxy-Require', 'Min-Expires', 'Session-Expires', 'Content-Disposition',
  ];
  for (const name of names) {
    for (const spelling of [name, name.toLowerCase(), name.toUpperCase()]) {
      t.equal(headerKey(spelling), name.toLowerCase(), spelling);
      t.equal(canonicalHeaderName(spelling), name, `${spelling} is spelled ${name}`);
    }
  }
  // Near misses of common names are other headers.
  t.equal(headerKey('Tx'), 'tx');
  t.equal(headerKey('Vib'), 'vib');
  t.equal(headerKey('Contacts'), 'contacts');
  t.equal(headerKey('Call-Id'), 'call-id', 'a spelling seen in the wild');
});
