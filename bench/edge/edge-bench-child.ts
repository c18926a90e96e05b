/**
 * The edge under measurement, alone in its process so /proc/<pid>/status shows only its memory.
 * Reads its config from argv[2] (JSON), prints one JSON line with its addresses when ready, and
 * answers 'gc' and 'stop' over the IPC channel.
 */
import { EdgeNode } from '../../edge/edge-node.js';

const config = JSON.parse(process.argv[2] ?? '{}') as { core: { host: string; port: number } };
const edge = new EdgeNode({
  ws: { host: '127.0.0.1', port: 0 },
  udp: { host: '127.0.0.1', port: 0 },
  cores: [config.core],
  secrets: ['edge-benchmark-secret-0123456789'],
  maxFlowsPerIp: 0,
  ratePerIp: 0,
  handshakeTimeout: 60_000,
});
const addresses = await edge.start();
process.stdout.write(JSON.stringify({ ready: true, pid: process.pid, ws: addresses.ws, uws: edge.uws.implementation }) + '\n');

process.on('message', (msg: { op: string }) => {
  if (msg.op === 'gc') {
    (globalThis as { gc?: () => void }).gc?.();
    void edge.metrics.registry.getMetricsAsJSON().then((metrics) => {
      const nonZero = metrics
        .filter((m) => m.name.includes('refusals') || m.name.includes('closed'))
        .flatMap((m) => m.values.filter((v) => v.value > 0).map((v) => `${m.name}${JSON.stringify(v.labels)}=${v.value}`));
      process.send?.({ op: 'gc', flows: edge.flowCount, counters: nonZero });
    });
  } else if (msg.op === 'stop') {
    void edge.stop().then(() => process.exit(0));
  }
});
