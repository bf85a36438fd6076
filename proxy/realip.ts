/**
 * nginx's ngx_http_realip_module, as pure functions: which peers may say who the client is
 * (`set_real_ip_from`), which header they say it in (`real_ip_header`) and how far back to
 * believe a chain of proxies (`real_ip_recursive`). A client that connects directly can write
 * any X-Forwarded-For it likes; only a trusted peer's header moves REMOTE_ADDR.
 */
import { isIP } from 'node:net';

/** One `set_real_ip_from`: an address block, or `unix:` for every Unix-socket peer. */
export type TrustedSource = { kind: 'unix' } | { kind: 'cidr'; family: 4 | 6; bits: bigint; prefix: number };

export interface RealIpConfig {
  from: readonly TrustedSource[];
  /** As written (`X-Real-IP`, `X-Forwarded-For` or any field name), matched case-insensitively. */
  header: string;
  recursive: boolean;
}

export interface Peer {
  address: string;
  port: number;
}

/** Parses `192.168.1.0/24`, `2001:db8::/32`, a bare address (a /32 or /128) or `unix:`; null if invalid. */
export function parseTrustedSource(text: string): TrustedSource | null {
  if (text === 'unix:') return { kind: 'unix' };
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const family = ipFamily(address);
  if (family === null) return null;
  const width = family === 4 ? 32 : 128;
  const prefixText = slash < 0 ? String(width) : text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > width) return null;
  const prefix = Number(prefixText);
  // nginx refuses "192.168.1.1/24" only with a warning; keeping the network part is what it uses.
  return { kind: 'cidr', family, bits: maskBits(toBits(address, family), prefix, width), prefix };
}

/**
 * The client's address for a request from `peer`: the peer itself unless it is trusted and
 * sent the configured header, then nginx's walk from the right of that header's list.
 * `values` are the header's field lines, in order of arrival.
 */
export function realAddress(peer: Peer, values: readonly string[], config: RealIpConfig): Peer {
  if (config.from.length === 0 || values.length === 0) return peer;
  // X-Forwarded-For lines form one list; any other header counts by its first line, as nginx.
  const list = config.header.toLowerCase() === 'x-forwarded-for' ? values.join(', ') : values[0]!;
  let current = peer;
  let rest = list;
  do {
    if (!isTrusted(current.address, config.from)) return current;
    const { last, before } = lastElement(rest);
    const parsed = parseAddressPort(last);
    if (!parsed) return current;
    current = parsed;
    rest = before;
  } while (config.recursive && rest.trim() !== '');
  return current;
}

/** Is `address` (as Node reports it, 'unix:' for a Unix-socket peer) in one of the sources? */
export function isTrusted(address: string, from: readonly TrustedSource[]): boolean {
  if (address === 'unix:') return from.some((s) => s.kind === 'unix');
  const plain = unmapped(address);
  const family = ipFamily(plain);
  if (family === null) return false;
  const width = family === 4 ? 32 : 128;
  const bits = toBits(plain, family);
  return from.some((s) => s.kind === 'cidr' && s.family === family && maskBits(bits, s.prefix, width) === s.bits);
}

/** The element after the last comma (spaces trimmed), and everything before that comma. */
function lastElement(list: string): { last: string; before: string } {
  const trimmed = list.replace(/[ ,]+$/, '');
  const comma = Math.max(trimmed.lastIndexOf(','), trimmed.lastIndexOf(' '));
  return { last: trimmed.slice(comma + 1), before: comma < 0 ? '' : trimmed.slice(0, comma) };
}

/** `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:5678`; null for anything else. */
function parseAddressPort(text: string): Peer | null {
  if (isIP(text)) return { address: unmapped(text), port: 0 };
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|(\d{1,3}(?:\.\d{1,3}){3})):(\d{1,5})$/.exec(text);
  if (!match) return null;
  const address = match[1] ?? match[2]!;
  const port = Number(match[3]);
  if (!isIP(address) || port > 65535) return null;
  return { address: unmapped(address), port };
}

/** `::ffff:10.0.0.1` (how a dual-stack socket reports IPv4) is the IPv4 address it maps. */
function unmapped(address: string): string {
  const match = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  return match ? match[1]! : address;
}

function ipFamily(address: string): 4 | 6 | null {
  const family = isIP(address);
  return family === 4 || family === 6 ? family : null;
}

function toBits(address: string, family: 4 | 6): bigint {
  if (family === 4) return address.split('.').reduce((n, octet) => (n << 8n) | BigInt(Number(octet)), 0n);
  return ipv6Groups(address).reduce((n, group) => (n << 16n) | BigInt(group), 0n);
}

/** The eight 16-bit groups of an IPv6 address (`::` expanded, a trailing dotted quad folded in). */
function ipv6Groups(address: string): number[] {
  let text = address.toLowerCase();
  const quad = /(\d{1,3}(?:\.\d{1,3}){3})$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad[1]!.split('.').map(Number) as [number, number, number, number];
    text = text.slice(0, quad.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const zeros = tail === undefined ? [] : new Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right].map((group) => parseInt(group, 16));
}

function maskBits(bits: bigint, prefix: number, width: number): bigint {
  const hostBits = BigInt(width - prefix);
  return (bits >> hostBits) << hostBits;
}
