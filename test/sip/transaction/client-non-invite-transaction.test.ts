import t from 'tap';
import { ClientNonInviteTransaction } from '../../../sip/transaction/client-non-invite-transaction.js';
import type { SipResponse } from '../../../sip/message/model.js';
import { TransportError } from '../../../sip/transport/errors.js';
import { parseMessage } from '../../../sip/message/parser.js';
import { createResponse } from '../../../sip/message/factory.js';
import { ManualClock } from '../../../sip/transaction/manual-clock.js';
import { resolveTimerSettings } from '../../../sip/transaction/timers.js';
import { flush, request, response, setup, TCP_TARGET, UDP_TARGET } from './helpers.js';

function make(target = UDP_TARGET, method = 'OPTIONS') {
  const env = setup();
  const req = request({ method });
  const got: SipResponse[] = [];
  const events: string[] = [];
  const tx = new ClientNonInviteTransaction('k', req, target, env.ctx, {
    onResponse: (r) => got.push(r),
    onTimeout: () => events.push('timeout'),
    onTransportError: () => events.push('transport-error'),
    onTerminated: () => events.push('terminated'),
  });
  tx.start();
  return { ...env, req, tx, got, events };
}

const isReq = (m: { kind: string }) => m.kind === 'request';

t.test('§17.1.2.2: timer E starts at T1 and backs off to MIN(2*E, T2) while Trying; timer F times out at 64*T1', async (t) => {
  const { clock, sender, tx, events } = make();
  t.equal(tx.state, 'trying');
  clock.advance(31_999);
  // intervals 500, 1000, 2000, 4000, 4000, ... (T2 = 4 s)
  t.same(sender.times(isReq), [0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
  t.equal(tx.state, 'trying');
  clock.advance(1);
  t.equal(tx.state, 'terminated');
  t.same(events, ['timeout', 'terminated'], 'SHOULD inform the TU about the timeout, and then enter Terminated');
  t.equal(clock.pending, 0);
});

t.test('§17.1.2.2: in Proceeding, timer E MUST be reset with a value of T2', async (t) => {
  const { clock, sender, tx, req, got } = make();
  clock.advance(600); // first retransmission at 500, next E due at 1500
  tx.receiveResponse(response(req, 100));
  t.equal(tx.state, 'proceeding');
  t.equal(got.length, 1, 'the provisional MUST be passed to the TU');
  clock.advance(13_900); // to 14500
  t.same(sender.times(isReq), [0, 500, 1500, 5500, 9500, 13500]);
});

t.test('§17.1.2.2: if Timer F fires in Proceeding the TU MUST be informed of a timeout', async (t) => {
  const { clock, tx, req, events } = make();
  tx.receiveResponse(response(req, 180, 'x'));
  clock.advance(32_000);
  t.equal(tx.state, 'terminated');
  t.same(events, ['timeout', 'terminated']);
});

t.test('§17.1.2.2: a final response in Trying MUST be passed to the TU and the transaction MUST go to Completed; Timer K = T4', async (t) => {
  const { clock, sender, tx, req, got, events } = make();
  tx.receiveResponse(response(req, 200, 'x'));
  t.equal(tx.state, 'completed');
  t.same(got.map((r) => r.status), [200]);
  clock.advance(4_999);
  t.equal(sender.sent.length, 1, 'no retransmission once Completed');
  t.equal(tx.state, 'completed');
  clock.advance(1);
  t.equal(tx.state, 'terminated');
  t.same(events, ['terminated']);
});

t.test('§17.1.2.2: Completed buffers response retransmissions; they are not passed to the TU', async (t) => {
  const { tx, req, got } = make();
  tx.receiveResponse(response(req, 180, 'x'));
  tx.receiveResponse(response(req, 404, 'x'));
  tx.receiveResponse(response(req, 404, 'x'));
  tx.receiveResponse(response(req, 200, 'x'));
  t.same(got.map((r) => r.status), [180, 404]);
});

t.test('§17.1.2.2: on a reliable transport Timer E is not used and Timer K is zero', async (t) => {
  const { clock, sender, tx, req } = make(TCP_TARGET, 'REGISTER');
  clock.advance(10_000);
  t.equal(sender.sent.length, 1);
  tx.receiveResponse(response(req, 200, 'x'));
  t.equal(tx.state, 'terminated');
  t.equal(clock.pending, 0);
});

t.test('§17.1.4: a transport failure on a retransmission informs the TU and terminates', async (t) => {
  const { clock, sender, tx, events } = make();
  sender.fail = new TransportError('SIP_TRANSPORT_SEND_FAILED', 'unreachable');
  clock.advance(500);
  await flush();
  t.equal(tx.state, 'terminated');
  t.same(events, ['transport-error', 'terminated']);
});

t.test('it refuses INVITE and ACK', async (t) => {
  const env = setup();
  t.throws(() => new ClientNonInviteTransaction('k', request({ method: 'INVITE' }), UDP_TARGET, env.ctx), TypeError);
  t.throws(() => new ClientNonInviteTransaction('k', request({ method: 'ACK' }), UDP_TARGET, env.ctx), TypeError);
});

t.test('a TU that throws from onResponse still gets Timer K started (no stuck transaction)', async (t) => {
  const env = setup();
  const req = request({ method: 'BYE' });
  const tx = new ClientNonInviteTransaction('k', req, UDP_TARGET, env.ctx, { onResponse: () => { throw new Error('tu bug'); } });
  tx.start();
  t.throws(() => tx.receiveResponse(response(req, 200, 'x')), /tu bug/);
  t.same(tx.runningTimers, ['K']);
  env.clock.runAll();
  t.equal(tx.state, 'terminated');
});

t.test('the delegate may take responses split into onProvisional and onFinal', async (t) => {
  const env = setup();
  const req = request({ method: 'SUBSCRIBE' });
  const seen: string[] = [];
  const tx = new ClientNonInviteTransaction('k', req, UDP_TARGET, env.ctx, {
    onProvisional: (r) => seen.push(`p${r.status}`),
    onFinal: (r) => seen.push(`f${r.status}`),
  });
  tx.start();
  tx.receiveResponse(response(req, 100));
  tx.receiveResponse(response(req, 202, 'x'));
  t.same(seen, ['p100', 'f202']);
});

t.test('in Completed (Timer K) the transaction keeps the request skeleton only, and still absorbs retransmitted responses', async (t) => {
  const { tx, got, req } = make(UDP_TARGET, 'REGISTER');
  req.set('Contact', '<sip:alice@192.0.2.1>');
  tx.receiveResponse(response(req, 200));
  t.equal(tx.state, 'completed');
  t.not(tx.request, req);
  t.equal(tx.request.method, 'REGISTER');
  t.equal(tx.request.topVia?.params.get('branch'), req.topVia?.params.get('branch'), 'the Via a matcher compares stays');
  t.equal(tx.request.get('Contact'), undefined);
  tx.receiveResponse(response(req, 200));
  t.equal(got.length, 1, 'the retransmission is absorbed, not passed up');
});

t.test('a waiting transaction gives its request back from the skeleton text, even past the parser limits for network input', async (t) => {
  const vias = Array.from({ length: 200 }, (_, i) => `Via: SIP/2.0/UDP hop${i}.example.com;branch=z9hG4bKhop${i}`);
  const { tx, req } = make(UDP_TARGET, 'OPTIONS');
  const text = request({ method: 'OPTIONS' }).toString().replace('Max-Forwards:', `${vias.join('\r\n')}\r\nMax-Forwards:`);
  const parsed = parseMessage(text, { maxHeaders: 1000 });
  if (!parsed.ok || parsed.message.kind !== 'request') throw new Error('fixture does not parse');
  const deep = parsed.message;
  t.equal(deep.vias.length, 201, 'fixture: 201 Vias, more header lines than the default limit of 128');
  // A sender that does not parse what it is given (the recording one would, with the default limits).
  const ctx = { clock: new ManualClock(), timers: resolveTimerSettings(), send: () => {} };
  const big = new ClientNonInviteTransaction('deep', deep, UDP_TARGET, ctx, {});
  big.start();
  big.receiveResponse(createResponse(deep, 200)); // built, not re-parsed: it has the 201 Vias too
  t.equal(big.state, 'completed');
  t.equal(big.request.vias.length, 201, 'every Via is back');
  t.equal(big.request.callId, deep.callId);
  tx.receiveResponse(response(req, 200));
  t.equal(tx.request, tx.request, 'parsed once, then kept');
});
