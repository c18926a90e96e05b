/**
 * Child-process host of one LoadEngine, for loads past one process's open-file limit: each idle
 * WebSocket flow is a descriptor, and `ulimit -n` caps a process, not a machine. The plan comes as
 * the first IPC message ({op: 'plan'}, answered in kind); then LoadGenerator drives the phases as it
 * does a worker's.
 */
import type { LoadPlan } from './load-engine.js';
import { serveEngine, type EngineCommand } from './engine-host.js';

const send = process.send?.bind(process);
if (send) {
  process.once('message', (first: { op: 'plan'; plan: LoadPlan }) => {
    let lastSent: Promise<void> = Promise.resolve();
    serveEngine(first.plan, {
      onCommand: (handler) => process.on('message', (cmd: EngineCommand) => handler(cmd)),
      // The IPC channel's 'advanced' serialization carries the latency Float64Array as it is.
      reply: (msg) => {
        lastSent = new Promise((resolve) => send(msg, undefined, undefined, () => resolve()));
      },
      // Disconnecting drops what is still queued: the close reply goes out first.
      end: () => void lastSent.then(() => process.disconnect()),
    });
    send({ op: 'plan' });
  });
}
// The parent gone (or the engine closed): nothing left to do here, whatever sockets are still open.
process.on('disconnect', () => process.exit(0));
