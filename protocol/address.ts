/**
 * Socket addresses as operators write them: `unix:/path/to.sock`, `host:port`, `[v6]:port`.
 * Shared by the runner's --socket and the proxy's upstream servers, so both read the same text.
 */
export type Address = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

export class AddressError extends Error {
  override readonly name = 'AddressError';
}

export function parseAddress(text: string): Address {
  if (text.startsWith('unix:')) {
    const path = text.slice(5);
    if (path === '') throw new AddressError(`invalid address "${text}": empty socket path`);
    return { kind: 'unix', path };
  }
  const bracketed = /^\[([0-9A-Fa-f:.]+)\]:(\d+)$/.exec(text);
  const plain = /^([^:\s[\]]+):(\d+)$/.exec(text);
  const match = bracketed ?? plain;
  if (!match) throw new AddressError(`invalid address "${text}": expected unix:PATH, HOST:PORT or [IPv6]:PORT`);
  const port = Number(match[2]);
  if (port < 1 || port > 65535) throw new AddressError(`invalid port in "${text}"`);
  return { kind: 'tcp', host: match[1]!, port };
}

export function formatAddress(address: Address): string {
  if (address.kind === 'unix') return `unix:${address.path}`;
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}
