import t from 'tap';
import { ClientInviteTransaction } from '../../../sip/transaction/client-invite-transaction.js';
import type { SipResponse } from '../../../sip/message/model.js';
import { TransportError } from '../../../sip/transport/errors.js';
import { flush, request, response, setup, TCP_TARGET, UDP_TARGET } from './helpers.js';

function make(target = UDP_TARGET, extraHeaders: string[] = []) {
  const env = setup();
  const req = request({ method: 'INVITE', extraHeaders });
  const got: SipResponse[] = [];
  const events: string[] = [];
  const tx = new ClientInviteTransaction('k', req, target, env.ctx, {
    onResponse: (r) => got.push(r),
    onTimeout: () => events.push('timeout'),
    onTransportError: (e) => events.push(`transport-error:${(e as TransportError).code}`),
    onTerminated: () => events.push('terminated'),
  });
  tx.start();
  return { ...env, req, tx, got, events };
}

const isInvite = (m: { kind: string; method?: string }) => m.kind === 'request' && m.method === 'INVITE';

t.test('§17.1.1.2: on an unreliable transport it MUST start timer A at T1 and retransmit with doubling intervals', async (t) => {
  const { clock, sender, tx } = make();
  t.equal(tx.state, 'calling');
  clock.advance(31_999);
  // Sends at 0, then after 500, 1000, 2000, 4000, 8000, 16000 ms: 0, 500, 1500, 3500, 7500, 15500, 31500.
  t.same(sender.times(isInvite), [0, 500, 1500, 3500, 7500, 15500, 31500]);
  const bytes = sender.sent.map((s) => s.data.toString());
  t.ok(bytes.every((b) => b === bytes[0]), 'retransmissions are byte-identical');
});

t.test('§17.1.1.2: on a reliable transport it SHOULD NOT start timer A', async (t) => {
  const { clock, sender, tx } = make(TCP_TARGET);
  clock.advance(31_999);
  t.equal(sender.requests('INVITE').length, 1);
  t.notOk(tx.runningTimers.includes('A'));
});

t.test('§17.1.1.2: if still Calling when timer B (64*T1) fires it SHOULD inform the TU of a timeout and terminate', async (t) => {
  const { clock, tx, events } = make();
  clock.advance(31_999);
  t.equal(tx.state, 'calling');
  clock.advance(1);
  t.equal(tx.state, 'terminated');
  t.same(events, ['timeout', 'terminated']);
  t.equal(clock.pending, 0, 'no timers left behind');
});

t.test('§17.1.1.2: a provisional response moves Calling to Proceeding, stops retransmissions and MUST be passed to the TU', async (t) => {
  const { clock, sender, tx, req, got, events } = make();
  clock.advance(600); // one retransmission at 500
  tx.receiveResponse(response(req, 180, 'bob1'));
  t.equal(tx.state, 'proceeding');
  t.equal(got.length, 1);
  t.equal(got[0]!.status, 180);
  clock.advance(100_000);
  t.equal(sender.requests('INVITE').length, 2, 'no retransmission in Proceeding');
  t.equal(tx.state, 'proceeding', 'timer B has no effect outside Calling');
  t.same(events, []);
  tx.receiveResponse(response(req, 183, 'bob1'));
  t.equal(got.length, 2, 'further provisionals are passed up too');
});

t.test('§17.1.1.2: a 300-699 response MUST move to Completed, be passed to the TU, and an ACK MUST be generated', async (t) => {
  const { sender, tx, req, got } = make(UDP_TARGET, ['Route: <sip:p1.example.com;lr>', 'Route: <sip:p2.example.com;lr>']);
  const busy = response(req, 486, 'bob-tag');
  tx.receiveResponse(busy);
  t.equal(tx.state, 'completed');
  t.equal(got.length, 1);
  const acks = sender.requests('ACK');
  t.equal(acks.length, 1);
  const ack = acks[0]!;
  // §17.1.1.3 field by field
  t.equal(ack.uriText, req.uriText, 'Request-URI equals the original request');
  t.equal(ack.callId, req.callId);
  t.equal(ack.get('From'), req.get('From'));
  t.equal(ack.get('To'), busy.get('To'), 'To equals the response (with its tag)');
  t.equal(ack.to.params.get('tag'), 'bob-tag');
  t.equal(ack.vias.length, 1, 'a single Via');
  t.equal(ack.get('Via'), req.get('Via'), 'equal to the top Via of the original request');
  t.same(ack.cseq, { seq: req.cseq.seq, method: 'ACK' });
  t.same(ack.getAll('Route'), req.getAll('Route'), 'Route header fields appear in the ACK');
  t.equal(ack.body.length, 0);
  const ackSend = sender.sent.find((s) => s.message === ack)!;
  t.same(ackSend.target, UDP_TARGET, 'sent to the same address, port and transport');
});

