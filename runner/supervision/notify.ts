import { execFile } from 'node:child_process';
import type { Logger } from 'pino';

/**
 * systemd's readiness protocol (sd_notify): a datagram like `READY=1` to the Unix socket named
 * by NOTIFY_SOCKET. Node cannot send Unix datagrams, so this runs `systemd-notify`, which is
 * where NOTIFY_SOCKET is set (the unit then needs NotifyAccess=all: the sender is a child of
 * the main process; `--pid` names the main process). Without NOTIFY_SOCKET nothing happens;
 * without systemd-notify the state is only logged at debug.
 */
export function notifySystemd(log: Logger, ...assignments: string[]): void {
  if (!process.env.NOTIFY_SOCKET) return;
  execFile('systemd-notify', [`--pid=${process.pid}`, ...assignments], (err) => {
    if (err) log.debug({ err: err.message, assignments }, 'systemd-notify failed; readiness not sent to systemd');
  });
}
