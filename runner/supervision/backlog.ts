import { execFileSync } from 'node:child_process';
import type { Address } from '../../protocol/index.js';

/** Connections waiting to be accepted on the listening socket, and the backlog's limit. */
export interface ListenQueue {
  queued: number;
  limit: number;
}

/**
 * The listen queue as the OS reports it (Linux, through `ss` from iproute2): for a listening
 * socket Recv-Q is the accept queue and Send-Q the backlog. null where it is not available.
 * Read only when the stats are asked for, never on a hot path.
 */
export function listenQueue(address: Address): ListenQueue | null {
  try {
    const local = address.kind === 'unix' ? address.path : `:${address.port}`;
    const args = address.kind === 'unix' ? ['-xlnH'] : ['-tlnH'];
    const out = execFileSync('ss', args, { encoding: 'utf8', timeout: 1000, stdio: ['ignore', 'pipe', 'ignore'] });
    for (const line of out.split('\n')) {
      const fields = line.trim().split(/\s+/);
      const at = fields.indexOf('LISTEN');
      const where = fields[at + 3] ?? '';
      const matches = address.kind === 'unix' ? where === local : where.endsWith(local);
      if (at >= 0 && matches) return { queued: Number(fields[at + 1]), limit: Number(fields[at + 2]) };
    }
    return null;
  } catch {
    return null; // no ss here
  }
}
