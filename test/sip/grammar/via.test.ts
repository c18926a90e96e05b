import t from 'tap';
import { MAGIC_COOKIE, cloneVia, formatVia, parseVia, viaBranch } from '../../../sip/grammar/via.js';

t.test('parses sent-protocol, sent-by and via-params (RFC 3261 §20.42)', async (t) => {
  const [v] = parseVia('SIP/2.0/UDP pc33.Atlanta.com:5066;branch=z9hG4bK776asdhds;received=192.0.2.1;rport');
  t.strictSame(v, {
    protocol: 'SIP/2.0', transport: 'UDP', host: 'pc33.atlanta.com', port: 5066,
    params: new Map<string, string | null>([['branch', 'z9hG4bK776asdhds'], ['received', '192.0.2.1'], ['rport', null]]),
  });
  t.equal(viaBranch(v!), 'z9hG4bK776asdhds');
  t.ok(viaBranch(v!)!.startsWith(MAGIC_COOKIE));
});

t.test('transport upper-cased, protocol normalised, port optional', async (t) => {
  const [v] = parseVia('sip/2.0/ws df7jal23ls0d.invalid;branch=z9hG4bKx');
  t.equal(v!.protocol, 'SIP/2.0');
  t.equal(v!.transport, 'WS');
  t.equal(v!.port, undefined);
  t.notOk('port' in v!);
});

t.test('LWS around slashes, colon, semicolons and equals', async (t) => {
  const [v] = parseVia('SIP  /   2.0 /\tTCP   host.example.com  :  5070  ;  branch  =  z9hG4bKabc ; rport = 4000');
  t.equal(v!.transport, 'TCP');
  t.equal(v!.host, 'host.example.com');
  t.equal(v!.port, 5070);
  t.equal(v!.params.get('branch'), 'z9hG4bKabc');
  t.equal(v!.params.get('rport'), '4000');
});

t.test('a line may hold several comma-separated via-parms', async (t) => {
  const vias = parseVia('SIP/2.0/UDP a.example.com;branch=z9hG4bK1 , SIP/2.0/TCP [2001:db8::5]:5061;branch=z9hG4bK2,SIP/2.0/SCTP c;branch=z9hG4bK3');
  t.equal(vias.length, 3);
  t.equal(vias[1]!.host, '[2001:db8::5]');
  t.equal(vias[1]!.port, 5061);
  t.equal(vias[2]!.transport, 'SCTP');
});

t.test('received may hold an IPv6 address; quoted extension values survive', async (t) => {
  const [v] = parseVia('SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKa;received=2001:db8::9:255;x="a, b"');
  t.equal(v!.params.get('received'), '2001:db8::9:255');
  t.equal(v!.params.get('x'), '"a, b"');
});

t.test('malformed Via values throw BAD_VIA', async (t) => {
  const bad = ['', 'SIP/2.0 host', 'SIP/2.0/UDP', 'SIP/2.0/UDP ', 'SIP/2.0/UDPhost', 'SIP//UDP host', 'SIP/2.0/UDP host:99999',
    'SIP/2.0/UDP host:', 'SIP/2.0/UDP host;=x', 'SIP/2.0/UDP host junk', 'SIP/2.0/UDP [::1', 'SIP/2.0/UDP a, junk'];
  for (const b of bad) t.throws(() => parseVia(b), { code: 'BAD_VIA', header: 'Via' }, JSON.stringify(b));
});

t.test('formatVia writes the canonical form and round-trips', async (t) => {
  const text = 'SIP/2.0/WSS edge.example.com:443;branch=z9hG4bKq;rport=5;received=203.0.113.1';
  t.equal(formatVia(parseVia(text)[0]!), text);
  t.equal(formatVia(parseVia('sip / 2.0 / udp H ; BRANCH = z')[0]!), 'SIP/2.0/UDP h;branch=z');
  const c = cloneVia(parseVia(text)[0]!);
  c.params.delete('rport');
  t.equal(formatVia(parseVia(text)[0]!), text, 'clone is independent');
});
