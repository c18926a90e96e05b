import t from 'tap';
import { Forwarding, ForwardingIndex } from '../../edge/forwarding.js';
import type { Flow } from '../../edge/flow.js';
import type { CoreHealth } from '../../edge/core-health.js';
import type { ServerTransaction } from '../../sip/transaction/server-transaction.js';
import type { SipRequest } from '../../sip/message/model.js';

// The index only reads ids and kinds: plain objects stand in for flows, transactions and cores.
const flow = (id: string) => ({ id }) as unknown as Flow;
const server = (kind: 'server-invite' | 'server-non-invite') => ({ kind }) as unknown as ServerTransaction;
const template = { method: 'INVITE' } as unknown as SipRequest;
const core = { id: 'core-1' } as unknown as CoreHealth;

t.test('forwardings per flow: one, then several, then none', async (t) => {
  const index = new ForwardingIndex();
  const a = flow('a');
  const f1 = new Forwarding(server('server-invite'), 'to-core', a, template);
  const f2 = new Forwarding(server('server-non-invite'), 'to-core', a, template);
  const f3 = new Forwarding(server('server-non-invite'), 'to-flow', flow('b'), template);
  index.add(f1);
  t.same(index.onFlow('a'), [f1]);
  index.add(f1);
  t.same(index.onFlow('a'), [f1], 'adding the same one twice keeps one');
  index.add(f2);
  index.add(f3);
  t.same(index.onFlow('a'), [f1, f2]);
  t.same(index.onFlow('b'), [f3]);
  t.equal(index.pending, 3);
  index.done(f1);
  t.same(index.onFlow('a'), [f2]);
  index.done(f2);
  t.same(index.onFlow('a'), []);
  index.done(f3);
  index.done(f3);
  t.equal(index.pending, 0, 'done twice is harmless');
});

t.test('INVITE forwardings are found by their server transaction until done; others never are', async (t) => {
  const index = new ForwardingIndex();
  const invite = new Forwarding(server('server-invite'), 'to-core', flow('a'), template);
  const bye = new Forwarding(server('server-non-invite'), 'to-core', flow('a'), template);
  index.add(invite);
  index.add(bye);
  t.equal(index.forServer(invite.server), invite);
  t.equal(index.forServer(bye.server), undefined);
  index.done(invite);
  t.equal(index.forServer(invite.server), undefined);
});

t.test('forwardings pending at a core', async (t) => {
  const index = new ForwardingIndex();
  const f = new Forwarding(server('server-invite'), 'to-core', flow('a'), template);
  index.add(f);
  index.atCore(f, core);
  t.same(index.pendingAt(core), [f]);
  index.atCore(f, undefined);
  t.same(index.pendingAt(core), []);
  index.atCore(f, core);
  index.done(f);
  t.same(index.pendingAt(core), []);
});
