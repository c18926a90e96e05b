import t from 'tap';
import { parseVia } from '../../../sip/grammar/via.js';
import { responseTarget } from '../../../sip/transport/response-target.js';
import type { ReceivedFrom } from '../../../sip/transport/transport.js';

const udp: ReceivedFrom = { protocol: 'udp', remoteAddress: '203.0.113.7', remotePort: 40000, localAddress: '192.0.2.9', localPort: 5060 };
const tcp: ReceivedFrom = { ...udp, protocol: 'tcp', connectionId: 'tcp-7' };
const via = (text: string) => parseVia(text)[0]!;
/** RFC 3581 §4: an unreliable response leaves from the socket the request arrived on. */
const LOCAL = { localAddress: '192.0.2.9', localPort: 5060 };

t.test('§18.2.2: on a reliable transport the response uses the connection the request came on', async (t) => {
  t.same(responseTarget(via('SIP/2.0/TCP client.example.com:5062;branch=z9hG4bK1;received=203.0.113.7'), tcp), {
    protocol: 'tcp',
    host: '203.0.113.7',
    port: 5062,
    connectionId: 'tcp-7',
  }, 'connection first; if closed, received + sent-by port');
  t.same(responseTarget(via('SIP/2.0/TCP 203.0.113.7;branch=z9hG4bK1'), tcp), { protocol: 'tcp', host: '203.0.113.7', port: 5060, connectionId: 'tcp-7' }, 'default port');
});

t.test('§18.2.2: maddr wins on unreliable transports, with the sent-by port or 5060', async (t) => {
  t.same(responseTarget(via('SIP/2.0/UDP a.example.com:5070;branch=z9hG4bK1;maddr=239.1.1.1;received=203.0.113.7'), udp), { protocol: 'udp', host: '239.1.1.1', port: 5070, ...LOCAL });
  t.same(responseTarget(via('SIP/2.0/UDP a.example.com;branch=z9hG4bK1;maddr=198.51.100.1'), udp), { protocol: 'udp', host: '198.51.100.1', port: 5060, ...LOCAL });
});

t.test('RFC 3581 §4: with received and rport the response goes to received:rport', async (t) => {
  t.same(responseTarget(via('SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bK1;received=203.0.113.7;rport=40000'), udp), { protocol: 'udp', host: '203.0.113.7', port: 40000, ...LOCAL });
  t.same(responseTarget(via('SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bK1;rport'), udp), { protocol: 'udp', host: '10.1.1.1', port: 5060, ...LOCAL }, 'an rport flag without value does not count');
});

t.test('§18.2.2: received alone keeps the sent-by port (or 5060)', async (t) => {
  t.same(responseTarget(via('SIP/2.0/UDP phone.example.com:5066;branch=z9hG4bK1;received=203.0.113.7'), udp), { protocol: 'udp', host: '203.0.113.7', port: 5066, ...LOCAL });
  t.same(responseTarget(via('SIP/2.0/UDP phone.example.com;branch=z9hG4bK1;received=203.0.113.7'), udp), { protocol: 'udp', host: '203.0.113.7', port: 5060, ...LOCAL });
});

t.test('§18.2.2: otherwise the sent-by; IPv6 references lose their brackets', async (t) => {
  t.same(responseTarget(via('SIP/2.0/UDP 198.51.100.4:5080;branch=z9hG4bK1'), udp), { protocol: 'udp', host: '198.51.100.4', port: 5080, ...LOCAL });
  t.same(responseTarget(via('SIP/2.0/UDP [2001:db8::5]:5090;branch=z9hG4bK1'), udp), { protocol: 'udp', host: '2001:db8::5', port: 5090, ...LOCAL });
  t.same(responseTarget(via('SIP/2.0/UDP [2001:db8::5];branch=z9hG4bK1;received=2001:db8::9;rport=7000'), udp), { protocol: 'udp', host: '2001:db8::9', port: 7000, ...LOCAL });
});

t.test('TLS sent-by defaults to 5061', async (t) => {
  t.same(responseTarget(via('SIP/2.0/TLS a.example.com;branch=z9hG4bK1'), { ...udp, protocol: 'tls', connectionId: 'tls-1' }), { protocol: 'tls', host: 'a.example.com', port: 5061, connectionId: 'tls-1' });
});
