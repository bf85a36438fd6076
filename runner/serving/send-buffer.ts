/**
 * A send buffer for the worker's side of a Unix socket large enough for a stream's window.
 *
 * A Unix stream socket holds what its sender's buffer allows (net.core.wmem_default, 208 KiB
 * on a stock Linux) before the writer must wait for the reader; a worker answering 100 KiB
 * responses then fills it with two, and proxy and worker take turns on the CPU for every
 * other response (test/bench/PROFILE.md, "the response window never grew", item 3). The
 * Python worker asks for 1 MiB with setsockopt; Node has no call for it on a stream socket,
 * so the JavaScript worker uses the `sockopt` package (an N-API addon shipped prebuilt for
 * Linux and macOS). It is an optional dependency: where it cannot load, the default buffer
 * stays, and unless that default is large enough the proxy makes up for part of it with a
 * second connection (HELLO `connections`).
 *
 * The kernel caps the size at net.core.wmem_max (208 KiB on a stock kernel, which then gives
 * 416 KiB: it doubles what it is asked for, for its own overhead). A socket that has more
 * already (net.core.wmem_default raised by the operator) is left as it is: asking would shrink
 * it to the cap. The memory is a limit, used only while the proxy lags. TCP sockets keep their
 * autotuning and are left alone. Linux only: the constants below are Linux's.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';

export const SEND_BUFFER_BYTES = 1024 * 1024;
/**
 * From this size on one connection carries a stream's window well enough that the proxy need
 * not open a second (HELLO `connections`): twice the stock default, what a stock kernel grants.
 * Measured on json-100k: 416 KiB on one connection 9.5-9.6k req/s against 208 KiB on two
 * 9.0-9.1k, and 2 MiB on one 12.3-12.7k against 2 MiB on two 11.5-11.9k; 416 KiB on two was
 * not measured, so the line at 416 KiB is an extrapolation from those.
 */
export const ONE_CONNECTION_BYTES = 2 * 212992;

const SOL_SOCKET = 1;
const SO_SNDBUF = 7;

interface Sockopt {
  setsockopt(socket: Socket, level: number, name: number, value: number): void;
  getsockopt(socket: Socket, level: number, name: number): number;
}

let sockopt: Sockopt | null | undefined;

function load(): Sockopt | null {
  if (sockopt !== undefined) return sockopt;
  try {
    sockopt = process.platform === 'linux' ? (createRequire(import.meta.url)('sockopt') as Sockopt) : null;
  } catch {
    sockopt = null;
  }
  return sockopt;
}

/** A net.core sysctl's value; null where unreadable (a container's namespace on older kernels). */
function netCore(name: 'wmem_max' | 'wmem_default'): number | null {
  try {
    return Number(readFileSync(`/proc/sys/net/core/${name}`, 'utf8'));
  } catch {
    return null;
  }
}

/**
 * What the kernel grants for SEND_BUFFER_BYTES: twice the request, capped at wmem_max first.
 * With wmem_max unreadable, assumed stock, so a buffer raised past that is still left alone.
 */
function granted(): number {
  const max = netCore('wmem_max');
  return max === null ? ONE_CONNECTION_BYTES : 2 * Math.min(SEND_BUFFER_BYTES, max);
}

/**
 * Raises the socket's send buffer towards SEND_BUFFER_BYTES unless it has as much already;
 * returns the size the socket ends with: without the addon the system default it keeps, and
 * null where that cannot be known (not Linux, an fd already closed).
 */
export function raiseSendBuffer(socket: Socket): number | null {
  const addon = load();
  // Without it, a Linux Unix socket keeps what it started with: net.core.wmem_default.
  if (!addon) return process.platform === 'linux' ? netCore('wmem_default') : null;
  try {
    const before = addon.getsockopt(socket, SOL_SOCKET, SO_SNDBUF);
    if (before >= granted()) return before;
    addon.setsockopt(socket, SOL_SOCKET, SO_SNDBUF, SEND_BUFFER_BYTES);
    return addon.getsockopt(socket, SOL_SOCKET, SO_SNDBUF);
  } catch {
    return null;
  }
}
