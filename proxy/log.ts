import pino, { type Logger } from 'pino';

/** The proxy's root logger: JSON lines on stdout (access and error lines alike). */
export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { pid: process.pid, name: 'tsgi-proxy', ...bindings } });
}
