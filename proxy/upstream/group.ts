import type { UpstreamServer } from './server.js';

/**
 * An `upstream` block: the servers a location passes to, and the choice among them.
 * Round robin for now; the balancing methods of nginx come with the upstream issue.
 */
export class UpstreamGroup {
  private next = 0;

  constructor(
    readonly name: string,
    readonly servers: readonly UpstreamServer[],
  ) {}

  pick(): UpstreamServer {
    const server = this.servers[this.next % this.servers.length]!;
    this.next = (this.next + 1) % this.servers.length;
    return server;
  }

  warm(): void {
    for (const server of this.servers) server.warm();
  }

  close(): void {
    for (const server of this.servers) server.close();
  }

  destroy(): void {
    for (const server of this.servers) server.destroy();
  }
}
