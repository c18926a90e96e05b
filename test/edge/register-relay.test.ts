/**
 * REGISTER relayed to cores over TCP without a transaction pair (edge/register-relay.ts): the core
 * must get what the ordinary path would send, the browser what the core answered minus our Via,
 * and every failure must end the way the ordinary path ends it.
 */
import t from 'tap';
import { parseNameAddr } from '../../sip/grammar/name-addr.js';
import type { SipRequest } from '../../sip/message/model.js';
import { createResponse } from '../../sip/message/factory.js';
import { eventually, sleep, startEdge } from './fixtures/edge-fixture.js';
import { register } from './fixtures/sip-ws-client.js';

const TCP = { coreTransport: 'tcp' as const };

function pathOf(reg: SipRequest): { text: string; token: string; params: Map<string, string | null> } {
  const text = reg.values('Path')[0]!;
  const na = parseNameAddr(text);
  return { text, token: na.uri.user!, params: na.uri.params };
}

t.test('RFC 3327 §5.2 over TCP: our Via on top, received stamped, Max-Forwards one less, Path with the flow token; the 200 comes back without our Via', async (t) => {
  const fx = await startEdge(t, TCP);
  const client = await fx.connect();
  client.send(register({ outbound: true, extra: ['User-Agent: relay-test'] }));
  const ok = await client.waitForSip(/^SIP\/2.0 200/);
  const reg = await fx.core.waitForRequest('REGISTER');

  t.equal(reg.vias.length, 2, 'one Via added');
  t.equal(reg.vias[0]!.transport, 'TCP', 'ours, over TCP');
  t.equal(reg.vias[0]!.port, fx.addr.udp.port, 'naming the core-facing side');
  t.match(reg.vias[0]!.params.get('branch'), /^z9hG4bK/, 'with an RFC 3261 branch');
  t.notOk(reg.vias[0]!.params.has('rport'), 'no rport over TCP');
  t.equal(reg.vias[1]!.params.get('received'), '127.0.0.1', 'received added to the browser .invalid Via');
  t.equal(reg.maxForwards, 69, 'Max-Forwards decremented');
  t.equal(reg.get('User-Agent'), 'relay-test', 'other headers as they came');
  t.equal(reg.values('Path').length, 1, 'one Path added');
  const path = pathOf(reg);
  t.equal(path.params.get('transport'), 'tcp');
  t.ok(path.params.has('lr') && path.params.has('ob'), 'loose routing, and ob for an outbound UA');
  const decoded = fx.codec.decode(path.token);
  t.ok(decoded.ok && decoded.ref.transport === 'ws', 'the Path user part is a flow token of this edge');
  t.ok(reg.values('Supported').includes('path'), 'Supported: path added');
  t.equal(reg.get('Content-Length'), '0');

  t.equal(ok.vias.length, 1, 'the 200 OK reaches the browser with only its own Via');
  t.equal(ok.vias[0]!.params.get('received'), '127.0.0.1');
  t.equal(ok.values('Path')[0], path.text, 'the registrar echoed Path back');
  t.ok(await eventually(() => fx.edge.status().pendingForwardings === 0 && fx.edge.transactions.server === 0 && fx.edge.transactions.client === 0, 2000),
    'nothing is held once answered, and no transaction was made');
});

t.test('RFC 3261 §16.6 step 3: a REGISTER without Max-Forwards gets 70; with Max-Forwards 0 it is answered 483 and goes nowhere', async (t) => {
  const fx = await startEdge(t, TCP);
  const client = await fx.connect();
  client.send(register({ user: 'nomf' }).replace('Max-Forwards: 70\r\n', ''));
  await client.waitForSip(/^SIP\/2.0 200/);
  const reg = await fx.core.waitForRequest('REGISTER');
  t.equal(reg.maxForwards, 70);
  client.send(register({ user: 'zeromf' }).replace('Max-Forwards: 70', 'Max-Forwards: 0'));
  await client.waitForSip(/^SIP\/2.0 483/);
  await sleep(100);
  t.equal(fx.core.requests('REGISTER').length, 1, 'the core never saw the second one');
});

