/**
 * An edge reaching real cores over TCP (--core-transport tcp): what goes into Path, where the
 * edge listens, who may connect to it, and that a core that goes away is routed around as on UDP.
 */
import t, { type Test } from 'tap';
import net from 'node:net';
import { CoreNode } from '../../core/core-node.js';
import { MemoryLocationStore } from '../../core/location/memory-store.js';
import { EdgeNode } from '../../edge/edge-node.js';
import { eventually, SECRET } from './fixtures/edge-fixture.js';
import { register, SipWsClient } from './fixtures/sip-ws-client.js';

// Cores on addresses of their own, at fixed ports: an edge reaches a core over TCP at the port it
// is listed with, so each core listens on TCP at its UDP port.
const CORE_HOSTS = ['127.0.0.63', '127.0.0.64'] as const;

async function cluster(t: Test) {
  const store = new MemoryLocationStore();
  const cores = CORE_HOSTS.map(
    (host) => new CoreNode({ udp: { host, port: 5060 }, tcp: { host, port: 5060 }, domain: 'example.test', auth: false, secrets: [SECRET] }, { store }),
  );
  for (const c of cores) await c.start();
  const edge = new EdgeNode({
    ws: { host: '127.0.0.1', port: 0 },
    cores: CORE_HOSTS.map((host) => ({ host, port: 5060 })),
    coreTransport: 'tcp',
    secrets: [SECRET],
    probeInterval: 200,
    probeTimeout: 150,
    failureThreshold: 2,
  });
  const addr = await edge.start();
  t.teardown(async () => {
    await edge.stop();
    for (const c of cores) await c.stop();
  });
  return { store, cores, edge, addr };
}

t.test('the edge listens on TCP at its UDP port and writes transport=tcp into Path', async (t) => {
  const { store, edge, addr } = await cluster(t);
  t.equal(addr.tcp?.port, addr.udp.port, 'one port for both transports');
  t.ok(await eventually(() => edge.cores!.healthyCount === 2, 3000), 'both cores answer the OPTIONS probe over TCP');
  const client = await SipWsClient.connect(`ws://127.0.0.1:${addr.ws.port}/`);
  t.teardown(() => client.close());
  client.send(register({ user: 'pat', callId: 'tcp-path' }));
  await client.waitForSip(/^SIP\/2.0 200/);
  const [binding] = await store.lookup('sip:pat@example.test');
  t.match(binding?.path?.[0], new RegExp(`@127\\.0\\.0\\.1:${addr.udp.port};transport=tcp;lr`), 'the Path names the edge over TCP');
});

t.test('only cores may connect to the TCP side: anyone else is closed at once', async (t) => {
  const { addr } = await cluster(t);
  const stranger = net.connect({ host: '127.0.0.1', port: addr.tcp!.port, localAddress: '127.0.0.9' });
  stranger.on('error', () => {});
  t.teardown(() => stranger.destroy());
  const closed = await new Promise<boolean>((resolve) => {
    stranger.once('close', () => resolve(true));
    setTimeout(() => resolve(false), 3000).unref();
  });
  t.ok(closed, 'a connection from 127.0.0.9 is closed');
  const core = net.connect({ host: '127.0.0.1', port: addr.tcp!.port, localAddress: CORE_HOSTS[0] });
  core.on('error', () => {});
  t.teardown(() => core.destroy());
  await new Promise<void>((resolve) => core.once('connect', () => resolve()));
  await new Promise((r) => setTimeout(r, 200));
  t.notOk(core.destroyed, "a connection from a core's address stays open");
});

t.test('a core that stops is marked down over TCP and its REGISTERs go to the other core', async (t) => {
  const { cores, edge, addr } = await cluster(t);
  t.ok(await eventually(() => edge.cores!.healthyCount === 2, 3000), 'both cores up');
  let callId = '';
  for (let i = 0; i < 1000 && !callId; i++) if (edge.cores!.pick(`moved-${i}`)?.address.host === CORE_HOSTS[0]) callId = `moved-${i}`;
  t.ok(callId, 'a Call-ID that hashes to the first core');
  await cores[0]!.stop();
  t.ok(await eventually(() => edge.cores!.cores.find((c) => c.address.host === CORE_HOSTS[0])?.state === 'down', 3000), 'the stopped core is marked down');
  const client = await SipWsClient.connect(`ws://127.0.0.1:${addr.ws.port}/`);
  t.teardown(() => client.close());
  client.send(register({ user: 'quinn', callId }));
  const ok = await client.waitForSip(/^SIP\/2.0 200/);
  t.equal(ok.kind === 'response' ? ok.status : 0, 200, 'the other core registered it');
});
