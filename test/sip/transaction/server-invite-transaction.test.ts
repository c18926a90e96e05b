import t from 'tap';
import { createResponse } from '../../../sip/message/factory.js';
import { ServerInviteTransaction, type TryingPolicy } from '../../../sip/transaction/server-invite-transaction.js';
import type { ReceivedFrom, TransportTarget } from '../../../sip/transport/transport.js';
import { TransportError } from '../../../sip/transport/errors.js';
import { flush, request, setup } from './helpers.js';

const UDP_SOURCE: ReceivedFrom = { protocol: 'udp', remoteAddress: '192.0.2.1', remotePort: 5060, localAddress: '192.0.2.9', localPort: 5060 };
const TCP_SOURCE: ReceivedFrom = { ...UDP_SOURCE, protocol: 'tcp', connectionId: 'tcp-1' };

function make(opts: { trying?: TryingPolicy; reliable?: boolean } = {}) {
  const env = setup();
  const source = opts.reliable ? TCP_SOURCE : UDP_SOURCE;
  const target: TransportTarget = { protocol: source.protocol, host: '192.0.2.1', port: 5060, ...(source.connectionId ? { connectionId: source.connectionId } : {}) };
  const req = request({ method: 'INVITE', transport: opts.reliable ? 'TCP' : 'UDP' });
  const events: string[] = [];
  const tx = new ServerInviteTransaction('k', req, source, target, env.ctx, opts.trying ?? 'immediate');
  tx.delegate = {
    onTimeout: () => events.push('timeout'),
    onTransportError: () => events.push('transport-error'),
    onTerminated: () => events.push('terminated'),
  };
  tx.start();
  return { ...env, req, tx, events, target };
}

const statusesOf = (env: { sender: { responses(): { status: number }[] } }) => env.sender.responses().map((r) => r.status);

t.test('§17.2.1: it enters Proceeding and MUST generate a 100 (Trying)', async (t) => {
  const env = make();
  t.equal(env.tx.state, 'proceeding');
  t.same(statusesOf(env), [100]);
  const trying = env.sender.responses()[0]!;
  t.notOk(trying.to.params.has('tag'), 'no To tag on 100 Trying');
  t.equal(trying.get('Via'), env.req.get('Via'));
  t.same(env.sender.sent[0]!.target, env.target, 'sent to the response target');
});

t.test('§17.2.1: deferred 100 Trying is sent only when the TU has not answered within 200 ms', async (t) => {
  const late = make({ trying: 'deferred' });
  late.clock.advance(199);
  t.same(statusesOf(late), []);
  late.clock.advance(1);
  t.same(statusesOf(late), [100]);

  const quick = make({ trying: 'deferred' });
  quick.clock.advance(150);
  quick.tx.respond(createResponse(quick.req, 180, undefined, { toTag: 'uas' }));
  quick.clock.advance(1000);
  t.same(statusesOf(quick), [180], 'no 100 after the TU answered');

  const off = make({ trying: 'off' });
  off.clock.advance(1000);
  t.same(statusesOf(off), []);
});

t.test("§17.2.1 'auto': 100 Trying at once over UDP; over a reliable transport only if the TU is silent for 200 ms", async (t) => {
  const udp = make({ trying: 'auto' });
  t.same(statusesOf(udp), [100], 'UDP: at once, to stop the retransmissions');

  const quiet = make({ trying: 'auto', reliable: true });
  t.same(statusesOf(quiet), [], 'TCP: nothing yet');
  quiet.clock.advance(200);
  t.same(statusesOf(quiet), [100], 'TCP: after 200 ms of silence');

  const answered = make({ trying: 'auto', reliable: true });
  answered.clock.advance(20);
  answered.tx.respond(createResponse(answered.req, 180, undefined, { toTag: 'uas' }));
  answered.clock.advance(1000);
  t.same(statusesOf(answered), [180], 'TCP: a quick 180 makes the 100 moot');
});

t.test('§17.2.1: an INVITE retransmission in Proceeding MUST re-send the most recent provisional response', async (t) => {
  const env = make();
  env.tx.receiveRequest(request({ method: 'INVITE' }));
  env.tx.respond(createResponse(env.req, 180, undefined, { toTag: 'uas' }));
  env.tx.respond(createResponse(env.req, 183, undefined, { toTag: 'uas' }));
  env.tx.receiveRequest(request({ method: 'INVITE' }));
  t.same(statusesOf(env), [100, 100, 180, 183, 183]);
  t.equal(env.tx.state, 'proceeding');
});

t.test('RFC 6026 §8.5: a 2xx from the TU MUST be sent once and move to Accepted; it is not retransmitted by the transaction', async (t) => {
  const env = make();
  const ok = createResponse(env.req, 200, undefined, { toTag: 'uas' });
  t.equal(env.tx.respond(ok), true);
  t.equal(env.tx.state, 'accepted');
  env.clock.advance(10_000);
  t.same(statusesOf(env), [100, 200], 'no 2xx retransmission from the transaction');
  // RFC 6026 §8.7: "Any such retransmissions are absorbed entirely within the server transaction."
  env.tx.receiveRequest(request({ method: 'INVITE' }));
  t.same(statusesOf(env), [100, 200], 'an INVITE retransmission is absorbed in Accepted');
  // RFC 6026: 2xx from the TU in Accepted MUST be passed to the transport.
  t.equal(env.tx.respond(createResponse(env.req, 200, undefined, { toTag: 'uas' })), true);
  t.same(statusesOf(env), [100, 200, 200]);
  t.equal(env.tx.respond(createResponse(env.req, 486, undefined, { toTag: 'uas' })), false, 'a non-2xx after a 2xx is discarded');
  t.equal(env.tx.receiveAck(request({ method: 'ACK' })), 'to-tu', 'RFC 6026 Figure 5: ACK in Accepted goes to the TU');
  // Timer L = 64*T1
  env.clock.advance(21_999);
  t.equal(env.tx.state, 'accepted');
  env.clock.advance(1);
  t.equal(env.tx.state, 'terminated');
  t.same(env.events, ['terminated']);
});

