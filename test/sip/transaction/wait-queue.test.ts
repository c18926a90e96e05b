import t from 'tap';
import { ManualClock } from '../../../sip/transaction/manual-clock.js';
import { WaitQueue, waitQueue, type Waiter } from '../../../sip/transaction/wait-queue.js';
import { ClientNonInviteTransaction } from '../../../sip/transaction/client-non-invite-transaction.js';
import { ServerNonInviteTransaction } from '../../../sip/transaction/server-non-invite-transaction.js';
import { createResponse } from '../../../sip/message/factory.js';
import { request, response, setup, UDP_TARGET } from './helpers.js';

/** A waiter that records when it expired and can be told to stop waiting. */
class Probe implements Waiter {
  deadline = -1;
  waiting = true;
  expiredAt: number[] = [];
  constructor(
    readonly clock: ManualClock,
    readonly onExpire: () => void = () => {},
  ) {}
  waitingUntil(deadline: number): boolean {
    return this.waiting && deadline === this.deadline;
  }
  waitExpired(): void {
    this.waiting = false;
    this.expiredAt.push(this.clock.now());
    this.onExpire();
  }
}

function join(q: WaitQueue, p: Probe): Probe {
  p.deadline = q.add(p);
  return p;
}

t.test('waiters expire exactly at their deadline, in order, on one clock timer', async (t) => {
  const clock = new ManualClock();
  const q = new WaitQueue(clock, 5000);
  const first = Array.from({ length: 500 }, () => join(q, new Probe(clock)));
  clock.advance(1000);
  const second = Array.from({ length: 500 }, () => join(q, new Probe(clock)));
  t.equal(clock.pending, 1, 'a thousand waiters, one timer');
  t.equal(q.size, 1000);
  clock.advance(3999);
  t.ok(first.every((p) => p.expiredAt.length === 0), 'not a millisecond early');
  clock.advance(1);
  t.ok(first.every((p) => p.expiredAt.length === 1 && p.expiredAt[0] === 5000), 'the first batch at 5000');
  t.ok(second.every((p) => p.expiredAt.length === 0), 'the second batch still waits');
  t.equal(clock.nextAt(), 6000, 're-armed for the next deadline');
  clock.advance(1000);
  t.ok(second.every((p) => p.expiredAt.length === 1 && p.expiredAt[0] === 6000));
  t.equal(q.size, 0);
  t.equal(clock.pending, 0, 'an empty queue holds no timer');
});

t.test('a waiter cancelled with its deadline is let go of at once: its entry is not asked about it again, others of the same deadline still expire', async (t) => {
  const clock = new ManualClock();
  const q = new WaitQueue(clock, 100);
  const asked: Probe[] = [];
  class Watched extends Probe {
    override waitingUntil(deadline: number): boolean {
      asked.push(this);
      return super.waitingUntil(deadline);
    }
  }
  // Three waiters sharing one deadline (the clock did not move), then one later.
  const [a, b, c] = [join(q, new Watched(clock)), join(q, new Watched(clock)), join(q, new Watched(clock))];
  clock.advance(10);
  const d = join(q, new Watched(clock));
  b.waiting = false;
  q.cancel(b, b.deadline);
  d.waiting = false;
  q.cancel(d, d.deadline);
  t.equal(q.size, 2);
  clock.advance(90);
  t.same(asked, [a, c], 'only the waiters still in the queue were asked, in order');
  t.same([a, b, c].map((p) => p.expiredAt.length), [1, 0, 1], 'a and c expired, b did not');
  clock.advance(10);
  t.same(asked, [a, c], 'the later, cancelled entry was skipped without asking its waiter');
  t.equal(d.expiredAt.length, 0);
  t.equal(clock.pending, 0, 'nothing left to wait for');
});

t.test('cancelling with a deadline the queue does not hold only stops the count (nothing else is touched)', async (t) => {
  const clock = new ManualClock();
  const q = new WaitQueue(clock, 100);
  const a = join(q, new Probe(clock));
  const stranger = new Probe(clock);
  a.waiting = false;
  q.cancel(stranger, a.deadline + 1);
  t.equal(q.size, 0);
  t.equal(clock.pending, 0);
});

t.test('cancelled waiters are skipped; a queue whose waiters all stopped drops its timer', async (t) => {
  const clock = new ManualClock();
  const q = new WaitQueue(clock, 100);
  const a = join(q, new Probe(clock));
  const b = join(q, new Probe(clock));
  a.waiting = false;
  q.cancel();
  t.equal(q.size, 1);
  clock.advance(100);
  t.same(a.expiredAt, [], 'the cancelled one is not told');
  t.same(b.expiredAt, [100]);
  const c = join(q, new Probe(clock));
  c.waiting = false;
  q.cancel();
  t.equal(clock.pending, 0, 'nothing left to wait for: no timer');
  q.cancel();
  t.equal(q.size, 0, 'a cancel too many does not go negative');
});

