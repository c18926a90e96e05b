/** Worker-thread host of one LoadEngine; driven phase by phase by LoadGenerator (load-generator.ts). */
import { parentPort, workerData } from 'node:worker_threads';
import type { LoadPlan } from './load-engine.js';
import { serveEngine, type EngineCommand } from './engine-host.js';

const port = parentPort;
if (port) {
  serveEngine(workerData as LoadPlan, {
    onCommand: (handler) => port.on('message', (cmd: EngineCommand) => handler(cmd)),
    reply: (msg, transfer) => port.postMessage(msg, transfer),
    end: () => port.close(),
  });
}
