/**
 * The smallest form of a fault the rolling-restart test found: a call is up, the callee's
 * WebSocket drops, the callee connects again and re-registers (same +sip.instance and reg-id,
 * RFC 5626 §4.2.1), and then the caller hangs up. The callee's dialog Contact is its public GRUU,
 * so the BYE's Request-URI names the instance and the cluster can find its current flow
 * (RFC 5627 §7: "the proxy ... MUST populate the target set with the contacts registered for that
 * GRUU"); the route set still names the callee's OLD flow.
 *
 *  - callee reconnects through ANOTHER edge: the core sees that the instance's binding no longer
 *    goes through the edge the route set names, drops those routes and follows the GRUU;
 *  - callee reconnects through the SAME edge (the usual case: a browser's network blips and it
 *    comes back to the server it knows): the route set's flow token names a flow that is gone on
 *    that edge, so the edge answers 430 (RFC 5626 §5.3) and the caller gets 480.
 *
 * One memory-store core, two edges, three UAs; light and quick.
 */
import t from 'tap';
import type { Test } from 'tap';
import { waitUntil } from './fixtures/bounded.js';
import { coreArgs, edgeArgs, portPlan, Roles, wsUrl, type EdgeSpec } from './fixtures/roles.js';
import { WsUa } from './fixtures/ws-ua.js';

const port = portPlan(28900);
const core = { udp: port(0), metrics: port(1) };
const edges: EdgeSpec[] = [
  { ws: port(10), udp: port(11), metrics: port(12), cores: [core.udp] },
  { ws: port(20), udp: port(21), metrics: port(22), cores: [core.udp] },
];
const [e1, e2] = edges.map(wsUrl) as [string, string];

const roles = new Roles();
const uas: WsUa[] = [];
t.teardown(async () => {
  for (const ua of uas) ua.stop();
  await roles.stopAll();
});

await roles.start('core', coreArgs({ ...core, store: 'memory' }));
await Promise.all(edges.map((e, i) => roles.start(`edge-${i + 1}`, edgeArgs(e))));

async function ua(user: string, edgeList: string[]): Promise<WsUa> {
  const u = new WsUa({ user, edges: edgeList, first: 0, reconnectJitterMs: 50 });
  uas.push(u);
  await u.start();
  return u;
}

/** Caller on edge 1 calls `callee`, the callee's flow drops and comes back, the caller hangs up. */
async function byeAfterCalleeReconnects(t: Test, callee: WsUa, caller: WsUa): Promise<number> {
  t.ok(callee.hasGruu, 'the callee registered with a public GRUU and uses it as its dialog Contact');
  const r = await caller.call(callee.user);
  if (!r.ok) throw new Error(`call not set up: ${r.reason}`);
  const edgeBefore = callee.edge;
  callee.dropFlow();
  await waitUntil(() => callee.recoveries === 1 && callee.ready, { timeoutMs: 10_000, what: 'the callee to register again' });
  t.pass(`callee re-registered: ${edgeBefore === callee.edge ? 'same edge' : 'other edge'} (${callee.edge})`);
  const bye = await caller.hangup(r.leg);
  return bye.status;
}

t.test('a BYE reaches a callee that registered again through another edge (the route set names the old edge)', async (t) => {
  const caller = await ua('dr-caller-a', [e1]);
  const callee = await ua('dr-callee-b', [e2, e1]);
  const status = await byeAfterCalleeReconnects(t, callee, caller);
  t.equal(callee.edge, e1, 'the callee moved to edge 1');
  t.equal(status, 200, 'the BYE is answered 200 by the callee');
});

t.test('a BYE reaches a callee that registered again through the same edge (the route set names its dead flow)', async (t) => {
  const caller = await ua('dr-caller-c', [e1]);
  const callee = await ua('dr-callee-d', [e2]);
  const byesBefore = callee.byesReceived;
  const status = await byeAfterCalleeReconnects(t, callee, caller);
  t.equal(callee.edge, e2, 'the callee is back on edge 2');
  t.equal(status, 200, 'the BYE is answered 200 by the callee (not 480 from the 430 its old flow token gets)');
  t.equal(callee.byesReceived, byesBefore + 1, 'the callee received the BYE');
});
