import t from 'tap';
import { MemoryLocationStore } from '../../../core/location/memory-store.js';
import { createLocationStore } from '../../../core/location/create-store.js';
import { makeBinding, storeSuite } from './store-suite.js';

// Two "cores" in one process can only share a memory store by sharing the object; the peer is a
// view whose close() leaves the store open for the other core.
let last: MemoryLocationStore | undefined;
storeSuite(t, {
  create: async () => (last = new MemoryLocationStore()),
  peer: async () => {
    const s = last!;
    return {
      lookup: (aor) => s.lookup(aor),
      update: (aor, up, rm) => s.update(aor, up, rm),
      removeAll: (aor) => s.removeAll(aor),
      getSubscriber: (u, d) => s.getSubscriber(u, d),
      putSubscriber: (sub) => s.putSubscriber(sub),
      ping: () => s.ping(),
      close: async () => {},
    };
  },
  unreachable: async () => {
    const s = new MemoryLocationStore();
    await s.close();
    return s;
  },
  failFastMs: 100,
});

t.test('the sweeper drops expired bindings in bounded batches and keeps live ones', async (t) => {
  let now = 1_000_000;
  const store = new MemoryLocationStore({ now: () => now, sweepIntervalMs: 0, sweepBatch: 3 });
  for (let i = 0; i < 7; i++) {
    const aor = `sip:u${i}@example.com`;
    await store.update(aor, [makeBinding(aor, { expiresAt: now + 1000 }), makeBinding(aor, { expiresAt: now + (i === 0 ? 5000 : 1000) })], []);
  }
  t.equal(store.aorCount, 7);
  now += 2000;
  const dropped = [store.sweep(), store.sweep(), store.sweep()];
  t.strictSame(dropped, [5, 6, 2], 'at most 3 AORs per tick, 13 expired bindings over three ticks');
  t.equal(store.aorCount, 1, 'AORs left with no binding are forgotten');
  t.equal((await store.lookup('sip:u0@example.com')).length, 1, 'the live binding survives');
  t.equal(store.sweep() + store.sweep(), 0, 'a sweep restarts from the beginning once done');
  await store.close();
});

t.test('stored bindings are copies: mutating what was written or read does not change the store', async (t) => {
  const store = new MemoryLocationStore({ sweepIntervalMs: 0 });
  const aor = 'sip:copy@example.com';
  const b = makeBinding(aor);
  await store.update(aor, [b], []);
  b.path.push('<sip:evil;lr>');
  const [read] = await store.lookup(aor);
  read!.path.push('<sip:evil2;lr>');
  t.equal((await store.lookup(aor))[0]!.path.length, 1);
  await store.close();
});

t.test('createLocationStore({ kind: "memory" }) gives a working memory store', async (t) => {
  const store = createLocationStore({ kind: 'memory', sweepIntervalMs: 0 });
  t.type(store, MemoryLocationStore);
  await store.ping();
  await store.close();
});