t.test('§17.2.1: a 300-699 response MUST be sent and the transaction enters Completed; Timer G retransmits up to T2, Timer H ends it', async (t) => {
  const env = make({ trying: 'off' });
  env.tx.respond(createResponse(env.req, 486, undefined, { toTag: 'uas' }));
  t.equal(env.tx.state, 'completed');
  env.clock.advance(31_999);
  // G: 500, 1000, 2000, 4000, 4000 ... (MIN(2*G, T2))
  t.same(env.sender.times((m) => m.kind === 'response'), [0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
  t.equal(env.tx.state, 'completed');
  env.clock.advance(1);
  // "MUST indicate to the TU that a transaction failure has occurred"
  t.equal(env.tx.state, 'terminated');
  t.same(env.events, ['timeout', 'terminated']);
  t.equal(env.clock.pending, 0);
});

t.test('§17.2.1: a request retransmission in Completed SHOULD re-send the final response', async (t) => {
  const env = make({ trying: 'off' });
  env.tx.respond(createResponse(env.req, 404, undefined, { toTag: 'uas' }));
  env.tx.receiveRequest(request({ method: 'INVITE' }));
  t.same(statusesOf(env), [404, 404]);
  t.equal(env.tx.respond(createResponse(env.req, 500, undefined, { toTag: 'uas' })), false, 'a second final response is discarded');
});

t.test('§17.2.1: an ACK in Completed MUST move to Confirmed, stop Timer G, and Timer I (T4) then terminates', async (t) => {
  const env = make({ trying: 'off' });
  env.tx.respond(createResponse(env.req, 486, undefined, { toTag: 'uas' }));
  env.clock.advance(600);
  t.equal(env.tx.receiveAck(request({ method: 'ACK', toTag: 'uas' })), 'absorbed');
  t.equal(env.tx.state, 'confirmed');
  const sentBefore = env.sender.sent.length;
  t.equal(env.tx.receiveAck(request({ method: 'ACK', toTag: 'uas' })), 'absorbed', 'Confirmed absorbs further ACKs');
  env.tx.receiveRequest(request({ method: 'INVITE' }));
  env.clock.advance(4_999);
  t.equal(env.sender.sent.length, sentBefore, 'no retransmissions in Confirmed');
  t.equal(env.tx.state, 'confirmed');
  env.clock.advance(1);
  t.equal(env.tx.state, 'terminated');
  t.same(env.events, ['terminated']);
});

t.test('§17.2.1: on a reliable transport Timer G is not set and Timer I is zero', async (t) => {
  const env = make({ reliable: true, trying: 'off' });
  env.tx.respond(createResponse(env.req, 486, undefined, { toTag: 'uas' }));
  t.same(env.tx.runningTimers, ['H']);
  env.tx.receiveAck(request({ method: 'ACK', toTag: 'uas', transport: 'TCP' }));
  t.equal(env.tx.state, 'terminated');
  t.equal(env.clock.pending, 0);
  t.equal(env.sender.sent[0]!.target.connectionId, 'tcp-1', 'responses go back on the request\'s connection');
});

t.test('§17.2.4: a transport failure informs the TU and terminates', async (t) => {
  const env = make({ trying: 'off' });
  env.sender.fail = new TransportError('SIP_TRANSPORT_CONNECTION_CLOSED', 'gone');
  env.tx.respond(createResponse(env.req, 486, undefined, { toTag: 'uas' }));
  await flush();
  t.equal(env.tx.state, 'terminated');
  t.same(env.events, ['transport-error', 'terminated']);
  t.equal(env.clock.pending, 0);
});

t.test('it refuses a request that is not an INVITE', async (t) => {
  const env = setup();
  t.throws(() => new ServerInviteTransaction('k', request({ method: 'BYE' }), UDP_SOURCE, { protocol: 'udp', host: 'x', port: 1 }, env.ctx), TypeError);
});

t.test('the To tag of the final response is remembered for RFC 2543 ACK matching', async (t) => {
  const env = make({ trying: 'off' });
  t.equal(env.tx.responseToTag, undefined);
  env.tx.respond(createResponse(env.req, 480, undefined, { toTag: 'abc' }));
  t.equal(env.tx.responseToTag, 'abc');
});

t.test('a deferred 100 Trying answers the request as it arrived, even if the TU forwards (changes) it meanwhile', async (t) => {
  const env = make({ trying: 'deferred' });
  const originalVia = env.req.get('Via');
  env.req.prepend('Via', 'SIP/2.0/UDP proxy.example.com;branch=z9hG4bKfwd');
  env.clock.advance(200);
  const trying = env.sender.responses(100)[0]!;
  t.equal(trying.getAll('Via').length, 1);
  t.equal(trying.get('Via'), originalVia);
});

t.test('in Completed an INVITE transaction keeps the skeletons of its request and final response (status and To tag)', async (t) => {
  const env = make();
  env.tx.respond(createResponse(env.req, 486, undefined, { toTag: 'busy', headers: [['Retry-After', '30']] }));
  t.equal(env.tx.state, 'completed');
  t.not(env.tx.request, env.req);
  t.equal(env.tx.request.method, 'INVITE');
  t.equal(env.tx.lastResponse?.status, 486);
  t.equal(env.tx.lastResponse?.get('Retry-After'), undefined);
  t.equal(env.tx.responseToTag, 'busy');
});
