import t from 'tap';
import diagnostics from 'node:diagnostics_channel';
import { createResponse } from '../../../sip/message/factory.js';
import { parseMessage } from '../../../sip/message/parser.js';
import type { SipMessage, SipRequest, SipResponse } from '../../../sip/message/model.js';
import { ManualClock } from '../../../sip/transaction/manual-clock.js';
import { TransactionLayer } from '../../../sip/transaction/transaction-layer.js';
import type { ServerTransaction } from '../../../sip/transaction/server-transaction.js';
import type { TransactionUser } from '../../../sip/transaction/transaction-user.js';
import { TransactionError } from '../../../sip/transaction/errors.js';
import { outgoingBytes, type Outgoing, type ReceivedFrom, type TransportTarget } from '../../../sip/transport/transport.js';
import { parseRequest, RecordingSender, request, response, UDP_TARGET } from './helpers.js';

const SRC: ReceivedFrom = { protocol: 'udp', remoteAddress: '192.0.2.1', remotePort: 5060, localAddress: '192.0.2.9', localPort: 5060 };

interface Recorder extends TransactionUser {
  requests: Array<{ request: SipRequest; tx: ServerTransaction }>;
  acks: Array<{ ack: SipRequest; tx: unknown }>;
  stray: SipResponse[];
  malformed: Array<{ message: SipMessage; error: Error }>;
}

function recorder(onRequest?: (request: SipRequest, tx: ServerTransaction) => void): Recorder {
  const r: Recorder = {
    requests: [],
    acks: [],
    stray: [],
    malformed: [],
    onRequest(request, tx) {
      r.requests.push({ request, tx });
      onRequest?.(request, tx);
    },
    onAck(ack, _source, tx) {
      r.acks.push({ ack, tx });
    },
    onStrayResponse(response) {
      r.stray.push(response);
    },
    onMalformed(message, error) {
      r.malformed.push({ message, error });
    },
  };
  return r;
}

function make(onRequest?: (request: SipRequest, tx: ServerTransaction) => void) {
  const clock = new ManualClock();
  const sender = new RecordingSender(clock);
  const user = recorder(onRequest);
  const layer = new TransactionLayer({ transport: sender, user, clock });
  return { clock, sender, user, layer };
}

t.test('§17.2.3: a new request creates one server transaction and reaches the TU once; retransmissions are absorbed', async (t) => {
  const { layer, user, sender } = make();
  layer.receive(request({ method: 'OPTIONS', branch: 'z9hG4bKo1' }), SRC);
  layer.receive(request({ method: 'OPTIONS', branch: 'z9hG4bKo1' }), SRC);
  t.equal(user.requests.length, 1);
  t.equal(layer.size.server, 1);
  const { request: req, tx } = user.requests[0]!;
  t.equal(tx.kind, 'server-non-invite');
  tx.respond(createResponse(req, 200, undefined, { toTag: 'x' }));
  layer.receive(request({ method: 'OPTIONS', branch: 'z9hG4bKo1' }), SRC);
  t.same(sender.responses().map((r) => r.status), [200, 200], 'the retransmission in Completed gets the final response again');
  t.equal(layer.stats.retransmissionsAbsorbed, 2);
  t.equal(layer.stats.retransmissionsSent, 1);
  t.same(sender.sent[0]!.target, { protocol: 'udp', host: 'pc33.atlanta.com', port: 5060, localAddress: '192.0.2.9', localPort: 5060 }, '§18.2.2 target from the top Via, sent from where the request came in');
});

t.test('INVITE server transactions send 100 Trying at once by default', async (t) => {
  const { layer, sender } = make();
  layer.receive(request({ method: 'INVITE', branch: 'z9hG4bKi1' }), SRC);
  t.same(sender.responses().map((r) => r.status), [100]);
});

