/**
 * The LocationStore contract, run against every implementation (memory-store.test.ts,
 * cassandra-store.test.ts): what the registrar relies on, stated once.
 */
import type { Test } from 'tap';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { LocationStoreError, type Binding, type LocationStore } from '../../../core/location/location-store.js';

type T = Test;

export interface StoreFactory {
  /** A store on the shared test backend; tests isolate themselves with unique AORs. */
  create(): Promise<LocationStore>;
  /** Another store instance over the same data: a second core. */
  peer(): Promise<LocationStore>;
  /** A store whose backend cannot be reached (closed port, or a server that never answers). */
  unreachable(): Promise<LocationStore>;
  /** Longest a failing call may take before it must have rejected. */
  failFastMs: number;
}

export function uniqueAor(label = 'alice'): string {
  return `sip:${label}-${randomUUID().slice(0, 8)}@example.com`;
}

export function makeBinding(aor: string, over: Partial<Binding> = {}): Binding {
  const now = Date.now();
  const contact = over.contact ?? `sip:${randomUUID().slice(0, 6)}@192.0.2.10:5060;transport=ws`;
  return {
    aor,
    key: contact,
    contact,
    q: 1,
    path: ['<sip:edge1.example.com;lr;ob>'],
    callId: `call-${randomUUID()}`,
    cseq: 1,
    expiresAt: now + 600_000,
    createdAt: now,
    ...over,
  };
}

const byKey = (a: Binding, b: Binding) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

/** Polls `check` every 200 ms for at most `ms`; resolves with its last value. */
async function eventually<V>(ms: number, check: () => Promise<V>, done: (v: V) => boolean): Promise<V> {
  const end = Date.now() + ms;
  let v = await check();
  for (let i = 0; !done(v) && Date.now() < end && i < 1000; i++) {
    await sleep(200);
    v = await check();
  }
  return v;
}

