import pino, { type Logger } from 'pino';

/** The runner's root logger: JSON lines on stdout, children carry the worker's bindings. */
export function createLogger(level: string, bindings: Record<string, unknown>): Logger {
  return pino({ level, base: { pid: process.pid, ...bindings } });
}
