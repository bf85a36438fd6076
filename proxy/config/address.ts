/**
 * Socket addresses as written in `listen`, upstream `server` and `tsgi_pass`:
 * `unix:/path` (kept as written, relative paths included, as nginx does), `host:port`,
 * `[ipv6]:port`, and for `listen` also a bare `port` and `*:port` (all IPv4 interfaces).
 */
import { isIPv6 } from 'node:net';
import { ConfigError, type ValueSite } from './errors.js';
import type { Address } from './types.js';

export interface AddressRules {
  /** `listen 8080;` means 0.0.0.0:8080. */
  barePort: boolean;
  /** Port 0 asks the OS for a free port: fine to listen on (tests use it), useless to connect to. */
  zeroPort: boolean;
}

const ANY_HOST = '0.0.0.0';
const HOSTNAME = /^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_.])?$/;

export function parseAddress(text: string, rules: AddressRules, at: ValueSite): Address {
  const result = tryParse(text, rules);
  if (typeof result === 'string') {
    throw new ConfigError('E_INVALID_ADDRESS', `invalid address "${text}" in "${at.directive}" (${result})`, at);
  }
  return result;
}

/** Does this look like an address rather than an upstream name (nginx: it has a port)? */
export function looksLikeAddress(text: string): boolean {
  return text.startsWith('unix:') || text.startsWith('[') || text.includes(':');
}

/** Canonical form, so `8080`, `*:8080` and `0.0.0.0:8080` compare equal. */
export function addressKey(address: Address): string {
  return address.kind === 'unix' ? `unix:${address.path}` : `${address.host.toLowerCase()}:${address.port}`;
}

/** Returns the address, or a reason it is invalid. */
function tryParse(text: string, rules: AddressRules): Address | string {
  if (text.startsWith('unix:')) {
    const path = text.slice('unix:'.length);
    return path === '' ? 'empty unix socket path' : { kind: 'unix', path };
  }
  if (rules.barePort && /^\d+$/.test(text)) return tcp(ANY_HOST, text, rules);
  const split = splitHostPort(text);
  if (typeof split === 'string') return split;
  const [host, port] = split;
  return tcp(host === '*' ? ANY_HOST : host, port, rules);
}

function splitHostPort(text: string): [host: string, port: string] | string {
  if (text.startsWith('[')) {
    const match = /^\[([^\]]*)\]:(.*)$/.exec(text);
    if (!match) return 'expected "[ipv6]:port"';
    const host = match[1] as string;
    return isIPv6(host) ? [host, match[2] as string] : 'invalid IPv6 address';
  }
  const colon = text.lastIndexOf(':');
  if (colon < 0) return 'no port';
  const host = text.slice(0, colon);
  if (host.includes(':')) return 'IPv6 addresses must be in brackets';
  if (host !== '*' && !HOSTNAME.test(host)) return 'invalid host';
  return [host, text.slice(colon + 1)];
}

function tcp(host: string, portText: string, rules: AddressRules): Address | string {
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  const lowest = rules.zeroPort ? 0 : 1;
  if (!(port >= lowest && port <= 65535)) return 'invalid port';
  return { kind: 'tcp', host, port };
}
