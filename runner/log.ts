import type { Logger } from 'pino';
import { boundedLogger } from '../proxy/log.js';

/** The runner's root logger: JSON lines on stdout, children carry the worker's bindings. */
export function createLogger(level: string, bindings: Record<string, unknown>): Logger {
  return boundedLogger(level, { pid: process.pid, ...bindings });
}
