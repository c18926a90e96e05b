import t from 'tap';
import { createResponse } from '../../../sip/message/factory.js';
import { ServerNonInviteTransaction } from '../../../sip/transaction/server-non-invite-transaction.js';
import type { ReceivedFrom } from '../../../sip/transport/transport.js';
import { TransportError } from '../../../sip/transport/errors.js';
import { flush, request, setup } from './helpers.js';

function make(reliable = false) {
  const env = setup();
  const source: ReceivedFrom = { protocol: reliable ? 'tcp' : 'udp', remoteAddress: '192.0.2.1', remotePort: 5060, localAddress: '192.0.2.9', localPort: 5060 };
  const req = request({ method: 'REGISTER' });
  const events: string[] = [];
  const tx = new ServerNonInviteTransaction('k', req, source, { protocol: source.protocol, host: '192.0.2.1', port: 5060 }, env.ctx);
  tx.delegate = { onTransportError: () => events.push('transport-error'), onTerminated: () => events.push('terminated') };
  return { ...env, req, tx, events };
}

const statuses = (env: ReturnType<typeof make>) => env.sender.responses().map((r) => r.status);

t.test('§17.2.2: it starts in Trying and request retransmissions there are discarded', async (t) => {
  const env = make();
  t.equal(env.tx.state, 'trying');
  env.tx.receiveRequest(request({ method: 'REGISTER' }));
  t.equal(env.sender.sent.length, 0);
});

t.test('§17.2.2: a provisional from the TU MUST move Trying to Proceeding; a retransmission then re-sends it', async (t) => {
  const env = make();
  env.tx.respond(createResponse(env.req, 100));
  t.equal(env.tx.state, 'proceeding');
  env.tx.receiveRequest(request({ method: 'REGISTER' }));
  t.same(statuses(env), [100, 100]);
});

t.test('§17.2.2: a final response MUST move to Completed and be sent; retransmissions re-send it; Timer J = 64*T1', async (t) => {
  const env = make();
  t.equal(env.tx.respond(createResponse(env.req, 200, undefined, { toTag: 'r' })), true);
  t.equal(env.tx.state, 'completed');
  env.tx.receiveRequest(request({ method: 'REGISTER' }));
  t.same(statuses(env), [200, 200]);
  t.equal(env.tx.respond(createResponse(env.req, 500, undefined, { toTag: 'r' })), false, 'other final responses MUST be discarded in Completed');
  t.same(statuses(env), [200, 200]);
  env.clock.advance(31_999);
  t.equal(env.tx.state, 'completed');
  env.clock.advance(1);
  t.equal(env.tx.state, 'terminated');
  t.same(env.events, ['terminated']);
});

t.test('§17.2.2: on a reliable transport Timer J is zero', async (t) => {
  const env = make(true);
  env.tx.respond(createResponse(env.req, 200, undefined, { toTag: 'r' }));
  t.equal(env.tx.state, 'terminated');
  t.equal(env.clock.pending, 0);
});

t.test('§17.2.4: a failed send informs the TU and terminates', async (t) => {
  const env = make();
  env.sender.fail = new TransportError('SIP_TRANSPORT_SEND_FAILED', 'x');
  env.tx.respond(createResponse(env.req, 200, undefined, { toTag: 'r' }));
  await flush();
  t.equal(env.tx.state, 'terminated');
  t.same(env.events, ['transport-error', 'terminated']);
  t.equal(env.clock.pending, 0);
});

t.test('it refuses INVITE and ACK', async (t) => {
  const env = setup();
  const src: ReceivedFrom = { protocol: 'udp', remoteAddress: 'a', remotePort: 1, localAddress: 'b', localPort: 2 };
  t.throws(() => new ServerNonInviteTransaction('k', request({ method: 'INVITE' }), src, { protocol: 'udp', host: 'a', port: 1 }, env.ctx), TypeError);
  t.throws(() => new ServerNonInviteTransaction('k', request({ method: 'ACK' }), src, { protocol: 'udp', host: 'a', port: 1 }, env.ctx), TypeError);
});

t.test('while Timer J runs the transaction keeps the request skeleton and the response bytes only, and still re-sends them', async (t) => {
  const env = make();
  env.req.set('Contact', '<sip:alice@192.0.2.1>');
  env.tx.respond(createResponse(env.req, 200, undefined, { toTag: 'r', headers: [['Contact', '<sip:alice@192.0.2.1>;expires=600']] }));
  t.equal(env.tx.state, 'completed');
  t.not(env.tx.request, env.req, 'the full request is no longer held');
  t.equal(env.tx.request.callId, env.req.callId);
  t.same(env.tx.request.cseq, env.req.cseq);
  t.equal(env.tx.request.get('Contact'), undefined);
  t.equal(env.tx.lastResponse, undefined, 'the response object is dropped');
  env.tx.receiveRequest(request({ method: 'REGISTER' }));
  const sent = env.sender.sent.map((s) => s.data.toString());
  t.equal(sent.length, 2);
  t.equal(sent[1], sent[0], 'the retransmitted final response is byte-identical');
  t.match(sent[1], /Contact: <sip:alice@192\.0\.2\.1>;expires=600/);
});

t.test('a terminated transaction holds its request as a skeleton only (an outgrown Map table would keep the whole request alive)', async (t) => {
  const env = make(true);
  t.equal(env.tx.request, env.req, 'the request itself while the transaction runs');
  env.tx.respond(createResponse(env.req, 200, undefined, { toTag: 'r' }));
  t.equal(env.tx.state, 'terminated', 'Timer J is zero over TCP');
  t.not(env.tx.request, env.req, 'not the parsed request any more');
  t.equal(env.tx.request.method, 'REGISTER', 'what identifies it is still there');
  t.equal(env.tx.request.callId, env.req.callId);
  t.equal(env.tx.request.topVia?.params.get('branch'), 'z9hG4bK776asdhds');
  t.equal(env.tx.request.get('Contact'), undefined, 'the rest is gone');
  t.equal(env.tx.lastResponse, undefined, 'and so is the response');
});
