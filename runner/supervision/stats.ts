import { createServer, type Server } from 'node:net';
import type { Logger } from 'pino';
import type { Address } from '../../protocol/index.js';
import { ListenError } from '../errors.js';
import { listenOn, removeSocket } from '../serving/listen.js';

/**
 * `--stats ADDR`: like uWSGI's stats server, every connection gets one JSON document (the
 * master and each worker) and is closed: `nc -U /run/tsgi/stats.sock` or `curl`-free tooling.
 */
export class StatsServer {
  private readonly server: Server;
  private listening = false;

  constructor(
    private readonly address: Address,
    snapshot: () => object,
    log: Logger,
  ) {
    this.server = createServer((socket) => {
      socket.on('error', (err) => log.debug({ err: err.message }, 'stats client error'));
      socket.end(`${JSON.stringify(snapshot())}\n`);
    });
  }

  /** A Unix socket is created 0600: the numbers are for the operator. */
  async listen(): Promise<void> {
    try {
      await listenOn(this.server, this.address, 0o600);
      this.listening = true;
    } catch (err) {
      if (err instanceof ListenError) throw new ListenError(`--stats: ${err.message}`);
      throw err;
    }
  }

  /** Removes the socket only if it was ours: one we refused to take is left alone. */
  close(): void {
    if (!this.listening) return;
    this.listening = false;
    this.server.close();
    removeSocket(this.address);
  }
}
