import pino, { type Logger } from 'pino';

/**
 * Log bytes held unwritten at most. stdout is a pipe under systemd or a container runtime; a
 * reader that stops (a stuck journald, a log driver that blocks) would otherwise let the
 * process grow without end (400,000 access lines held: 152 MiB). Past the bound, lines are
 * dropped and counted, and once stdout is read again one line says how many. nginx blocks on
 * its log write instead, which stops every request the worker holds.
 */
export const MAX_UNWRITTEN_LOG_BYTES = 8 * 1024 * 1024;

/** The proxy's root logger: JSON lines on stdout (access and error lines alike). */
export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return boundedLogger(level, { pid: process.pid, name: 'tsgi-proxy', ...bindings });
}

/**
 * A pino logger on stdout, written asynchronously (pino's default) with at most `maxBytes`
 * waiting to be written: the runner's logger too.
 */
export function boundedLogger(level: string, base: Record<string, unknown>, maxBytes = MAX_UNWRITTEN_LOG_BYTES): Logger {
  const stdout = pino.destination({ dest: 1, sync: false, maxLength: maxBytes });
  const log = pino({ level, base }, stdout);
  let dropped = 0;
  stdout.on('drop', () => void dropped++);
  // 'drain': what waited has been written, so stdout is read again and the count fits.
  stdout.on('drain', () => {
    if (dropped === 0) return;
    log.warn({ dropped }, `${dropped} log lines dropped: stdout was not read while ${maxBytes} bytes of log waited`);
    dropped = 0;
  });
  return log;
}