t.test('§17.2.3: the ACK for a non-2xx is absorbed by its INVITE transaction; the ACK for a 2xx goes to the TU', async (t) => {
  const { layer, user, clock } = make();
  layer.receive(request({ method: 'INVITE', branch: 'z9hG4bKa1' }), SRC);
  const { request: inv, tx } = user.requests[0]!;
  tx.respond(createResponse(inv, 486, undefined, { toTag: 'busy' }));
  layer.receive(request({ method: 'ACK', branch: 'z9hG4bKa1', toTag: 'busy' }), SRC);
  t.equal(tx.state, 'confirmed');
  t.equal(user.acks.length, 0, 'absorbed');

  layer.receive(request({ method: 'INVITE', branch: 'z9hG4bKa2', callId: 'c2' }), SRC);
  const second = user.requests[1]!;
  second.tx.respond(createResponse(second.request, 200, undefined, { toTag: 'ok' }));
  // The 2xx ACK is a new transaction from the UAC's point of view: new branch.
  layer.receive(request({ method: 'ACK', branch: 'z9hG4bKa2-ack', callId: 'c2', toTag: 'ok' }), SRC);
  t.equal(user.acks.length, 1);
  t.equal(user.acks[0]!.tx, undefined);
  t.equal(layer.stats.strayAcks, 1);
  // RFC 6026: an ACK reusing the INVITE branch in Accepted goes to the TU with its transaction.
  layer.receive(request({ method: 'ACK', branch: 'z9hG4bKa2', callId: 'c2', toTag: 'ok' }), SRC);
  t.equal(user.acks.length, 2);
  t.equal(user.acks[1]!.tx, second.tx);
  clock.runAll();
  t.same(layer.size, { client: 0, server: 0 });
});

t.test('§17.1.3: responses go to their client transaction; others are stray', async (t) => {
  const { layer, user, sender, clock } = make();
  const req = request({ method: 'INVITE', branch: 'z9hG4bKc1' });
  const got: number[] = [];
  const tx = layer.sendRequest(req, UDP_TARGET, { onResponse: (r) => got.push(r.status) });
  t.equal(tx.kind, 'client-invite');
  t.equal(layer.size.client, 1);
  t.equal(sender.requests('INVITE').length, 1);
  layer.receive(response(req, 180, 'u'), SRC);
  layer.receive(response(req, 404, 'u'), SRC);
  t.same(got, [180, 404]);
  t.equal(sender.requests('ACK').length, 1);
  layer.receive(response(request({ method: 'INVITE', branch: 'z9hG4bKzz' }), 200, 'u'), SRC);
  t.equal(user.stray.length, 1);
  t.equal(layer.stats.strayResponses, 1);
  clock.runAll();
  t.equal(layer.size.client, 0);
});

t.test('sendRequest refuses ACK, a branch without the magic cookie, and a reused branch', async (t) => {
  const { layer } = make();
  t.throws(() => layer.sendRequest(request({ method: 'ACK' }), UDP_TARGET), TypeError);
  t.throws(() => layer.sendRequest(request({ method: 'OPTIONS', branch: 'old' }), UDP_TARGET), TypeError);
  layer.sendRequest(request({ method: 'OPTIONS', branch: 'z9hG4bKdup' }), UDP_TARGET);
  t.throws(() => layer.sendRequest(request({ method: 'OPTIONS', branch: 'z9hG4bKdup' }), UDP_TARGET), TransactionError);
  // CANCEL shares the INVITE's branch but is another transaction.
  layer.sendRequest(request({ method: 'INVITE', branch: 'z9hG4bKinv' }), UDP_TARGET);
  t.doesNotThrow(() => layer.sendRequest(request({ method: 'CANCEL', branch: 'z9hG4bKinv' }), UDP_TARGET));
  layer.close();
  t.same(layer.size, { client: 0, server: 0 }, 'close() ends everything');
  t.throws(() => layer.sendRequest(request({ method: 'OPTIONS', branch: 'z9hG4bKlate' }), UDP_TARGET), TransactionError);
});

t.test('§9.2: the TU finds the INVITE server transaction a CANCEL cancels', async (t) => {
  const { layer, user } = make();
  layer.receive(request({ method: 'INVITE', branch: 'z9hG4bKx1' }), SRC);
  layer.receive(request({ method: 'CANCEL', branch: 'z9hG4bKx1' }), SRC);
  t.equal(user.requests.length, 2);
  const cancel = user.requests[1]!;
  t.equal(cancel.tx.kind, 'server-non-invite', 'the CANCEL has its own server transaction');
  t.equal(layer.findInviteForCancel(cancel.request), user.requests[0]!.tx);
  t.equal(layer.findInviteForCancel(request({ method: 'CANCEL', branch: 'z9hG4bKnone' })), undefined);
});

