import t from 'tap';
import { uwsRuntime } from '../../edge/uws-runtime.js';
import { startEdge } from './fixtures/edge-fixture.js';

t.test('the native uWebSockets.js addon runs, not the slow JavaScript fallback', async (t) => {
  const rt = uwsRuntime();
  t.equal(rt.implementation, 'native');
  t.match(rt.module, /[\\/]binaries[\\/]uws_[a-z0-9]+_[a-z0-9]+_\d+\.node$/, `the loaded addon: ${rt.module}`);
  t.ok(rt.module.includes(`_${process.versions.modules}.node`), 'built for this Node ABI');
  t.notOk(process.env.UWS_USE_FALLBACK, 'the fallback was not forced by the environment');
});

t.test('the edge reports which implementation it runs in /status', async (t) => {
  const fx = await startEdge(t, { metrics: { host: '127.0.0.1', port: 0 } });
  t.equal(fx.edge.uws.implementation, 'native');
  const status = (await (await fetch(`http://127.0.0.1:${fx.addr.metrics!.port}/status`)).json()) as Record<string, unknown>;
  t.equal(status.uws, 'native');
});