t.test('RFC 3261 §16.7: 100 Trying is hop-by-hop; a final answer after it still reaches the browser', async (t) => {
  const fx = await startEdge(t, TCP);
  fx.core.onRequest = (req, reply) => {
    if (req.method !== 'REGISTER') return false;
    reply(createResponse(req, 100));
    setTimeout(() => reply(createResponse(req, 403, 'Not Today', { toTag: true })), 50);
    return true;
  };
  const client = await fx.connect();
  client.send(register({ user: 'tried' }));
  const answer = await client.waitForSip(/^SIP\/2.0 403/);
  t.equal(answer.kind === 'response' ? answer.reason : '', 'Not Today', 'the core’s final answer, as it came');
  t.notOk(client.frames.some((m) => /^SIP\/2.0 100/.test(m)), 'no 100 reached the browser');
});

t.test('a REGISTER sent again while the first waits is absorbed: the core sees one', async (t) => {
  const fx = await startEdge(t, TCP);
  let answer: (() => void) | undefined;
  fx.core.onRequest = (req, reply) => {
    if (req.method !== 'REGISTER') return false;
    answer = () => reply(createResponse(req, 200, undefined, { toTag: true }));
    return true;
  };
  const client = await fx.connect();
  const text = register({ user: 'twice' });
  client.send(text);
  await fx.core.waitForRequest('REGISTER');
  client.send(text);
  await sleep(200);
  t.equal(fx.core.requests('REGISTER').length, 1, 'one REGISTER at the core');
  answer?.();
  await client.waitForSip(/^SIP\/2.0 200/);
});

t.test('two REGISTERs of one flow wait at once: a copy of the older is absorbed, both answers arrive, and nothing is held afterwards', async (t) => {
  const fx = await startEdge(t, TCP);
  const answers: Array<() => void> = [];
  fx.core.onRequest = (req, reply) => {
    if (req.method !== 'REGISTER') return false;
    answers.push(() => reply(createResponse(req, 200, undefined, { toTag: true })));
    return true;
  };
  const client = await fx.connect();
  const older = register({ user: 'first' });
  client.send(older);
  client.send(register({ user: 'second' }));
  t.ok(await eventually(() => fx.core.requests('REGISTER').length === 2, 2000), 'both reached the core');
  client.send(older);
  await sleep(200);
  t.equal(fx.core.requests('REGISTER').length, 2, 'the older one, sent again behind the newer, was absorbed');
  const branches = fx.core.requests('REGISTER').map((r) => r.vias[0]!.params.get('branch')!);
  t.not(branches[0], branches[1], 'each has a branch of its own');
  for (const a of answers) a();
  await client.waitForSip(/^SIP\/2.0 200[^]*sip:first@/);
  await client.waitForSip(/^SIP\/2.0 200[^]*sip:second@/);
  t.ok(await eventually(() => fx.edge.status().pendingForwardings === 0, 2000), 'nothing waits once both are answered');
  client.send(older);
  t.ok(await eventually(() => fx.core.requests('REGISTER').length === 3, 2000), 'once answered, the same request is a new one again');
});

t.test('an answer from a core the REGISTER has moved on from is not delivered: only the answer to the branch of the current try is', async (t) => {
  const fx = await startEdge(t, { ...TCP, timers: { t1: 10 }, probeInterval: 60_000 }, 2);
  const branches: string[] = [];
  let late: (() => void) | undefined;
  for (const core of fx.cores) {
    core.onRequest = (req, reply) => {
      if (req.method !== 'REGISTER') return false;
      branches.push(req.vias[0]!.params.get('branch')!);
      if (late === undefined) {
        // The first core to get it holds its answer until Timer F has moved the REGISTER on.
        late = () => reply(createResponse(req, 403, 'Too Late', { toTag: true }));
      } else {
        late();
        setTimeout(() => reply(createResponse(req, 200, undefined, { toTag: true })), 100);
      }
      return true;
    };
  }
  const client = await fx.connect();
  client.send(register({ user: 'moved' }));
  await client.waitForSip(/^SIP\/2.0 200/, 5000);
  await sleep(100);
  t.equal(branches.length, 2, 'one try at each core');
  const [first, second] = branches as [string, string];
  t.equal(first.slice(first.lastIndexOf('.')), second.slice(second.lastIndexOf('.')), 'both tries name the same slot');
  t.not(first, second, 'with branches of their own');
  t.notOk(client.frames.some((m) => /^SIP\/2.0 403/.test(m)), 'the first core’s late 403 did not reach the browser');
});