export function storeSuite(t: T, factory: StoreFactory): void {
  let store: LocationStore;
  let peer: LocationStore;

  t.before(async () => {
    store = await factory.create();
    peer = await factory.peer();
    await store.ping();
    await peer.ping();
  });
  t.teardown(async () => {
    await store?.close();
    await peer?.close();
  });

  t.test('a binding written by update() is returned by lookup() exactly as written', async (t) => {
    const aor = uniqueAor();
    const full = makeBinding(aor, {
      instance: 'urn:uuid:00000000-0000-1000-8000-000A95A0E128',
      regId: 1,
      q: 0.7,
      path: ['<sip:edge1.example.com;lr;ob>', '<sip:edge2.example.com;lr>'],
      received: 'ws:192.0.2.1:40000',
      userAgent: 'sipflow-test/1',
      cseq: 2_000_000_001,
    });
    full.key = `${full.instance};${full.regId}`;
    const minimal = makeBinding(aor, { path: [] });
    await store.update(aor, [full, minimal], []);
    const got = (await store.lookup(aor)).sort(byKey);
    t.strictSame(got, [full, minimal].sort(byKey), 'every field round-trips; absent optional fields stay absent');
    t.same(got.find((b) => b.key === full.key)?.path, full.path, 'Path order is kept (top first)');
  });

  t.test('lookup() of an AOR with no bindings is empty', async (t) => {
    t.strictSame(await store.lookup(uniqueAor('nobody')), []);
  });

  t.test('a binding is keyed inside its AOR: writing the same key again replaces it', async (t) => {
    const aor = uniqueAor();
    const b1 = makeBinding(aor, { cseq: 1 });
    await store.update(aor, [b1], []);
    const b2 = { ...b1, cseq: 2, expiresAt: b1.expiresAt + 60_000, path: ['<sip:other-edge.example.com;lr>'] };
    await store.update(aor, [b2], []);
    t.strictSame(await store.lookup(aor), [b2]);
  });

  t.test('removeKeys deletes only the named bindings of that AOR', async (t) => {
    const aor = uniqueAor();
    const [a, b, c] = [makeBinding(aor), makeBinding(aor), makeBinding(aor)];
    await store.update(aor, [a!, b!, c!], []);
    await store.update(aor, [], [b!.key, 'sip:never-registered@192.0.2.99']);
    t.strictSame((await store.lookup(aor)).sort(byKey), [a!, c!].sort(byKey));
  });

  t.test('an upsert of a key also listed for removal wins (remove first, then write)', async (t) => {
    const aor = uniqueAor();
    const a = makeBinding(aor);
    await store.update(aor, [a], [a.key]);
    t.strictSame(await store.lookup(aor), [a]);
  });

  t.test('removeAll() deletes every binding of the AOR and nothing of other AORs', async (t) => {
    const aor = uniqueAor();
    const other = uniqueAor('bob');
    await store.update(aor, [makeBinding(aor), makeBinding(aor)], []);
    const keep = makeBinding(other);
    await store.update(other, [keep], []);
    await store.removeAll(aor);
    t.strictSame(await store.lookup(aor), []);
    t.strictSame(await store.lookup(other), [keep]);
  });

  t.test('update() refuses a binding of another AOR', async (t) => {
    const aor = uniqueAor();
    await t.rejects(store.update(aor, [makeBinding(uniqueAor('mallory'))], []), TypeError);
    t.strictSame(await store.lookup(aor), []);
  });

  t.test('an expired binding is not returned by lookup()', async (t) => {
    const aor = uniqueAor();
    const shortLived = makeBinding(aor, { expiresAt: Date.now() + 1500 });
    const longLived = makeBinding(aor);
    await store.update(aor, [shortLived, longLived], []);
    t.equal((await store.lookup(aor)).length, 2, 'both live right after the write');
    const later = await eventually(
      5000,
      () => store.lookup(aor),
      (v) => v.length === 1,
    );
    t.strictSame(later, [longLived], 'only the long-lived binding remains after 1.5 s');
  });

  t.test('a binding that is already expired when written is not stored', async (t) => {
    const aor = uniqueAor();
    const live = makeBinding(aor);
    await store.update(aor, [live], []);
    // expires=0 reaches the store as a binding whose expiry is now: it must remove the old one.
    await store.update(aor, [{ ...live, expiresAt: Date.now() - 1 }, makeBinding(aor, { expiresAt: Date.now() - 1000 })], []);
    t.strictSame(await store.lookup(aor), []);
  });

  t.test('two cores sharing the store see each other\'s bindings', async (t) => {
    const aor = uniqueAor();
    const fromA = makeBinding(aor);
    const fromB = makeBinding(aor);
    await store.update(aor, [fromA], []);
    await peer.update(aor, [fromB], []);
    t.strictSame((await peer.lookup(aor)).sort(byKey), [fromA, fromB].sort(byKey), 'the second core sees both');
    t.strictSame((await store.lookup(aor)).sort(byKey), [fromA, fromB].sort(byKey), 'the first core sees both');
    await peer.removeAll(aor);
    t.strictSame(await store.lookup(aor), [], 'a removal by one core is seen by the other');
  });

  t.test('concurrent updates of different bindings of one AOR from two cores lose nothing', async (t) => {
    const aor = uniqueAor();
    const bindings = Array.from({ length: 24 }, () => makeBinding(aor));
    // Interleaved single-binding writes from both cores at once, as 24 UAs of one user refreshing.
    await Promise.all(bindings.map((b, i) => (i % 2 === 0 ? store : peer).update(aor, [b], [])));
    const got = await store.lookup(aor);
    t.equal(got.length, bindings.length, 'every binding is there');
    t.strictSame(got.sort(byKey), [...bindings].sort(byKey));
    // And concurrent refreshes of the *same* binding keep exactly one row.
    const same = bindings[0]!;
    await Promise.all([store.update(aor, [{ ...same, cseq: 5 }], []), peer.update(aor, [{ ...same, cseq: 6 }], [])]);
    const after = (await store.lookup(aor)).filter((b) => b.key === same.key);
    t.equal(after.length, 1, 'one row per binding key');
    t.ok(after[0]!.cseq === 5 || after[0]!.cseq === 6, 'last write wins with one of the two refreshes');
  });

  t.test('subscribers: put then get returns the HA1s; an unknown user is undefined', async (t) => {
    const user = `u${randomUUID().slice(0, 8)}`;
    const s = { user, domain: 'example.com', ha1Md5: 'a'.repeat(32), ha1Sha256: 'b'.repeat(64) };
    await store.putSubscriber(s);
    t.strictSame(await peer.getSubscriber(user, 'example.com'), s);
    t.equal(await store.getSubscriber(user, 'example.org'), undefined, 'the domain is part of the key');
    t.equal(await store.getSubscriber(`${user}x`, 'example.com'), undefined);
    await store.putSubscriber({ ...s, ha1Md5: 'c'.repeat(32) });
    t.equal((await store.getSubscriber(user, 'example.com'))?.ha1Md5, 'c'.repeat(32), 'put overwrites');
  });

  t.test('an unreachable backend fails with LocationStoreError quickly, never hangs', async (t) => {
    const bad = await factory.unreachable();
    try {
      for (const [name, call] of [
        ['ping', () => bad.ping()],
        ['lookup', () => bad.lookup(uniqueAor())],
        ['update', () => bad.update('sip:a@example.com', [makeBinding('sip:a@example.com')], [])],
        ['getSubscriber', () => bad.getSubscriber('a', 'example.com')],
      ] as const) {
        const started = Date.now();
        const err = await call().then(
          () => undefined,
          (e: unknown) => e,
        );
        t.type(err, LocationStoreError, `${name} rejects with LocationStoreError`);
        t.ok(((err as LocationStoreError | undefined)?.retryAfterSeconds ?? 0) > 0, `${name} suggests a Retry-After`);
        t.ok(Date.now() - started < factory.failFastMs, `${name} failed within ${factory.failFastMs} ms (took ${Date.now() - started} ms)`);
      }
    } finally {
      await bad.close();
    }
  });

  t.test('a closed store refuses with LocationStoreError', async (t) => {
    const s = await factory.create();
    await s.ping();
    await s.close();
    await t.rejects(s.lookup(uniqueAor()), LocationStoreError);
    await t.rejects(s.ping(), LocationStoreError);
  });
}
