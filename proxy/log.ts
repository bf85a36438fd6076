import { writeSync } from 'node:fs';
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
 * Log bytes one write takes at most. sonic-boom starts a write from the last one's callback, so
 * one write leaves per event-loop turn. Its default, 16 KiB, fell behind the proxy's access log
 * under hello c=256 (4.6 MB a second in, ~230 writes a second of 16 KiB out): the backlog
 * reached 3–7 MB and the peak 115–128 MiB instead of 89–90 (PROFILE.md). 32 KiB keeps up
 * there, and is still one message where stdout is shared: a Unix socket (journald) carries a
 * write of up to ~36 KiB as one piece, so two processes' lines cannot interleave within it,
 * and a pipe with room takes it whole.
 */
const MAX_LOG_WRITE_BYTES = 32 * 1024;

/** Errors that say the log's reader has gone: the log stops, the process goes on. */
const READER_GONE = new Set(['EPIPE', 'ECONNRESET']);

/** A log whose write failed otherwise (a full disk) drops its lines this long, then tries again. */
const LOG_RETRY_MS = 1000;

/** stderr hears of a log that keeps failing at most this often. */
const COMPLAIN_EVERY_MS = 60_000;

/** A last word on stderr; if even that fails, there is nobody left to tell. */
function sayOnStderr(text: string): void {
  try {
    writeSync(2, text);
  } catch {
    // stderr gone too.
  }
}

/** What the exit flush and a paused log's retry read of sonic-boom (4.x, buffer mode): the lines not yet written. */
interface WaitingLines {
  fd: number;
  _writing: boolean;
  _writingBuf: Buffer;
  _bufs: Buffer[][];
  _lens: number[];
  _len: number;
}

/** A full pipe at exit is waited for this long without progress, then its lines are given up. */
const EXIT_FLUSH_PATIENCE_MS = 2000;
const EXIT_FLUSH_PAUSE_MS = 100;
const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * The flush pino runs at exit, in place of sonic-boom's: that one retries a write that failed
 * with anything but EAGAIN every 100 ms for ever, so a process whose reader left just before it
 * exited (before the failure reached the 'error' handler below) never ended. This writes the
 * same lines in the same order (not the write still in flight, as sonic-boom does not),
 * waits on a full pipe while it makes progress, and gives up at any error.
 */
function flushAtExit(stream: WaitingLines): number {
  const waiting = stream._writing ? [] : [stream._writingBuf];
  for (const group of stream._bufs) waiting.push(...group);
  let rest = Buffer.concat(waiting);
  let waited = 0;
  while (rest.length > 0 && waited < EXIT_FLUSH_PATIENCE_MS) {
    try {
      rest = rest.subarray(writeSync(stream.fd, rest));
      waited = 0;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') break;
      Atomics.wait(pause, 0, 0, EXIT_FLUSH_PAUSE_MS);
      waited += EXIT_FLUSH_PAUSE_MS;
    }
  }
  Object.assign(stream, { _writingBuf: Buffer.alloc(0), _bufs: [], _lens: [], _len: 0 });
  return rest.length;
}

/**
 * At exit, the drops no line has counted yet (the process ended while its log was paused, or
 * before stdout was read again) and what the exit flush could not write are said on stderr:
 * their usual line would need the stdout that failed.
 */
function sayLossAtExit(name: string, drops: Drops, unwrittenBytes: number): void {
  const losses: string[] = [];
  if (drops.unread > 0) losses.push(`${drops.unread} log lines dropped: stdout was not read`);
  if (drops.unwritten > 0) losses.push(`${drops.unwritten} log lines dropped: stdout could not be written (${drops.failure})`);
  if (unwrittenBytes > 0) losses.push(`${unwrittenBytes} bytes of log lines not written at exit`);
  if (losses.length > 0) sayOnStderr(`${name} (pid ${process.pid}): ${losses.join('; ')}\n`);
}

/**
 * A pino logger on stdout, written asynchronously (pino's default) with at most `maxBytes`
 * waiting to be written: the runner's logger too.
 *
 * The destination is pino's own (sonic-boom: its retry on EAGAIN, pino's stop on EPIPE) in its
 * buffer mode, each line handed over as bytes, with our flush at exit. In its default text mode
 * sonic-boom appends each line to the string waiting behind the write in flight and measures
 * that whole string again, which flattens it: up to a write's worth copied for every line.
 */
