// The watchdog's thread (runner/serving/watchdog.ts): when the worker's main thread is blocked, it
// cancels the streams past their deadline with CANCEL(TIMEOUT), written straight to the socket.
import { writeSync } from 'node:fs';
import { workerData } from 'node:worker_threads';
import { ErrorCode, FrameType, encodeCancel, encodeFrame } from '../../protocol/index.js';

const { cells, base, deadlineMs, slots, aliveMs } = workerData as { cells: Int32Array; base: number; deadlineMs: number; slots: number; aliveMs: number };
const payload = encodeCancel({ code: ErrorCode.TIMEOUT, reason: `harakiri: the worker was blocked past ${deadlineMs} ms` });

setInterval(() => {
  const now = Date.now() - base;
  // Alive: the main thread enforces deadlines itself.
  if (now - Atomics.load(cells, 0) < aliveMs * 4) return;
  for (let slot = 0; slot < slots; slot++) {
    const at = 1 + slot * 3;
    const fd = Atomics.load(cells, at) - 1;
    if (fd < 0 || now - Atomics.load(cells, at + 2) < deadlineMs) continue;
    Atomics.store(cells, at, 0);
    try {
      writeSync(fd, encodeFrame(FrameType.CANCEL, 0, Atomics.load(cells, at + 1) >>> 0, payload));
    } catch {
      // The socket is full or gone: the master's kill still ends the request (a 502 then).
    }
  }
}, aliveMs);
