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

/** A last word on stderr; if even that fails, there is nobody left to tell. */
function sayOnStderr(text: string): void {
  try {
    writeSync(2, text);
  } catch {
    // stderr gone too.
  }
}

/** What the exit flush reads of sonic-boom (4.x, buffer mode): the lines not yet written. */
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
function flushAtExit(stream: WaitingLines): void {
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
  stdout.write = (line: string) => writeBytes.call(stdout, Buffer.from(line, 'utf8') as unknown as string);
  stdout.flushSync = () => flushAtExit(stdout as unknown as WaitingLines);
  const log = pino({ level, base }, stdout);
  // pino stops the log on EPIPE and passes on any other error. A Unix socket whose reader
  // closed with lines unread (a parent's stdio, a log collector's stream) fails the write
  // waiting on it with ECONNRESET: the same departure, which ended the process, as any other
  // error did (ENOSPC: stdout sent to a file on a full disk). Whatever the error, the log
  // stops and the process serves on, as nginx does when its log cannot be written; stderr,
  // the one channel left, says why once, unless the reader is simply gone.
  let stopped = false;
  stdout.on('error', (err: NodeJS.ErrnoException) => {
    // pino passes an error it does not handle on by emitting it again: one stop, one word.
    if (stopped) return;
    stopped = true;
    const nothing = () => true;
    Object.assign(stdout, { write: nothing, flushSync: nothing, end: nothing, destroy: nothing });
    if (!READER_GONE.has(err.code ?? '')) sayOnStderr(`${String(base.name ?? 'tsgi')} (pid ${process.pid}): log stopped, stdout cannot be written: ${err.message}\n`);
  });
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
