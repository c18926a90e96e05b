import t from 'tap';
import { TransportSet } from '../../../sip/transport/transport-set.js';
import { UdpTransport } from '../../../sip/transport/udp-transport.js';
import { TcpTransport } from '../../../sip/transport/tcp-transport.js';
import { TransportError } from '../../../sip/transport/errors.js';
import type { Transport, TransportHandler, TransportTarget } from '../../../sip/transport/transport.js';
import type { SipRequest } from '../../../sip/message/model.js';
import { Collector, sipRequest } from './helpers.js';

/** A transport that only records, to test selection without sockets. */
function fake(protocol: Transport['protocol'], family: 'IPv4' | 'IPv6', connections: string[] = [], localPort = 5060) {
  const sent: TransportTarget[] = [];
  let handler: TransportHandler | undefined;
  const transport: Transport = {
    protocol,
    reliable: protocol !== 'udp',
    localAddress: family === 'IPv4' ? '0.0.0.0' : '::',
    localPort,
    family,
    setHandler: (h) => (handler = h),
    send: (_m, target) => {
      sent.push(target);
    },
    hasConnection: (id) => connections.includes(id),
    close: () => {},
  };
  return { transport, sent, handler: () => handler };
}

t.test('select(): by protocol, then by the connection owner, then by address family', async (t) => {
  const set = new TransportSet({ onMessage: () => {} });
  const udp4 = fake('udp', 'IPv4');
  const udp6 = fake('udp', 'IPv6');
  const tcpA = fake('tcp', 'IPv4', ['tcp-1']);
  const tcpB = fake('tcp', 'IPv4', ['tcp-2']);
  for (const f of [udp4, udp6, tcpA, tcpB]) set.add(f.transport);
  t.equal(set.select({ protocol: 'udp', host: '192.0.2.1', port: 5060 }), udp4.transport);
  t.equal(set.select({ protocol: 'udp', host: '2001:db8::1', port: 5060 }), udp6.transport);
  t.equal(set.select({ protocol: 'udp', host: 'example.com', port: 5060 }), udp4.transport, 'a name goes to the first');
  t.equal(set.select({ protocol: 'tcp', host: '192.0.2.1', port: 5060, connectionId: 'tcp-2' }), tcpB.transport);
  t.equal(set.select({ protocol: 'tcp', host: '192.0.2.1', port: 5060, connectionId: 'gone' }), tcpA.transport);
  t.equal(set.select({ protocol: 'ws', host: '192.0.2.1', port: 80 }), undefined);
  const err = await set.send(Buffer.from('x'), { protocol: 'tls', host: 'a', port: 5061 }).then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof TransportError);
  t.equal((err as TransportError).code, 'SIP_TRANSPORT_NO_TRANSPORT');
  await set.send(Buffer.from('x'), { protocol: 'udp', host: '2001:db8::1', port: 5060 });
  t.equal(udp6.sent.length, 1);
  t.same([...set.protocols()].sort(), ['tcp', 'udp']);
});

t.test('select(): RFC 3581 §4 a response leaves from the socket its request came in on', async (t) => {
  const set = new TransportSet({ onMessage: () => {} });
  const a = fake('udp', 'IPv4', [], 5060);
  const b = fake('udp', 'IPv4', [], 5080);
  set.add(a.transport);
  set.add(b.transport);
  t.equal(set.select({ protocol: 'udp', host: '192.0.2.1', port: 5060, localPort: 5080 }), b.transport);
  t.equal(set.select({ protocol: 'udp', host: '192.0.2.1', port: 5060, localPort: 5060, localAddress: '0.0.0.0' }), a.transport);
  t.equal(set.select({ protocol: 'udp', host: '192.0.2.1', port: 5060, localPort: 7000 }), a.transport, 'unknown local port: by family');
});

t.test('a transport whose send throws synchronously yields a rejected promise', async (t) => {
  const set = new TransportSet({ onMessage: () => {} });
  const f = fake('udp', 'IPv4');
  f.transport.send = () => {
    throw new Error('sync');
  };
  set.add(f.transport);
  const err = await set.send(Buffer.from('x'), { protocol: 'udp', host: '1.2.3.4', port: 1 }).then(() => undefined, (e: unknown) => e);
  t.equal((err as Error).message, 'sync');
});

t.test('§18.2.1 / RFC 3581: requests get received (and rport) stamped on their top Via before going up', async (t) => {
  const events = new Collector();
  const set = new TransportSet(events);
  const rx = await UdpTransport.bind({ host: '127.0.0.1' });
  const tx = await UdpTransport.bind({ host: '127.0.0.1' });
  set.add(rx);
  t.teardown(async () => {
    await set.close();
    await tx.close();
  });
  const viaDomain = sipRequest('OPTIONS', 'z9hG4bKst1').replace('Via: SIP/2.0/TCP 127.0.0.1:5999', 'Via: SIP/2.0/UDP client.example.com:5999');
  const viaRport = sipRequest('OPTIONS', 'z9hG4bKst2').replace('Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bKst2', 'Via: SIP/2.0/UDP 127.0.0.1:5999;rport;branch=z9hG4bKst2');
  const viaSame = sipRequest('OPTIONS', 'z9hG4bKst3').replace('Via: SIP/2.0/TCP 127.0.0.1:5999', 'Via: SIP/2.0/UDP 127.0.0.1:5999');
  for (const text of [viaDomain, viaRport, viaSame]) await tx.send(Buffer.from(text), { protocol: 'udp', host: '127.0.0.1', port: rx.localPort });
  const evs = await events.waitFor('message', 3);
  const byBranch = new Map(evs.map((e) => [(e.message as SipRequest).topVia!.params.get('branch'), (e.message as SipRequest).topVia!]));
  t.equal(byBranch.get('z9hG4bKst1')!.params.get('received'), '127.0.0.1', 'a domain sent-by gets received');
  t.equal(byBranch.get('z9hG4bKst2')!.params.get('received'), '127.0.0.1', 'rport forces received even when equal');
  t.equal(byBranch.get('z9hG4bKst2')!.params.get('rport'), String(tx.localPort), 'rport gets the source port');
  t.notOk(byBranch.get('z9hG4bKst3')!.params.has('received'), 'an IP sent-by equal to the source is left alone');
});

t.test('TransportSet over UDP and TCP: one handler receives from both', async (t) => {
  const events = new Collector();
  const set = new TransportSet(events, { stampReceived: false });
  const udp = await UdpTransport.bind({ host: '127.0.0.1' });
  const tcp = await TcpTransport.listen({ host: '127.0.0.1' });
  set.add(udp);
  set.add(tcp);
  const peerUdp = await UdpTransport.bind({ host: '127.0.0.1' });
  const peerTcp = await TcpTransport.listen({ host: '127.0.0.1' });
  t.teardown(async () => {
    await set.close();
    await peerUdp.close();
    await peerTcp.close();
  });
  await peerUdp.send(Buffer.from(sipRequest('OPTIONS', 'z9hG4bKsu')), { protocol: 'udp', host: '127.0.0.1', port: udp.localPort });
  await peerTcp.send(Buffer.from(sipRequest('OPTIONS', 'z9hG4bKst')), { protocol: 'tcp', host: '127.0.0.1', port: tcp.localPort });
  const evs = await events.waitFor('message', 2);
  t.same(evs.map((e) => e.source.protocol).sort(), ['tcp', 'udp']);
  await events.waitFor('open');
});
