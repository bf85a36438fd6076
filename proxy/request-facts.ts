/**
 * What one client request is, read once from Node's request and its connection and then only
 * read: the head checks (request-head.ts), the `$variables` (variables.ts), the environ
 * (environ.ts), the exchange and its access-log line all take this one object, so a fact has
 * one name and is computed once. Plain data: the pure modules that read it never see an HTTP
 * object.
 */
export interface RequestFacts {
  method: string;
  /**
   * Raw request target (Node's req.url): REQUEST_URI, the access log's uri. `$request_uri` is
   * it without the scheme and authority of an absolute-form target, as nginx's.
   */
  target: string;
  /** '1.0', '1.1', or what else Node read ('0.9', '2.0'). */
  httpVersion: string;
  /** Node's flat [name, value, ...] as received, values latin-1. */
  rawHeaders: readonly string[];
  /** Node's lower-cased header map (for `$http_NAME`). */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /**
   * The host the request names, as written (port included): the authority of an absolute-form
   * target, which overrides the Host field (RFC 9112 §3.2.2, as nginx), else the Host field;
   * '' without either. server_name is matched against it; `$host` is it normalised.
   */
  host: string;
  /** Decoded, normalised path: `$uri`, PATH_INFO before the mount point is cut off. */
  path: string;
  /** Raw query without `?`: `$args`, QUERY_STRING. */
  query: string;
  /** The client, after set_real_ip_from: `$remote_addr`, REMOTE_ADDR. */
  remoteAddress: string;
  remotePort: number;
  /** The connection's own peer (before set_real_ip_from): `$realip_remote_addr`. */
  realipRemoteAddress: string;
  realipRemotePort: number;
  /** The matched server's first name, else the Host: `$server_name`, SERVER_NAME. */
  serverName: string;
  serverPort: number;
  /** The local address that accepted the connection: `$server_addr`. */
  serverAddress: string;
  scheme: 'http' | 'https';
  requestId: string;
}

/** The part of the facts known from the request line and fields alone. */
export type RequestHead = Pick<RequestFacts, 'method' | 'target' | 'httpVersion' | 'rawHeaders'>;
