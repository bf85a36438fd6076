/**
 * The validated, typed proxy configuration: what the rest of the proxy consumes.
 * Strings that meet request data (location URIs, server names, tsgi_param names and values,
 * tsgi_script_name, return texts and URLs) are byte strings: the UTF-8 of the config text read
 * as latin-1, one char per byte, the form Node gives request paths and headers in.
 */

import type { RealIpConfig } from '../realip.js';
import type { ResponseBuffering } from '../response-body.js';

/** A tcp host is as written (`localhost` stays), IPv6 without brackets, `*` as 0.0.0.0. */
export type Address = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

export interface UpstreamServerConfig extends ServerParameters {
  address: Address;
  /** The address as written in the config, for logs. */
  text: string;
}

/** nginx's server parameters: weight=1 max_fails=1 fail_timeout=10s max_conns=0 by default. */
export interface ServerParameters {
  weight: number;
  maxFails: number;
  failTimeoutMs: number;
  maxConns: number;
  backup: boolean;
  down: boolean;
  /** After an active health check brings it back, its weight ramps up over this long. */
  slowStartMs: number;
}

/** The balancing method of an upstream block (round robin unless one is named). */
export type BalanceConfig =
  | { kind: 'round_robin' }
  | { kind: 'least_conn' }
  | { kind: 'ip_hash' }
  | { kind: 'hash'; key: string; consistent: boolean }
  | { kind: 'random'; two: boolean };

/** `health_check`: PING every interval; `fails` misses take a server out, `passes` answers bring it back. */
export interface HealthCheckConfig {
  intervalMs: number;
  timeoutMs: number;
  fails: number;
  passes: number;
}

/** `queue N timeout=T`: requests waiting for a server below max_conns. */
export interface QueueConfig {
  size: number;
  timeoutMs: number;
}

/** tsgi_next_upstream and its limits. */
export interface NextUpstreamConfig {
  /** Empty = `off`. */
  conditions: string[];
  tries: number;
  timeoutMs: number;
}

export interface UpstreamConfig {
  name: string;
  servers: UpstreamServerConfig[];
  /** Idle connections kept open per upstream server. */
  keepalive: number;
  method: BalanceConfig;
  /** null: no queue, a request fails at once when every server is at max_conns. */
  queue: QueueConfig | null;
  /** null: no active health checks (failures are still counted passively). */
  healthCheck: HealthCheckConfig | null;
  /** Created by `tsgi_pass ADDRESS` rather than an `upstream` block; named by the address text. */
  implicit: boolean;
}

export interface TsgiParam {
  name: string;
  /** As written: `$variables` are expanded per request, not here. */
  value: string;
  /** Send the param only when the expanded value is not empty. */
  ifNotEmpty: boolean;
}

/**
 * `return CODE [TEXT | URL]` / `return URL`: answered by the proxy itself (proxy/return.ts).
 * `body` and `location` are templates, expanded per request.
 */
export interface ReturnRule {
  status: number;
  /** TEXT for codes other than 301, 302, 303, 307, 308. */
  body?: string;
  /** URL for 301, 302, 303, 307, 308. */
  location?: string;
  /** absolute_redirect: a URL starting with "/" gets scheme://host[:port] (default true). */
  absolute?: boolean;
}

/** '' prefix, '=' exact, '^~' prefix that stops the regex search, '~' / '~*' regex. */
export type LocationModifier = '' | '=' | '^~' | '~' | '~*';

export interface LocationConfig {
  modifier: LocationModifier;
  /** The path for prefix and exact locations; the regex source for `~` and `~*`. */
  uri: string;
  /** `~` and `~*` only: compiled once, at load (`~*` case-insensitively). */
  regex?: RegExp;
  /** Key into ProxyConfig.upstreams; '' when the location has no tsgi_pass (only `return`). */
  upstream: string;
  readTimeoutMs: number;
  connectTimeoutMs: number;
  sendTimeoutMs: number;
  clientBodyTimeoutMs: number;
  clientSendTimeoutMs: number;
  nextUpstream: NextUpstreamConfig;
  /** Bytes; 0 = unlimited. */
  clientMaxBodySize: number;
  /** tsgi_request_buffering, client_body_buffer_size (bytes), client_body_temp_path. */
  requestBuffering: boolean;
  clientBodyBufferSize: number;
  clientBodyTempPath: string;
  /** tsgi_buffering and its bounds (response-body.ts). */
  buffering: ResponseBuffering & { on: boolean };
  params: TsgiParam[];
  /** tsgi_script_name: the mount prefix that becomes SCRIPT_NAME, '' for none. */
  scriptName: string;
  return?: ReturnRule;
  /**
   * nginx's redirect for a prefix location ending in "/" that passes to an upstream: a request
   * for the URI without that slash gets this 301 (see proxy/locations.ts).
   */
  slashRedirect?: ReturnRule;
  /** Nested locations, in config order. */
  locations: LocationConfig[];
}

export interface ListenConfig {
  address: Address;
  /** The address as written in the config, for logs. */
  text: string;
  defaultServer: boolean;
}

/**
 * How a server treats its clients (issue #6). The connection-level ones (header timeout,
 * keep-alive, header buffers) are read from the default server of each listening address, as
 * nginx reads them before it knows the Host; the others apply per server.
 */
export interface ClientConfig {
  /** client_header_timeout: the whole head must arrive within this, else 408. */
  headerTimeoutMs: number;
  /** keepalive_timeout: an idle connection is closed after this; 0 disables keep-alive. */
  keepaliveTimeoutMs: number;
  /** keepalive_requests: requests per connection before it is closed. */
  keepaliveRequests: number;
  /** lingering_time: the longest a body is discarded after the answer (then the connection is cut). */
  lingeringTimeMs: number;
  /** lingering_timeout: the longest pause in a body being discarded. */
  lingeringTimeoutMs: number;
  /** large_client_header_buffers NUMBER SIZE: a request line over SIZE → 414, a header line → 431, the head over NUMBER × SIZE → 431. */
  headerBuffers: { number: number; size: number };
  /** client_max_headers: more header lines → 431. */
  maxHeaders: number;
  underscoresInHeaders: boolean;
  ignoreInvalidHeaders: boolean;
  mergeSlashes: boolean;
  realIp: RealIpConfig;
}

export interface ServerConfig {
  listen: ListenConfig[];
  client: ClientConfig;
  /**
   * As written, in order: exact and wildcard names lower-cased, `$hostname` replaced by the
   * host's name, regexes (`~...`) untouched; `""` matches requests without a Host.
   */
  serverNames: string[];
  /** A server-level `return` answers every request, before locations are looked at. */
  return?: ReturnRule;
  /** In config order; matching rules belong to proxy/locations.ts. */
  locations: LocationConfig[];
}

export interface ProxyConfig {
  file: string;
  workers: number | 'auto';
  /** multi_accept: several accepts per event-loop turn on each listening socket. */
  multiAccept: boolean;
  /** Explicit upstreams in config order, then implicit ones in order of first use. */
  upstreams: Map<string, UpstreamConfig>;
  servers: ServerConfig[];
}