t.test('a waiter that throws does not strand the others', async (t) => {
  const clock = new ManualClock();
  const q = new WaitQueue(clock, 10);
  join(q, new Probe(clock, () => { throw new Error('tu bug'); }));
  const later = join(q, new Probe(clock));
  t.throws(() => clock.advance(10), /tu bug/);
  t.equal(clock.pending, 1, 'the queue re-armed for what is left');
  clock.advance(0);
  t.same(later.expiredAt, [10]);
  t.equal(q.size, 0);
});

t.test('a waiter added while the queue fires waits its own full delay', async (t) => {
  const clock = new ManualClock();
  const q = new WaitQueue(clock, 50);
  let added: Probe | undefined;
  join(q, new Probe(clock, () => { added = join(q, new Probe(clock)); }));
  const second = join(q, new Probe(clock));
  clock.advance(50);
  t.same(second.expiredAt, [50]);
  t.ok(added);
  t.same(added!.expiredAt, []);
  clock.advance(49);
  t.same(added!.expiredAt, []);
  clock.advance(1);
  t.same(added!.expiredAt, [100]);
});

t.test('long runs: slots are reclaimed and order is kept', async (t) => {
  const clock = new ManualClock();
  const q = new WaitQueue(clock, 20);
  const all: Probe[] = [];
  for (let ms = 0; ms < 3000; ms++) {
    all.push(join(q, new Probe(clock)), join(q, new Probe(clock)));
    clock.advance(1);
  }
  clock.advance(20);
  t.ok(all.every((p, i) => p.expiredAt.length === 1 && p.expiredAt[0] === Math.floor(i / 2) + 20), 'each at its own deadline');
  t.equal(clock.pending, 0);
});

t.test('queues are per clock and per delay', async (t) => {
  const c1 = new ManualClock();
  const c2 = new ManualClock();
  t.equal(waitQueue(c1, 5000), waitQueue(c1, 5000));
  t.not(waitQueue(c1, 5000), waitQueue(c1, 32000));
  t.not(waitQueue(c1, 5000), waitQueue(c2, 5000));
});

t.test('transactions in Completed share the queue: Timer K and J still end them on time', async (t) => {
  const env = setup();
  const clients = Array.from({ length: 200 }, (_, i) => {
    const req = request({ method: 'OPTIONS', branch: `z9hG4bKk${i}` });
    const tx = new ClientNonInviteTransaction(`c${i}`, req, UDP_TARGET, env.ctx, {});
    tx.start();
    tx.receiveResponse(response(req, 200));
    return tx;
  });
  const servers = Array.from({ length: 200 }, (_, i) => {
    const req = request({ method: 'OPTIONS', branch: `z9hG4bKs${i}` });
    const tx = new ServerNonInviteTransaction(`s${i}`, req, { protocol: 'udp', remoteAddress: '192.0.2.1', remotePort: 5060, localAddress: '127.0.0.1', localPort: 5060 }, UDP_TARGET, env.ctx);
    tx.respond(createResponse(req, 200, undefined, { toTag: 'x' }));
    return tx;
  });
  t.same(clients[0]!.runningTimers, ['K']);
  t.same(servers[0]!.runningTimers, ['J']);
  t.equal(env.clock.pending, 2, 'one timer for 200 Timer Ks, one for 200 Timer Js');
  env.clock.advance(4999);
  t.ok(clients.every((tx) => tx.state === 'completed'));
  env.clock.advance(1);
  t.ok(clients.every((tx) => tx.state === 'terminated'), 'T4 after the final response');
  t.ok(servers.every((tx) => tx.state === 'completed'));
  servers[7]!.dispose();
  t.equal(servers[7]!.state, 'terminated');
  env.clock.advance(32000 - 5000);
  t.ok(servers.every((tx) => tx.state === 'terminated'), '64*T1 after the final response');
  t.equal(env.clock.pending, 0);
});

t.test('disposing every waiting transaction leaves no timer behind', async (t) => {
  const env = setup();
  const txs = Array.from({ length: 10 }, (_, i) => {
    const req = request({ method: 'OPTIONS', branch: `z9hG4bKd${i}` });
    const tx = new ClientNonInviteTransaction(`d${i}`, req, UDP_TARGET, env.ctx, {});
    tx.start();
    tx.receiveResponse(response(req, 200));
    return tx;
  });
  for (const tx of txs) tx.dispose();
  t.equal(env.clock.pending, 0);
  t.ok(txs.every((tx) => tx.runningTimers.length === 0));
});
