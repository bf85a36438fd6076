/**
 * How evenly a load's connections were served (issue #12, target 6: "no connection starved").
 * wrk reports totals only, so the figure comes from the kernel: the TCP counters of the load
 * generator's own sockets (`ss -ntin`, bytes_received per connection to the server's port), read
 * twice inside the measured run. Every response of a scenario has the same size, so the bytes a
 * connection received between the two readings count its responses. The same for every system
 * and every load tool, and nothing is added to the servers.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { median } from './median.js';

/** The spread of one run: each connection's bytes over the median connection's. */
export interface Spread {
  /** Connections open at both readings (a reconnecting client's new ones are not compared). */
  connections: number;
  /** The slowest connection's share of the median one's: 0 when one received nothing. */
  minShare: number;
  maxShare: number;
}

const run = promisify(execFile);

/** At least this many of the connections asked for must be seen at both readings. */
const MIN_MATCHED = 0.5;

/**
 * bytes_received of each established TCP connection to `port` on this machine, by its local
 * address: the client's side of every connection the load generator holds. null when `ss`
 * (iproute2) cannot be run. Asynchronous: autocannon generates load in this very process.
 */
export async function clientSocketBytes(port: number, cpu: number | null): Promise<Map<string, number> | null> {
  // -n: numbers, not service names (an ephemeral port may have one in /etc/services).
  const ss = ['ss', '-Hntin', 'state', 'established', `( dport = :${port} )`];
  // On the load generator's CPU, not on the server CPU.
  const [command, ...args] = cpu === null ? ss : ['taskset', '-c', String(cpu), ...ss];
  try {
    const { stdout } = await run(command!, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    return parseSs(stdout);
  } catch {
    return null;
  }
}

/**
 * `ss -Hntin` prints each socket on a line (Recv-Q Send-Q Local Peer, or State first without a
 * state filter) and its TCP info on the indented line after it; a connection that has received
 * nothing yet has no bytes_received field.
 */
export function parseSs(text: string): Map<string, number> {
  const bytes = new Map<string, number>();
  let local: string | null = null;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (!/^\s/.test(line)) {
      local = line.trim().split(/\s+/).find((field) => /:\d+$/.test(field)) ?? null;
      if (local !== null) bytes.set(local, 0);
      continue;
    }
    const received = /\bbytes_received:(\d+)/.exec(line);
    if (local !== null && received) bytes.set(local, Number(received[1]));
  }
  return bytes;
}

/** "0.97-1.03": the slowest and the fastest connection's shares, `dash` between them; '-' for none. */
export function formatSpread(spread: Spread | null, dash = '-'): string {
  return spread ? `${spread.minShare.toFixed(2)}${dash}${spread.maxShare.toFixed(2)}` : '-';
}

/**
 * Each connection's bytes between the readings over the median's. null when too few
 * connections were seen at both (a client that reconnects, a reading that failed) or the
 * median connection received nothing.
 */
export function spreadOf(before: ReadonlyMap<string, number> | null, after: ReadonlyMap<string, number> | null, connections: number): Spread | null {
  if (!before || !after) return null;
  const received: number[] = [];
  for (const [local, bytes] of after) {
    const start = before.get(local);
    if (start !== undefined) received.push(bytes - start);
  }
  const middle = median(received);
  if (received.length < Math.max(1, connections * MIN_MATCHED) || !(middle > 0)) return null;
  return { connections: received.length, minShare: Math.min(...received) / middle, maxShare: Math.max(...received) / middle };
}