t.test('a core that stays silent: Timer F moves the REGISTER to the next core with a new branch; with none left the browser gets 408', async (t) => {
  const fx = await startEdge(t, { ...TCP, timers: { t1: 10 }, probeInterval: 60_000 }, 2);
  for (const c of fx.cores) {
    c.onRequest = (req) => req.method === 'REGISTER'; // take it, answer nothing
  }
  const client = await fx.connect();
  const started = Date.now();
  client.send(register({ user: 'silence' }));
  const timeout = await client.waitForSip(/^SIP\/2.0 408/, 5000);
  t.ok(Date.now() - started >= 2 * 64 * 10 - 50, 'after Timer F at each of the two cores');
  const seen = fx.cores.map((c) => c.requests('REGISTER'));
  t.same(seen.map((r) => r.length), [1, 1], 'each core got it once');
  t.not(seen[0]![0]!.vias[0]!.params.get('branch'), seen[1]![0]!.vias[0]!.params.get('branch'), 'with a new branch');
  t.equal(timeout.vias.length, 1, 'the 408 carries the browser Via only');
  t.equal(timeout.callId, seen[0]![0]!.callId);
});

t.test('a core that cannot be reached: the REGISTER goes to the other core; with no core at all the browser gets 503 with Retry-After', async (t) => {
  const fx = await startEdge(t, { ...TCP, probeInterval: 60_000 }, 2);
  await fx.cores[0]!.close();
  const client = await fx.connect();
  for (let i = 0; i < 6; i++) client.send(register({ user: `away${i}` }));
  for (let i = 0; i < 6; i++) await client.waitForSip(new RegExp(`^SIP/2.0 200[^]*sip:away${i}@`));
  t.equal(fx.cores[1]!.requests('REGISTER').length, 6, 'the live core registered every one');
  await fx.cores[1]!.close();
  client.send(register({ user: 'nobody' }));
  const refused = await client.waitForSip(/^SIP\/2.0 503/, 5000);
  t.equal(refused.get('Retry-After'), '5');
});

t.test('a REGISTER the relay does not take (a preloaded Route naming this edge) still gets its Path the ordinary way', async (t) => {
  const fx = await startEdge(t, TCP);
  const client = await fx.connect();
  client.send(register({ user: 'routed', extra: [`Route: <sip:127.0.0.1:${fx.addr.ws.port};transport=ws;lr>`] }));
  await client.waitForSip(/^SIP\/2.0 200/);
  const reg = await fx.core.waitForRequest('REGISTER');
  t.equal(reg.routes.length, 0, 'our Route was removed');
  t.equal(reg.values('Path').length, 1, 'Path added');
  t.equal(reg.vias[0]!.transport, 'TCP');
});

t.test('RFC 5626 §4.4.1 over TCP: the registrar’s Flow-Timer closes a flow that goes silent', async (t) => {
  const fx = await startEdge(t, { ...TCP, flowTimerGrace: 300, sweepInterval: 100 });
  fx.core.flowTimer = 1;
  const silent = await fx.connect();
  silent.send(register({ user: 'quiet' }));
  const ok = await silent.waitForSip(/^SIP\/2.0 200/);
  t.equal(ok.get('Flow-Timer'), '1', 'the Flow-Timer passes back to the browser');
  const started = Date.now();
  await silent.waitClosed(4000);
  t.ok(Date.now() - started >= 1000, 'not before the Flow-Timer');
  t.equal(await fx.edge.metrics.closedCount('flow-timer-idle'), 1);
});
