import t from 'tap';
import { eventually, startEdge } from './fixtures/edge-fixture.js';
import { register } from './fixtures/sip-ws-client.js';

t.test('/metrics, /healthz, /readyz and /status on the metrics address', async (t) => {
  const fx = await startEdge(t, { metrics: { host: '127.0.0.1', port: 0 }, probeInterval: 100 });
  const base = `http://127.0.0.1:${fx.addr.metrics!.port}`;
  t.ok(await eventually(() => fx.edge.cores!.healthyCount === 1), 'core probed healthy');
  const client = await fx.connect();
  client.send(register());
  await client.waitForSip(/^SIP\/2.0 200/);

  const metrics = await fetch(`${base}/metrics`);
  t.equal(metrics.status, 200);
  t.match(metrics.headers.get('content-type') ?? '', /text\/plain/);
  const text = await metrics.text();
  t.match(text, /^sipflow_edge_flows_open 1$/m, 'flows open');
  t.match(text, /^sipflow_edge_flows_opened_total 1$/m, 'flows opened');
  t.match(text, /^sipflow_edge_messages_in_total\{side="ws",type="REGISTER"\} 1$/m, 'messages in by side and method');
  t.match(text, /^sipflow_edge_messages_out_total\{side="ws",type="2xx"\} 1$/m, 'messages out by status class');
  t.match(text, /^sipflow_edge_messages_out_total\{side="udp",type="REGISTER"\} 1$/m);
  t.match(text, /^sipflow_edge_refusals_total\{cause="bad-subprotocol"\} 0$/m, 'every refusal cause is exported, even at zero');
  t.match(text, /^sipflow_edge_cores_healthy 1$/m);
  t.match(text, new RegExp(`^sipflow_edge_core_up\\{core="127.0.0.1:${fx.core.port}"\\} 1$`, 'm'));

  t.equal((await fetch(`${base}/healthz`)).status, 200);
  t.equal((await fetch(`${base}/readyz`)).status, 200);
  const status = (await (await fetch(`${base}/status`)).json()) as { role: string; version: string; uptime: number; flowsOpen: number; cores: Array<{ core: string; state: string }> };
  t.equal(status.role, 'edge');
  t.match(status.version, /^\d+\.\d+\.\d+/);
  t.type(status.uptime, 'number');
  t.equal(status.flowsOpen, 1);
  t.same(status.cores, [{ core: `127.0.0.1:${fx.core.port}`, state: 'up', consecutiveFailures: 0 }]);
  t.equal((await fetch(`${base}/nope`)).status, 404);

  client.close();
  t.ok(await eventually(async () => /^sipflow_edge_flows_closed_total\{reason="client"\} 1$/m.test(await (await fetch(`${base}/metrics`)).text())), 'closed by reason');
});

t.test('two edges in one process keep their metrics apart', async (t) => {
  const one = await startEdge(t);
  const two = await startEdge(t);
  await one.connect();
  t.ok(await eventually(() => one.edge.flowCount === 1));
  t.equal((await one.edge.metrics.flowsOpened.get()).values[0]!.value, 1);
  t.equal((await two.edge.metrics.flowsOpened.get()).values[0]?.value ?? 0, 0);
});
