/** Worker-thread host of one LoadEngine; driven phase by phase by LoadGenerator (load-generator.ts). */
import { parentPort, workerData } from 'node:worker_threads';
import { LoadEngine, type LoadPlan } from './load-engine.js';

type Command = { op: 'prepare' | 'run' | 'close'; durationMs?: number };

const port = parentPort;
if (port) {
  const engine = new LoadEngine(workerData as LoadPlan);
  port.on('message', async (cmd: Command) => {
    try {
      if (cmd.op === 'prepare' || cmd.op === 'run') {
        const result = cmd.op === 'prepare' ? await engine.prepare() : await engine.run(cmd.durationMs);
        port.postMessage({ op: cmd.op, result }, [result.latency.buffer as ArrayBuffer]);
      } else if (cmd.op === 'close') {
        engine.close();
        port.postMessage({ op: 'close' });
        port.close();
      }
    } catch (err) {
      port.postMessage({ op: cmd.op, error: (err as Error).stack ?? String(err) });
    }
  });
}
