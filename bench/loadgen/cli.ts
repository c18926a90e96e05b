/**
 * The load generator on its own, for trying a server by hand:
 *
 *   node dist/bench/loadgen/cli.js --mode register --transport ws --targets 127.0.0.1:26081,127.0.0.1:26083 \
 *     --count 200 --duration 10 --workers 1 [--domain bench.test] [--udp-ports 26100-26103]
 *
 * Loopback targets only. Prints the setup and run results as JSON.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { LoadGenerator, type LoadPlan } from './load-generator.js';

function endpoint(text: string): { host: string; port: number } {
  const m = /^(127\.\d+\.\d+\.\d+):(\d+)$/.exec(text.trim());
  if (!m) throw new Error(`expected a loopback 127.x.y.z:port, got ${text}`);
  return { host: m[1]!, port: Number(m[2]) };
}

function ports(text: string): number[] {
  const [a, b] = text.split('-').map(Number);
  if (!a) throw new Error(`expected a port range like 26100-26103, got ${text}`);
  return Array.from({ length: (b ?? a) - a + 1 }, (_, i) => a + i);
}

export async function main(argv = process.argv.slice(2)): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      mode: { type: 'string', default: 'register' },
      transport: { type: 'string', default: 'ws' },
      targets: { type: 'string' },
      count: { type: 'string', default: '100' },
      duration: { type: 'string', default: '5' },
      workers: { type: 'string', default: '1' },
      domain: { type: 'string', default: 'bench.test' },
      'udp-ports': { type: 'string', default: '26100-26103' },
      hold: { type: 'string', default: '0' },
    },
  });
  if (!values.targets) throw new Error('--targets host:port[,host:port] is required');
  const plan: LoadPlan = {
    mode: values.mode as LoadPlan['mode'],
    transport: values.transport as LoadPlan['transport'],
    targets: values.targets.split(',').map(endpoint),
    count: Math.min(Number(values.count), 19_000),
    durationMs: Math.min(Number(values.duration), 600) * 1000,
    domain: values.domain!,
    ...(values.transport === 'udp' ? { udpPorts: ports(values['udp-ports']!) } : {}),
  };
  const load = LoadGenerator.create(plan, { workers: Number(values.workers) });
  try {
    const setup = await load.prepare();
    process.stdout.write(`setup ${JSON.stringify(setup)}\n`);
    if (plan.mode === 'idle') await new Promise((r) => setTimeout(r, Math.min(Number(values.hold), 600) * 1000));
    else process.stdout.write(`run ${JSON.stringify(await load.run())}\n`);
  } finally {
    await load.close();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  main().catch((err) => {
    process.stderr.write(`${(err as Error).stack ?? err}\n`);
    process.exit(1);
  });
}
