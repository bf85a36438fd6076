/** The validated, typed proxy configuration: what the rest of the proxy consumes. */

/** A tcp host is as written (`localhost` stays), IPv6 without brackets, `*` as 0.0.0.0. */
export type Address = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

export interface UpstreamServerConfig {
  address: Address;
  /** The address as written in the config, for logs. */
  text: string;
}

export interface UpstreamConfig {
  name: string;
  servers: UpstreamServerConfig[];
  /** Idle connections kept open per upstream server. */
  keepalive: number;
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

export interface LocationConfig {
  /** '' = prefix match, '=' = exact match. */
  modifier: '' | '=';
  uri: string;
  /** Key into ProxyConfig.upstreams. */
  upstream: string;
  readTimeoutMs: number;
  connectTimeoutMs: number;
  sendTimeoutMs: number;
  /** Bytes; 0 = unlimited. */
  clientMaxBodySize: number;
  params: TsgiParam[];
}

export interface ListenConfig {
  address: Address;
  /** The address as written in the config, for logs. */
  text: string;
  defaultServer: boolean;
}

export interface ServerConfig {
  listen: ListenConfig[];
  /** Lower-cased, as nginx compares them; `""` matches requests without a Host. */
  serverNames: string[];
  /** In config order; matching rules belong to the router. */
  locations: LocationConfig[];
}

export interface ProxyConfig {
  file: string;
  workers: number | 'auto';
  /** Explicit upstreams in config order, then implicit ones in order of first use. */
  upstreams: Map<string, UpstreamConfig>;
  servers: ServerConfig[];
}
