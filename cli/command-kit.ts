/**
 * The glue every subcommand uses: commander parses the flags, runtime/options merges config file and
 * environment under them and validates with the command's zod schema, and failures become one line
 * on stderr with exit code 2 (bad usage) or 1 (runtime failure).
 */
import type { Command } from 'commander';
import type { z } from 'zod';
import { OptionError, readConfigFile, resolveOptions } from '../runtime/options.js';
import type { DrainResult } from '../runtime/drain.js';
import { createLogger, type Logger, type LogLevel } from '../runtime/logger.js';

export interface CommandContext {
  log: Logger;
  /** Resolves when SIGINT/SIGTERM arrives. */
  stopSignal: Promise<NodeJS.Signals>;
}

export function globalOptions(cmd: Command): { config?: string; logLevel?: LogLevel } {
  return cmd.optsWithGlobals() as { config?: string; logLevel?: LogLevel };
}

/** Validates options for `section` of the config file; flags given on the command line win. */
export function optionsFor<S extends z.ZodObject<z.ZodRawShape>>(schema: S, cmd: Command, section: string): z.infer<S> {
  const g = globalOptions(cmd);
  const flags: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(cmd.opts())) {
    if (cmd.getOptionValueSource(key) === 'cli') flags[key] = value;
  }
  const file = g.config ? readConfigFile(g.config) : undefined;
  return resolveOptions(schema, { flags, env: process.env, ...(file ? { file } : {}), section });
}

export function loggerFor(cmd: Command, name: string): Logger {
  const g = globalOptions(cmd);
  const level = (g.logLevel ?? process.env.SIPFLOW_LOG_LEVEL ?? 'info') as LogLevel;
  return createLogger({ level, name });
}

let stopPromise: Promise<NodeJS.Signals> | undefined;
/**
 * The first of `signals` (SIGINT, SIGTERM by default) this process gets. Whatever comes after is
 * for the caller to hear: a node takes a second signal as "stop now".
 */
export function stopSignal(signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM']): Promise<NodeJS.Signals> {
  stopPromise ??= new Promise((resolve) => {
    const onSignal = (sig: NodeJS.Signals) => {
      for (const s of signals) process.off(s, onSignal);
      resolve(sig);
    };
    for (const s of signals) process.on(s, onSignal);
  });
  return stopPromise;
}

/**
 * What the first SIGINT/SIGTERM starts: the node drains for at most `timeoutMs`, then stops. A
 * second signal cuts the drain short; the stop still runs (sockets closed, flows told 1001).
 */
export async function drainThenStop(
  log: Logger,
  role: 'core' | 'edge',
  node: { drain(timeoutMs: number, opts: { signal?: AbortSignal }): Promise<DrainResult>; stop(): Promise<void> },
  timeoutMs: number,
  signal: NodeJS.Signals,
): Promise<void> {
  const cut = new AbortController();
  const onSecond = (second: NodeJS.Signals) => {
    log.warn({ signal: second }, `${role} stopping now: second signal during the drain`);
    cut.abort();
  };
  process.once('SIGINT', onSecond);
  process.once('SIGTERM', onSecond);
  log.info({ signal, drainTimeoutMs: timeoutMs }, `${role} draining: no new work; a second signal stops at once`);
  const result = await node.drain(timeoutMs, { signal: cut.signal });
  if (result.drained) log.info(result, `${role} drained`);
  else log.warn(result, `${role} stopping with requests still waiting for their answers (drain timeout or second signal)`);
  await node.stop();
  process.off('SIGINT', onSecond);
  process.off('SIGTERM', onSecond);
}

/** Runs a command body, turning known failures into one clear line and an exit code. */
export async function run(body: () => Promise<void> | void): Promise<void> {
  try {
    await body();
  } catch (err) {
    if (err instanceof OptionError) {
      process.stderr.write(`sipflow: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    const e = err as Error & { code?: string; hint?: string };
    process.stderr.write(`sipflow: ${e.message}${e.hint ? `\n  what to do: ${e.hint}` : ''}\n`);
    if (process.env.SIPFLOW_DEBUG) process.stderr.write(`${e.stack}\n`);
    process.exitCode = 1;
  }
}