t.test('§17.1.1.2: the ACK MUST be generated even if the transport is reliable, and Timer D is zero there', async (t) => {
  const { sender, tx, req, events, clock } = make(TCP_TARGET);
  tx.receiveResponse(response(req, 603, 'x'));
  t.equal(sender.requests('ACK').length, 1);
  t.equal(tx.state, 'terminated', 'Timer D = 0 for reliable transports');
  t.same(events, ['terminated']);
  t.equal(clock.pending, 0);
});

t.test('§17.1.1.2: retransmissions of the final response in Completed MUST re-send the ACK and MUST NOT be passed to the TU', async (t) => {
  const { sender, tx, req, got, clock } = make();
  const final = response(req, 404, 'n');
  tx.receiveResponse(final);
  tx.receiveResponse(response(req, 404, 'n'));
  tx.receiveResponse(response(req, 404, 'n'));
  t.equal(got.length, 1);
  t.equal(sender.requests('ACK').length, 3);
  // Timer D: at least 32 s on unreliable transports.
  clock.advance(31_999);
  t.equal(tx.state, 'completed');
  clock.advance(1);
  t.equal(tx.state, 'terminated');
});

t.test('RFC 6026 §8.4: a 2xx MUST move the transaction to Accepted and be passed to the TU; later 2xx are passed up too', async (t) => {
  const { sender, tx, req, got, clock, events } = make();
  tx.receiveResponse(response(req, 100));
  tx.receiveResponse(response(req, 200, 'fork1'));
  t.equal(tx.state, 'accepted');
  t.equal(sender.requests('ACK').length, 0, 'the ACK for a 2xx is the TU\'s business');
  tx.receiveResponse(response(req, 200, 'fork1'));
  tx.receiveResponse(response(req, 200, 'fork2'));
  t.same(got.map((r) => r.status), [100, 200, 200, 200]);
  tx.receiveResponse(response(req, 180, 'fork3'));
  tx.receiveResponse(response(req, 486, 'fork3'));
  t.equal(got.length, 4, 'non-2xx in Accepted are not passed up');
  // Timer M = 64*T1
  clock.advance(31_999);
  t.equal(tx.state, 'accepted');
  clock.advance(1);
  t.equal(tx.state, 'terminated');
  t.same(events, ['terminated']);
});

t.test('RFC 6026: Timer M runs on reliable transports too', async (t) => {
  const { tx, req, clock } = make(TCP_TARGET);
  tx.receiveResponse(response(req, 200, 'a'));
  t.equal(tx.state, 'accepted');
  clock.advance(32_000);
  t.equal(tx.state, 'terminated');
});

t.test('§17.1.4: a transport error MUST be reported to the TU and the transaction terminates', async (t) => {
  const env = setup();
  env.sender.fail = new TransportError('SIP_TRANSPORT_SEND_FAILED', 'boom');
  const events: string[] = [];
  const tx = new ClientInviteTransaction('k', request(), UDP_TARGET, env.ctx, {
    onTransportError: (e) => events.push((e as TransportError).code),
    onTerminated: () => events.push('terminated'),
  });
  tx.start();
  await flush();
  t.equal(tx.state, 'terminated');
  t.same(events, ['SIP_TRANSPORT_SEND_FAILED', 'terminated']);
  t.equal(env.clock.pending, 0);
});

t.test('a transport that throws synchronously is a transport error too', async (t) => {
  const env = setup();
  const events: string[] = [];
  const ctx = { ...env.ctx, send: () => { throw new Error('sync'); } };
  const tx = new ClientInviteTransaction('k', request(), UDP_TARGET, ctx, { onTransportError: (e) => events.push(e.message) });
  tx.start();
  t.equal(tx.state, 'terminated');
  t.same(events, ['sync']);
});

t.test('it refuses a request that is not an INVITE', async (t) => {
  const env = setup();
  t.throws(() => new ClientInviteTransaction('k', request({ method: 'OPTIONS' }), UDP_TARGET, env.ctx), TypeError);
});

t.test('T1 is configurable: Timer A and B scale with it', async (t) => {
  const env = setup();
  const ctx = { ...env.ctx, timers: { ...env.ctx.timers, t1: 100 } };
  let timedOut = -1;
  const tx = new ClientInviteTransaction('k', request(), UDP_TARGET, ctx, { onTimeout: () => (timedOut = env.clock.now()) });
  tx.start();
  env.clock.runAll();
  t.same(env.sender.times(isInvite), [0, 100, 300, 700, 1500, 3100, 6300]);
  t.equal(timedOut, 6400, 'Timer B = 64*T1');
});

t.test('§17.1.1.3: the ACK is built from the original request as sent, even if the TU changed its object afterwards', async (t) => {
  const { sender, tx, req } = make();
  const sentFrom = req.get('From');
  req.set('From', '<sip:mallory@example.com>;tag=zzz');
  req.prepend('Via', 'SIP/2.0/UDP other.example.com;branch=z9hG4bKother');
  tx.receiveResponse(response(request({ method: 'INVITE' }), 500, 'x'));
  const ack = sender.requests('ACK')[0]!;
  t.equal(ack.get('From'), sentFrom);
  t.equal(ack.topVia?.params.get('branch'), 'z9hG4bK776asdhds');
});
