/**
 * One structured logger for every role. pino writes JSON lines to stdout; a person at a terminal
 * can pipe them through `pino-pretty` if installed. Child loggers carry the role and node id so
 * lines from many nodes interleaved in one terminal can be told apart.
 */
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function createLogger(options: { level?: LogLevel; name?: string; bindings?: Record<string, unknown> } = {}): Logger {
  const root = pino({
    level: (options.level ?? 'info') as LevelWithSilent,
    base: { pid: process.pid, ...(options.name ? { name: options.name } : {}) },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
  return options.bindings ? root.child(options.bindings) : root;
}

/** For libraries that want to stay quiet unless given a logger (tests, embedded use). */
export const silentLogger: Logger = pino({ level: 'silent' });