t.test('a TU that throws from onRequest gets a 500 sent for it, and the error surfaces', async (t) => {
  const { layer, sender, clock } = make(() => {
    throw new Error('tu bug');
  });
  t.throws(() => layer.receive(request({ method: 'REGISTER', branch: 'z9hG4bKr1' }), SRC), /tu bug/);
  t.same(sender.responses().map((r) => r.status), [500]);
  clock.runAll();
  t.equal(layer.size.server, 0);
});

t.test('a request with a malformed From is reported as malformed and creates nothing', async (t) => {
  const { layer, user, sender } = make();
  const bad = parseMessage(
    ['OPTIONS sip:bob@biloxi.com SIP/2.0', 'Via: SIP/2.0/UDP h.example.com;branch=z9hG4bKm1', 'To: <sip:bob@biloxi.com>', 'From: <<<', 'Call-ID: m1', 'CSeq: 1 OPTIONS', 'Content-Length: 0', '', ''].join('\r\n'),
  );
  t.ok(bad.ok, 'the lazy parser accepts it at first');
  if (!bad.ok) return;
  layer.receive(bad.message, SRC);
  t.equal(user.malformed.length, 1);
  t.equal(user.requests.length, 0);
  t.equal(layer.size.server, 0);
  t.equal(sender.sent.length, 0);
  t.equal(layer.stats.malformed, 1);
});

t.test('observability: stats, observer and diagnostics_channel see creations, state changes and retransmissions', async (t) => {
  const seen: string[] = [];
  const onState = (m: unknown) => {
    const { tx, to } = m as { tx: { kind: string }; to: string };
    seen.push(`${tx.kind}:${to}`);
  };
  diagnostics.subscribe('sipflow:transaction:state', onState);
  t.teardown(() => diagnostics.unsubscribe('sipflow:transaction:state', onState));
  const clock = new ManualClock();
  const sender = new RecordingSender(clock);
  const observed: string[] = [];
  const layer = new TransactionLayer({
    transport: sender,
    user: recorder(),
    clock,
    observer: { onCreated: (tx) => observed.push(`created:${tx.kind}`), onRetransmit: (_tx, what) => observed.push(`rtx:${what}`), onTimeout: () => observed.push('timeout') },
  });
  layer.sendRequest(request({ method: 'OPTIONS', branch: 'z9hG4bKs1' }), UDP_TARGET);
  clock.runAll();
  t.same(seen, ['client-non-invite:terminated']);
  t.equal(observed[0], 'created:client-non-invite');
  t.equal(observed.filter((o) => o === 'rtx:request').length, 10);
  t.equal(observed.at(-1), 'timeout');
  t.equal(layer.stats.created['client-non-invite'], 1);
  t.equal(layer.stats.terminated['client-non-invite'], 1);
  t.equal(layer.stats.timeouts, 1);
  t.equal(layer.stats.retransmissionsSent, 10);
});

