/**
 * A core whose location store is unreachable answers OPTIONS with 503; edges count that as a failed
 * health check and move traffic to the other cores, and back once the store returns.
 */
import t from 'tap';
import { CoreNode } from '../../core/core-node.js';
import { MemoryLocationStore } from '../../core/location/memory-store.js';
import { LocationStoreError } from '../../core/location/location-store.js';
import { EdgeNode } from '../../edge/edge-node.js';

const SECRET = 'store-down-test-secret-0123456789';

class FlakyStore extends MemoryLocationStore {
  down = false;
  override async ping(): Promise<void> {
    if (this.down) throw new LocationStoreError('store down (test)');
    return super.ping();
  }
}

async function until(pred: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end && !pred()) await new Promise((r) => setTimeout(r, 50));
  return pred();
}

t.test('an edge marks a core down while its store is unreachable, and up again after', async (t) => {
  const flaky = new FlakyStore();
  const a = new CoreNode({ udp: { host: '127.0.0.1', port: 0 }, domain: 'example.test', auth: false, secrets: [SECRET] }, { store: flaky });
  const b = new CoreNode({ udp: { host: '127.0.0.1', port: 0 }, domain: 'example.test', auth: false, secrets: [SECRET] }, { store: new MemoryLocationStore() });
  const aAddr = (await a.start()).udp;
  const bAddr = (await b.start()).udp;
  const edge = new EdgeNode({ ws: { host: '127.0.0.1', port: 0 }, cores: [aAddr, bAddr], secrets: [SECRET], probeInterval: 200, failureThreshold: 2 });
  await edge.start();
  t.teardown(async () => {
    await edge.stop();
    await a.stop();
    await b.stop();
  });
  const stateOf = (port: number) => edge.cores!.cores.find((c) => c.address.port === port)?.state;
  t.ok(await until(() => stateOf(aAddr.port) === 'up' && stateOf(bAddr.port) === 'up', 3000), 'both cores up');
  flaky.down = true;
  t.ok(await until(() => stateOf(aAddr.port) === 'down', 6000), 'core A marked down once its OPTIONS say 503');
  t.equal(stateOf(bAddr.port), 'up', 'core B stays up');
  t.equal(edge.cores!.pick('any-call-id')?.address.port, bAddr.port, 'new calls go to core B');
  flaky.down = false;
  t.ok(await until(() => stateOf(aAddr.port) === 'up', 6000), 'core A up again when its store returns');
});
