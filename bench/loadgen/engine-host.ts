/**
 * One LoadEngine driven phase by phase over a message channel: the body of both hosts, the worker
 * thread (load-worker.ts) and the child process (load-process.ts). The channel is all that differs.
 */
import { LoadEngine, type LoadPlan, type PhaseResult } from './load-engine.js';

export type EngineCommand = { op: 'prepare' | 'run' | 'close'; durationMs?: number };
export type EngineReply = { op: EngineCommand['op']; result?: PhaseResult; error?: string };

export interface EngineChannel {
  onCommand(handler: (cmd: EngineCommand) => void): void;
  /** `transfer`: buffers that may move rather than be copied (a worker's port). */
  reply(msg: EngineReply, transfer: ArrayBuffer[]): void;
  /** After the close reply: let the host end. */
  end(): void;
}

export function serveEngine(plan: LoadPlan, channel: EngineChannel): void {
  const engine = new LoadEngine(plan);
  channel.onCommand(async (cmd) => {
    try {
      if (cmd.op === 'prepare' || cmd.op === 'run') {
        const result = cmd.op === 'prepare' ? await engine.prepare() : await engine.run(cmd.durationMs);
        channel.reply({ op: cmd.op, result }, [result.latency.buffer as ArrayBuffer]);
      } else if (cmd.op === 'close') {
        engine.close();
        channel.reply({ op: 'close' }, []);
        channel.end();
      }
    } catch (err) {
      channel.reply({ op: cmd.op, error: (err as Error).stack ?? String(err) }, []);
    }
  });
}