t.test('memory: every table is empty and no timer is left once a mixed run has ended', async (t) => {
  const { layer, user, clock } = make((req, tx) => {
    const status = req.method === 'INVITE' ? (Number(req.cseq.seq) % 2 ? 200 : 486) : 200;
    tx.respond(createResponse(req, status, undefined, { toTag: 't' }));
  });
  for (let i = 0; i < 50; i++) {
    layer.receive(request({ method: 'INVITE', branch: `z9hG4bKsrv${i}`, cseq: i + 1, callId: `inv${i}` }), SRC);
    layer.receive(request({ method: 'MESSAGE', branch: `z9hG4bKmsg${i}`, callId: `msg${i}` }), SRC);
    layer.receive(request({ method: 'INVITE', branch: '', cseq: i + 1, callId: `legacy${i}` }), SRC);
    const inv = request({ method: 'INVITE', branch: `z9hG4bKcli${i}`, callId: `cli${i}` });
    layer.sendRequest(inv, UDP_TARGET);
    layer.receive(response(inv, i % 2 ? 200 : 503, 'r'), SRC);
    layer.sendRequest(request({ method: 'OPTIONS', branch: `z9hG4bKopt${i}` }), UDP_TARGET); // will time out
  }
  for (let i = 0; i < 50; i += 2) layer.receive(request({ method: 'ACK', branch: `z9hG4bKsrv${i + 1}`, cseq: i + 2, callId: `inv${i + 1}`, toTag: 't' }), SRC);
  t.equal(user.requests.length, 150);
  t.ok(layer.size.client > 0 && layer.size.server > 0);
  clock.runAll();
  t.same(layer.size, { client: 0, server: 0 });
  t.equal(clock.pending, 0);
  const s = layer.stats;
  for (const kind of ['client-invite', 'client-non-invite', 'server-invite', 'server-non-invite'] as const) {
    t.equal(s.terminated[kind], s.created[kind], `${kind}: every created transaction terminated`);
  }
});

/**
 * Two layers wired through a lossy in-memory network on one ManualClock: the state machines'
 * retransmissions must get a transaction through when the first packets are lost.
 */
t.test('end to end over a lossy network: lost INVITE, lost final response and lost ACK are recovered by retransmission', async (t) => {
  const clock = new ManualClock();
  const A: TransportTarget = { protocol: 'udp', host: '10.0.0.1', port: 5060 };
  const B: TransportTarget = { protocol: 'udp', host: '10.0.0.2', port: 5060 };
  let dropped = 0;
  const drops = new Map<string, number>([['INVITE', 1], ['486', 2], ['ACK', 1]]);
  const wire = (deliver: () => TransactionLayer, from: typeof A) => ({
    send(data: Outgoing, _target: TransportTarget) {
      const bytes = outgoingBytes(data);
      const parsed = parseMessage(bytes);
      if (!parsed.ok) throw new Error('unparsable on the wire');
      const label = parsed.message.kind === 'request' ? parsed.message.method : String(parsed.message.status);
      const left = drops.get(label) ?? 0;
      if (left > 0) {
        drops.set(label, left - 1);
        dropped++;
        return;
      }
      clock.setTimer(() => deliver().receive(parsed.message, { protocol: 'udp', remoteAddress: from.host, remotePort: from.port, localAddress: '', localPort: 5060 }), 20);
    },
  });
  const uasUser = recorder((req, tx) => {
    // Answer after 1 s of "ringing".
    clock.setTimer(() => tx.respond(createResponse(req, 486, undefined, { toTag: 'uas' })), 1000);
  });
  const uas: TransactionLayer = new TransactionLayer({ transport: wire(() => uac, B), user: uasUser, clock, trying: 'off' });
  const uac: TransactionLayer = new TransactionLayer({ transport: wire(() => uas, A), user: recorder(), clock });
  const inv = parseRequest(
    ['INVITE sip:bob@10.0.0.2 SIP/2.0', 'Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKe2e1', 'Max-Forwards: 70', 'To: <sip:bob@10.0.0.2>', 'From: <sip:alice@10.0.0.1>;tag=a', 'Call-ID: e2e1', 'CSeq: 1 INVITE', 'Content-Length: 0', '', ''].join('\r\n'),
  );
  const finals: number[] = [];
  uac.sendRequest(inv, B, { onResponse: (r) => r.status >= 200 && finals.push(r.status) });
  clock.runAll();
  t.equal(dropped, 4);
  t.same(finals, [486], 'the UAC TU sees the final response exactly once');
  t.equal(uasUser.requests.length, 1, 'the UAS TU sees the INVITE exactly once');
  t.equal(uas.stats.timeouts, 0, 'the UAS got its ACK before Timer H');
  t.ok(uac.stats.retransmissionsSent >= 2, 'INVITE retransmitted and ACK re-sent');
  t.same(uac.size, { client: 0, server: 0 });
  t.same(uas.size, { client: 0, server: 0 });
});