export function boundedLogger(level: string, base: Record<string, unknown>, maxBytes = MAX_UNWRITTEN_LOG_BYTES): Logger {
  const stdout = pino.destination({ dest: 1, sync: false, maxLength: maxBytes, maxWrite: MAX_LOG_WRITE_BYTES, contentMode: 'buffer' });
  const writeBytes = stdout.write;
  // An own property, as sonic-boom sets its own: pino's EPIPE handler replaces it in turn. (The
  // types know only the text mode's string; in buffer mode write takes bytes.)
  const writeLine = (line: string) => writeBytes.call(stdout, Buffer.from(line, 'utf8') as unknown as string);
  stdout.write = writeLine;
  const name = String(base.name ?? 'tsgi');
  const drops: Drops = { unread: 0, unwritten: 0, failure: '' };
  stdout.flushSync = () => sayLossAtExit(name, drops, flushAtExit(stdout as unknown as WaitingLines));
  const log = pino({ level, base }, stdout);
  stdout.on('error', onWriteError(stdout, writeLine, name, drops));
  stdout.on('drop', () => void drops.unread++);
  // 'drain': what waited has been written, so stdout is read (or writable) again and the count fits.
  stdout.on('drain', () => {
    if (drops.unread > 0) log.warn({ dropped: drops.unread }, `${drops.unread} log lines dropped: stdout was not read while ${maxBytes} bytes of log waited`);
    if (drops.unwritten > 0) log.warn({ dropped: drops.unwritten }, `${drops.unwritten} log lines dropped: stdout could not be written (${drops.failure})`);
    drops.unread = drops.unwritten = 0;
  });
  return log;
}

/** pino's destination (sonic-boom). */
type Destination = ReturnType<typeof pino.destination>;

/** Lines dropped since the last count was logged, by cause. */
interface Drops {
  /** Past the bound, while stdout was not read. */
  unread: number;
  /** While writes failed (a full disk), and the last failure. */
  unwritten: number;
  failure: string;
}

/**
 * What the log does when a write fails. pino stops the log on EPIPE and passes on any other
 * error, which ended the process. A reader that has gone (EPIPE; ECONNRESET from a Unix socket
 * whose reader closed with lines unread: a parent's stdio, a log collector's stream) does not
 * come back: the log stops for good and the process serves on. Any other failure may pass
 * (ENOSPC or EFBIG: stdout sent to a file on a full disk, or past its size limit): lines are
 * dropped and counted for LOG_RETRY_MS, then the write that failed is tried again, and so on
 * until one succeeds and a line says how many were lost. nginx does the same with its log on a
 * full disk (it skips writing for the rest of the second) and reports a failing log at most
 * once a minute, as this does on stderr, the one channel left.
 */
function onWriteError(stdout: Destination, writeLine: (line: string) => boolean, name: string, drops: Drops): (err: NodeJS.ErrnoException) => void {
  let gone = false;
  let paused = false;
  let complainedAt = -Infinity;
  const dropLine = () => {
    drops.unwritten += 1;
    return true;
  };
  const retry = () => {
    paused = false;
    stdout.write = writeLine;
    // What waited when the write failed (sonic-boom keeps it) goes now, not with the next line,
    // which a quiet process may not log for a long time.
    if ((stdout as unknown as WaitingLines)._len > 0) writeLine('');
  };
  return (err) => {
    // pino passes on an error other than EPIPE by emitting it again: one pause, one word.
    if (gone || paused) return;
    if (READER_GONE.has(err.code ?? '')) {
      gone = true;
      const nothing = () => true;
      Object.assign(stdout, { write: nothing, flushSync: nothing, end: nothing, destroy: nothing });
      return;
    }
    paused = true;
    drops.failure = err.message;
    stdout.write = dropLine;
    setTimeout(retry, LOG_RETRY_MS).unref();
    const now = performance.now();
    if (now - complainedAt < COMPLAIN_EVERY_MS) return;
    complainedAt = now;
    sayOnStderr(`${name} (pid ${process.pid}): log paused, stdout cannot be written: ${err.message}; lines are dropped and counted until it can\n`);
  };
}
