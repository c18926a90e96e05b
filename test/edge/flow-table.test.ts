import t from 'tap';
import { FlowTable, type FlowTableOptions } from '../../edge/flow-table.js';
import type { FlowSocket } from '../../edge/flow.js';
import { TokenBucket } from '../../edge/token-bucket.js';

function socket(opts: { buffered?: number; status?: number } = {}): FlowSocket & { sent: unknown[]; ended?: number; forced: boolean } {
  const s = {
    sent: [] as unknown[],
    forced: false,
    ended: undefined as number | undefined,
    send(data: Uint8Array | string) {
      s.sent.push(data);
      return opts.status ?? 1;
    },
    bufferedAmount: () => opts.buffered ?? 0,
    close() {
      s.forced = true;
    },
    end(code: number) {
      s.ended = code;
    },
  };
  return s;
}

const base: FlowTableOptions = { maxFlowsPerIp: 2, handshakeTimeout: 1000, maxBuffered: 1000, ratePerFlow: 0, ratePerIp: 0, sweepInterval: 1000 };

t.test('flow ids are never reused, even across tables (boot prefix)', async (t) => {
  const closed: string[] = [];
  const a = new FlowTable(base, (f, r) => closed.push(`${f.id}:${r}`));
  const b = new FlowTable(base, () => undefined);
  const f1 = a.open({ transport: 'ws', ip: '192.0.2.1', port: 0, socket: socket() });
  f1.close('client');
  const f2 = a.open({ transport: 'ws', ip: '192.0.2.1', port: 0, socket: socket() });
  const f3 = b.open({ transport: 'ws', ip: '192.0.2.1', port: 0, socket: socket() });
  t.not(f1.id, f2.id);
  t.not(f2.id, f3.id, 'another boot never mints the same id');
  t.same(closed, [`${f1.id}:client`]);
  t.equal(a.get(f1.id), undefined);
});

t.test('per-IP admission counts open flows', async (t) => {
  const table = new FlowTable(base, () => undefined);
  const f = table.open({ transport: 'ws', ip: '192.0.2.1', port: 0, socket: socket() });
  table.open({ transport: 'ws', ip: '192.0.2.1', port: 0, socket: socket() });
  t.same(table.admit('192.0.2.1'), { ok: false, cause: 'per-ip-limit' });
  t.same(table.admit('192.0.2.9'), { ok: true });
  f.closed('client');
  t.same(table.admit('192.0.2.1'), { ok: true });
  t.equal(table.flowsFrom('192.0.2.1'), 1);
});

t.test('the sweep closes silent new flows (handshake) and flows past their Flow-Timer', async (t) => {
  let now = 0;
  const reasons: string[] = [];
  const table = new FlowTable(base, (_f, r) => reasons.push(r), () => now);
  const mute = table.open({ transport: 'ws', ip: '192.0.2.1', port: 0, socket: socket() });
  const registered = table.open({ transport: 'ws', ip: '192.0.2.2', port: 0, socket: socket() });
  registered.greeted = true;
  registered.idleLimit = 5000;
  now = 999;
  table.sweep();
  t.equal(mute.open, true, 'not yet');
  now = 1001;
  table.sweep();
  t.equal(mute.open, false);
  t.equal(mute.closeReason, 'handshake-timeout');
  now = 5500;
  table.arrival(registered);
  now = 10_400;
  table.sweep();
  t.equal(registered.open, true, 'activity moved the deadline');
  now = 10_501;
  table.sweep();
  t.equal(registered.closeReason, 'flow-timer-idle');
  t.same(reasons, ['handshake-timeout', 'flow-timer-idle']);
});

t.test('send: over the buffer limit or dropped by uWS → the flow closes for backpressure', async (t) => {
  const table = new FlowTable(base, () => undefined);
  const ok = table.open({ transport: 'ws', ip: '192.0.2.1', port: 0, socket: socket({ buffered: 10 }) });
  t.equal(ok.send('x', false), 'sent');
  const full = socket({ buffered: 5000 });
  const slow = table.open({ transport: 'ws', ip: '192.0.2.2', port: 0, socket: full });
  t.equal(slow.send('x', false), 'backpressure');
  t.equal(slow.open, false);
  t.equal(full.forced, true, 'forced close, no close frame queued behind the backlog');
  t.equal(slow.send('x', false), 'closed');
  const dropped = table.open({ transport: 'ws', ip: '192.0.2.3', port: 0, socket: socket({ status: 2 }) });
  t.equal(dropped.send('x', false), 'backpressure');
});

t.test('rate limits: drop over the rate, close a flow that keeps flooding', async (t) => {
  let now = 0;
  const table = new FlowTable({ ...base, ratePerFlow: 5 }, () => undefined, () => now);
  const f = table.open({ transport: 'ws', ip: '192.0.2.1', port: 0, socket: socket() });
  const verdicts = Array.from({ length: 12 }, () => table.arrival(f));
  t.same(verdicts.slice(0, 5), ['ok', 'ok', 'ok', 'ok', 'ok'], 'a burst of the rate passes');
  t.equal(verdicts[5], 'drop');
  t.equal(verdicts[11], 'close', 'more drops than the rate within a sweep: close');
  now = 1000;
  table.sweep();
  t.equal(table.arrival(f), 'ok', 'tokens refill with time');
});

t.test('token bucket refills at its rate up to its burst', async (t) => {
  const b = new TokenBucket(10, 2, 0);
  t.equal(b.take(0), true);
  t.equal(b.take(0), true);
  t.equal(b.take(0), false);
  t.equal(b.take(100), true, '100 ms at 10/s is one token');
  t.equal(b.take(100), false);
  t.equal(b.take(10_000), true);
  t.equal(b.take(10_000), true);
  t.equal(b.take(10_000), false, 'never more than the burst');
  t.throws(() => new TokenBucket(0, 1, 0), TypeError);
});
