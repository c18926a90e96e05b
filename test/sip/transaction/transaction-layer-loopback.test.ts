/**
 * The transaction layer over real sockets: two nodes on 127.0.0.1, each a TransactionLayer on a
 * TransportSet with UDP and TCP, real clock with a short T1.
 */
import t from 'tap';
import { createRequest, createResponse } from '../../../sip/message/factory.js';
import type { SipResponse } from '../../../sip/message/model.js';
import { TransactionLayer } from '../../../sip/transaction/transaction-layer.js';
import { TransportSet } from '../../../sip/transport/transport-set.js';
import { UdpTransport } from '../../../sip/transport/udp-transport.js';
import { TcpTransport } from '../../../sip/transport/tcp-transport.js';
import type { TransportProtocol } from '../../../sip/transport/transport.js';
import type { TransactionUser } from '../../../sip/transaction/transaction-user.js';

async function node(user: TransactionUser) {
  let layer: TransactionLayer | undefined;
  const set = new TransportSet({ onMessage: (m, s) => layer!.receive(m, s) });
  const udp = await UdpTransport.bind({ host: '127.0.0.1' });
  const tcp = await TcpTransport.listen({ host: '127.0.0.1' });
  set.add(udp);
  set.add(tcp);
  layer = new TransactionLayer({ transport: set, user, timers: { t1: 20, t2: 160, t4: 200, d: 300 } });
  return { layer, set, udp, tcp };
}

function request(method: string, protocol: TransportProtocol, port: number, n: number) {
  return createRequest({
    method,
    uri: `sip:uas@127.0.0.1:${port}`,
    headers: [
      ['Via', `SIP/2.0/${protocol.toUpperCase()} 127.0.0.1:${port};branch=z9hG4bKlb${protocol}${method}${n};rport`],
      ['Max-Forwards', '70'],
      ['To', `<sip:uas@127.0.0.1>`],
      ['From', `<sip:uac@127.0.0.1>;tag=u${n}`],
      ['Call-ID', `loop-${protocol}-${method}-${n}`],
      ['CSeq', `${n} ${method}`],
    ],
  });
}

async function waitUntil(pred: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

for (const protocol of ['udp', 'tcp'] as const) {
  t.test(`${protocol}: OPTIONS → 200 and INVITE → 486 complete; both layers end with empty tables`, async (t) => {
    const uas = await node({
      onRequest(req, tx) {
        tx.respond(createResponse(req, req.method === 'INVITE' ? 486 : 200, undefined, { toTag: 'uas' }));
      },
    });
    const uac = await node({ onRequest: () => {} });
    t.teardown(async () => {
      uas.layer.close();
      uac.layer.close();
      await uas.set.close();
      await uac.set.close();
    });
    const uacPort = protocol === 'udp' ? uac.udp.localPort : uac.tcp.localPort;
    const uasPort = protocol === 'udp' ? uas.udp.localPort : uas.tcp.localPort;
    const target = { protocol, host: '127.0.0.1', port: uasPort };
    const finals: SipResponse[] = [];
    uac.layer.sendRequest(request('OPTIONS', protocol, uacPort, 1), target, { onResponse: (r) => finals.push(r) });
    uac.layer.sendRequest(request('INVITE', protocol, uacPort, 2), target, { onResponse: (r) => r.status >= 200 && finals.push(r) });
    await waitUntil(() => finals.length === 2);
    t.same(finals.map((r) => r.status).sort(), [200, 486]);
    t.equal(uas.layer.stats.created['server-invite'], 1);
    // Everything drains: Timer K/D/J/I run out (short timers) or are zero on TCP.
    await waitUntil(() => uac.layer.size.client === 0 && uas.layer.size.server === 0, 5000);
    t.same(uac.layer.size, { client: 0, server: 0 });
    t.same(uas.layer.size, { client: 0, server: 0 });
    t.equal(uas.layer.stats.timeouts, 0, 'the ACK arrived: no Timer H');
    if (protocol === 'tcp') t.equal(uac.tcp.connectionCount, 1, 'one connection carried both transactions');
  });
}

t.test('udp: an unanswered request times out via Timer F and the TU is told', async (t) => {
  const silent = await node({ onRequest: () => {} });
  const uac = await node({ onRequest: () => {} });
  t.teardown(async () => {
    silent.layer.close();
    uac.layer.close();
    await silent.set.close();
    await uac.set.close();
  });
  let timedOut = false;
  const started = Date.now();
  uac.layer.sendRequest(request('OPTIONS', 'udp', uac.udp.localPort, 3), { protocol: 'udp', host: '127.0.0.1', port: silent.udp.localPort }, { onTimeout: () => (timedOut = true) });
  await waitUntil(() => timedOut, 5000);
  t.ok(Date.now() - started >= 64 * 20 - 5, 'Timer F = 64*T1');
  t.ok(uac.layer.stats.retransmissionsSent >= 5, 'Timer E retransmitted');
  t.ok(silent.layer.stats.retransmissionsAbsorbed >= 5, 'the far end absorbed the retransmissions');
});
