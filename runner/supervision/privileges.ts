import { execFileSync } from 'node:child_process';
import { chownSync } from 'node:fs';
import type { Address } from '../../protocol/index.js';
import { ListenError, PrivilegeError } from '../errors.js';

/** A user or group name (as the system's NSS resolves it, through getent) or a numeric id. */
export function resolveId(spec: string, database: 'passwd' | 'group'): number {
  if (/^\d+$/.test(spec)) return Number(spec);
  let entry: string;
  try {
    entry = execFileSync('getent', [database, spec], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    throw new PrivilegeError(`unknown ${database === 'passwd' ? 'user' : 'group'} "${spec}"`);
  }
  const id = Number(entry.split(':')[2]);
  if (!Number.isInteger(id)) throw new PrivilegeError(`cannot read the id of ${database === 'passwd' ? 'user' : 'group'} "${spec}"`);
  return id;
}

/** `--chown user:group` on a Unix socket the master bound (either part may be left empty). */
export function chownSocket(address: Address, owner: { user: string | null; group: string | null }): void {
  if (address.kind !== 'unix') return;
  const uid = owner.user === null ? -1 : resolveId(owner.user, 'passwd');
  const gid = owner.group === null ? -1 : resolveId(owner.group, 'group');
  try {
    chownSync(address.path, uid, gid);
  } catch (err) {
    throw new ListenError(`cannot chown ${address.path} to ${owner.user ?? ''}:${owner.group ?? ''} (${(err as NodeJS.ErrnoException).code})`);
  }
}

/**
 * `--gid` then `--uid`, after the sockets are bound and before any worker starts (the workers
 * inherit them). Supplementary groups are reset to the new group, as gunicorn and uWSGI do.
 */
export function dropPrivileges(user: string | null, group: string | null): void {
  if (user === null && group === null) return;
  const { setuid, setgid, setgroups } = process;
  if (!setuid || !setgid) throw new PrivilegeError('switching user or group is not supported on this platform');
  try {
    if (group !== null) {
      const gid = resolveId(group, 'group');
      // Only root may reset the supplementary groups; anyone else keeps theirs.
      if (setgroups && process.getuid?.() === 0) setgroups([gid]);
      setgid(gid);
    }
    if (user !== null) setuid(resolveId(user, 'passwd'));
  } catch (err) {
    if (err instanceof PrivilegeError) throw err;
    throw new PrivilegeError(`cannot switch to ${user ?? ''}${group === null ? '' : `:${group}`}: ${(err as Error).message}`);
  }
}
