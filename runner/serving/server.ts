import { createServer, type Server, type Socket } from 'node:net';
import { formatAddress, type Address } from '../../protocol/index.js';
import { RunnerConnection, type ConnectionOptions } from './connection.js';
import { listenOn, removeSocket } from './listen.js';
import { ONE_CONNECTION_BYTES, raiseSendBuffer } from './send-buffer.js';

export interface RunnerServerOptions extends ConnectionOptions {
  address: Address;
  /** Permission bits for a Unix socket (default 0660). */
  mode?: number;
}

/**
 * One worker's listening socket and its proxy connections. `drain()` is the graceful path
 * (GOAWAY everywhere, in-flight requests finish, socket removed); `close()` the abrupt one.
 */
export class RunnerServer {
  private readonly server: Server;
  private readonly connections = new Set<RunnerConnection>();
  private listening = false;
  private ownsSocket = false;

  constructor(private readonly options: RunnerServerOptions) {
    // Paused: each connection reads into buffers of its own from the start (own-reads.ts).
    this.server = createServer({ noDelay: true, pauseOnConnect: true }, (socket) => this.accept(socket));
  }

  get address(): string {
    return formatAddress(this.options.address);
  }

  /** Requests in flight across all connections. */
  get activeStreams(): number {
    let total = 0;
    for (const connection of this.connections) total += connection.activeStreams;
    return total;
  }

  async listen(): Promise<void> {
    await listenOn(this.server, this.options.address, this.options.mode ?? 0o660);
    this.listening = true;
    this.ownsSocket = true;
  }

  /** Listens on a socket the master bound and shares (`bindShared`); the master removes it. */
  async adopt(handle: object): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ handle, backlog: 1024 } as never, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.listening = true;
  }

  /** Resolves once every proxy connection has closed. */
  async whenClosed(): Promise<void> {
    await Promise.all([...this.connections].map((c) => c.done));
  }

  /** Stops accepting, lets every connection finish its streams, then removes the socket. */
  async drain(timeoutMs: number): Promise<boolean> {
    this.stopListening();
    for (const connection of this.connections) connection.drain();
    const finished = Promise.all([...this.connections].map((c) => c.done)).then(() => true);
    const timedOut = new Promise<boolean>((resolve) => setTimeout(resolve, timeoutMs, false).unref());
    const clean = await Promise.race([finished, timedOut]);
    if (!clean) this.close();
    return clean;
  }

  close(): void {
    this.stopListening();
    for (const connection of this.connections) connection.destroy();
  }

  private stopListening(): void {
    if (!this.listening) return;
    this.listening = false;
    this.server.close();
    if (this.ownsSocket) removeSocket(this.options.address);
  }

  private accept(socket: Socket): void {
    // A Unix socket's send buffer sized for a stream's window (send-buffer.ts); TCP autotunes.
    const sized = this.options.address.kind === 'unix' && (raiseSendBuffer(socket) ?? 0) >= ONE_CONNECTION_BYTES;
    const connection = new RunnerConnection(socket, this.options, sized);
    this.connections.add(connection);
    void connection.done.then(() => this.connections.delete(connection));
  }
}
