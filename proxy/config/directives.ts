/**
 * The directive table: every directive tsgi understands, declared once. It drives validation
 * (where a directive may appear, how many arguments, block or `;`, repeatable or not), the
 * conversion of arguments to typed values, inheritance, defaults and the error messages, and a
 * directive reference can be generated from it. To add a directive, add an entry here and read
 * its value where the typed config is built (build.ts).
 */
import { hostname } from 'node:os';
import { looksLikeAddress, parseAddress, type AddressRules } from './address.js';
import { toByteString } from './bytes.js';
import { ConfigError, RegexError, ServerNameError, VariableError, type ConfigErrorCode, type ValueSite } from './errors.js';
import { parseText, type Arg, type Directive } from './parser.js';
import { compileRegex } from './regex.js';
import type { BalanceConfig, HealthCheckConfig, QueueConfig, ServerParameters, ListenConfig, LocationModifier, ReturnRule, TsgiParam, UpstreamServerConfig } from './types.js';
import { parseSize, parseTime } from './units.js';
import { parseTrustedSource, type TrustedSource } from '../realip.js';
import { REDIRECT_CODES } from '../return.js';
import { asciiLower, parseServerName } from '../server-names.js';
import { compileTemplate } from '../variables.js';

/** The block a directive is written in; 'main' is the top level of the file. */
export type Context = 'main' | 'upstream' | 'server' | 'location';

export interface DirectiveSpec<V = unknown> {
  readonly name: string;
  /** The nginx-docs "Syntax:" line. */
  readonly syntax: string;
  readonly contexts: readonly Context[];
  /** Argument count, inclusive; max may be Infinity when the converter checks the extras. */
  readonly args: readonly [min: number, max: number];
  /** The context of the `{ }` block this directive opens; absent: it ends with `;`. */
  readonly block?: Context;
  /** May appear more than once in one block (each occurrence is one value). */
  readonly repeatable: boolean;
  /**
   * Inherited into inner blocks (main → server → location) like nginx's merge: an inner block
   * sees the outer values unless it sets the directive itself; for a repeatable directive,
   * all of the outer occurrences unless it has at least one of its own.
   */
  readonly inherit: boolean;
  /** The default as config text (`'60s'`), converted like a written value; absent: none. */
  readonly default?: string;
  /** Checks the arguments and returns the typed value; throws ConfigError at the bad argument. */
  readonly convert: (directive: Directive) => V;
  readonly description: string;
  readonly example: string;
}

/** `location [ = | ^~ | ~ | ~* ] URI`: the URI in byte-string form, a regex compiled. */
export interface LocationMatch {
  modifier: LocationModifier;
  uri: string;
  regex?: RegExp;
}

/** `return`, before build.ts adds `absolute` from absolute_redirect. */
export type ReturnSpec = Omit<ReturnRule, 'absolute'>;

/** `tsgi_pass NAME` or `tsgi_pass ADDRESS` (an implicit single-server upstream). */
export type PassTarget = { kind: 'upstream'; name: string } | { kind: 'address'; server: UpstreamServerConfig };

/** Header lines a request may have at most: the rest of the protocol's environ keys are CGI keys and tsgi_params. */
const MAX_HEADER_LINES = 400;

const LISTEN_RULES: AddressRules = { barePort: true, zeroPort: true };
const UPSTREAM_RULES: AddressRules = { barePort: false, zeroPort: false };

export const DIRECTIVES = {
  include: define<string>({
    name: 'include',
    syntax: 'include FILE | MASK;',
    contexts: ['main', 'upstream', 'server', 'location'],
    args: [1, 1],
    repeatable: true,
    // Never converted: validate.ts replaces the directive by the directives of the files.
    convert: (d) => first(d).value,
    description:
      'Reads the directives of FILE in place of the `include`, in the same block. A relative path is ' +
      'taken from the directory of the file that contains the `include`. A MASK with `*`, `?` or `[...]` ' +
      'includes every matching file in path order, and may match none; a FILE must exist. A file may ' +
      'not include itself, directly or through others.',
    example: 'include conf.d/*.conf;',
  }),
  workers: define<number | 'auto'>({
    name: 'workers',
    syntax: 'workers NUMBER | auto;',
    contexts: ['main'],
    args: [1, 1],
    default: '1',
    convert: (d) => (first(d).value === 'auto' ? 'auto' : positiveInteger(d, first(d))),
    description: 'Number of proxy worker processes; `auto` means one per CPU core.',
    example: 'workers auto;',
  }),
  multiAccept: define<boolean>({
    name: 'multi_accept',
    syntax: 'multi_accept on | off;',
    contexts: ['main'],
    args: [1, 1],
    default: 'on',
    convert: onOff,
    description:
      'Whether a listening socket accepts several new connections per turn of the event loop (`on`, up to ' +
      'sixteen) or one (`off`). Node accepts one per turn; under load a turn serves every ready connection, ' +
      'so a burst of new connections waited in the accept queue for as many turns as there were of them: ' +
      '100-600 ms for 256 at once. Unlike nginx, on by default. Applies to listening sockets opened from ' +
      'then on (a reload keeps those it keeps as they are); proxy workers of `workers N` are handed their ' +
      'connections by the primary and take no part.',
    example: 'multi_accept off;',
  }),
  upstream: define<string>({
    name: 'upstream',
    syntax: 'upstream NAME { ... }',
    contexts: ['main'],
    args: [1, 1],
    block: 'upstream',
    repeatable: true,
    convert: (d) => first(d).value,
    description: 'A named group of runner addresses that `tsgi_pass NAME` sends requests to.',
    example: 'upstream app { server unix:/run/tsgi/app.sock; }',
  }),
  upstreamServer: define<UpstreamServerConfig>({
    name: 'server',
    syntax: 'server ADDRESS [weight=N] [max_fails=N] [fail_timeout=TIME] [max_conns=N] [slow_start=TIME] [backup] [down];',
    contexts: ['upstream'],
    args: [1, Infinity],
    repeatable: true,
    convert: (d) => ({
      address: parseAddress(first(d).value, UPSTREAM_RULES, site(d, first(d))),
      text: first(d).value,
      ...serverParameters(d),
    }),
    description:
      'A runner in the upstream: `unix:/path`, `host:port` or `[ipv6]:port`, with nginx\'s parameters: ' +
      '`weight` for the balancing, `max_fails` failures within `fail_timeout` mark it unavailable for ' +
      '`fail_timeout` (`max_fails=0` never does), `max_conns` limits its requests in flight, `slow_start` ' +
      'ramps its weight up after a `health_check` brings it back, `backup` ' +
      'serves only when every other server is unavailable, `down` takes it out.',
    example: 'server unix:/run/tsgi/a.sock weight=3 max_fails=2 fail_timeout=30s;',
  }),
  leastConn: define<BalanceConfig>({
    name: 'least_conn',
    syntax: 'least_conn;',
    contexts: ['upstream'],
    args: [0, 0],
    convert: () => ({ kind: 'least_conn' }),
    description: 'Send each request to the server with the fewest requests in flight (per unit of weight).',
    example: 'least_conn;',
  }),
  ipHash: define<BalanceConfig>({
    name: 'ip_hash',
    syntax: 'ip_hash;',
    contexts: ['upstream'],
    args: [0, 0],
    convert: () => ({ kind: 'ip_hash' }),
    description: 'Keep each client network (the first three octets of IPv4, all of IPv6) on one server.',
    example: 'ip_hash;',
  }),
  hash: define<BalanceConfig>({
    name: 'hash',
    syntax: 'hash KEY [consistent];',
    contexts: ['upstream'],
    args: [1, 2],
    convert: (d) => ({
      kind: 'hash',
      key: checkVariables(d, first(d)),
      consistent: flags(d, 1, ['consistent']).has('consistent'),
    }),
    description:
      'Choose the server by a hash of KEY (text with $variables); `consistent` uses a hash ring, so ' +
      'adding or removing a server moves only its share of the keys.',
    example: 'hash $request_uri consistent;',
  }),
  random: define<BalanceConfig>({
    name: 'random',
    syntax: 'random [two [least_conn]];',
    contexts: ['upstream'],
    args: [0, 2],
    convert: (d) => {
      const [two, method] = d.args;
      if (two && two.value !== 'two') throw new ConfigError('E_INVALID_PARAMETER', `invalid parameter "${two.value}" in "random"`, site(d, two));
      if (method && method.value !== 'least_conn') {
        throw new ConfigError('E_INVALID_PARAMETER', `invalid parameter "${method.value}" in "random"`, site(d, method));
      }
      return { kind: 'random', two: two !== undefined };
    },
    description: 'Choose a server at random by weight; `two` draws two and takes the one with fewer requests in flight.',
    example: 'random two least_conn;',
  }),
  healthCheck: define<HealthCheckConfig>({
    name: 'health_check',
    syntax: 'health_check [interval=TIME] [timeout=TIME] [fails=N] [passes=N];',
    contexts: ['upstream'],
    args: [0, 4],
    convert: (d) => {
      const out = { intervalMs: 5000, timeoutMs: 1000, fails: 1, passes: 1 };
      for (const arg of d.args) {
        const eq = arg.value.indexOf('=');
        const key = eq < 0 ? arg.value : arg.value.slice(0, eq);
        const valued = { ...arg, value: arg.value.slice(eq + 1) };
        if (eq > 0 && key === 'interval') out.intervalMs = parseTime(valued.value, site(d, arg));
        else if (eq > 0 && key === 'timeout') out.timeoutMs = parseTime(valued.value, site(d, arg));
        else if (eq > 0 && key === 'fails') out.fails = positiveInteger(d, valued);
        else if (eq > 0 && key === 'passes') out.passes = positiveInteger(d, valued);
        else throw new ConfigError('E_INVALID_PARAMETER', `invalid parameter "${arg.value}" in "health_check"`, site(d, arg));
      }
      return out;
    },
    description:
      'Active health checks over the protocol: every `interval` (5s) each server must answer a PING ' +
      'within `timeout` (1s); `fails` (1) misses in a row take it out of the rotation — a stalled ' +
      'runner too, not only a refused connection — and `passes` (1) answers bring it back, ramped up ' +
      'over its `slow_start`.',
    example: 'health_check interval=2s timeout=500ms fails=2 passes=2;',
  }),
  queue: define<QueueConfig>({
    name: 'queue',
    syntax: 'queue NUMBER [timeout=TIME];',
    contexts: ['upstream'],
    args: [1, 2],
    convert: (d) => {
      const [, option] = d.args;
      if (option && !option.value.startsWith('timeout=')) {
        throw new ConfigError('E_INVALID_PARAMETER', `invalid parameter "${option.value}" in "queue"`, site(d, option));
      }
      const timeoutMs = option ? parseTime(option.value.slice('timeout='.length), site(d, option)) : 60_000;
      return { size: positiveInteger(d, first(d)), timeoutMs };
    },
    description:
      'When every server is at its `max_conns`, up to NUMBER requests wait (at most `timeout`, 60s by ' +
      'default) for one to free up instead of failing at once; beyond that, 503.',
    example: 'queue 100 timeout=30s;',
  }),
  keepalive: define<number>({
    name: 'keepalive',
    syntax: 'keepalive CONNECTIONS;',
    contexts: ['upstream'],
    args: [1, 1],
    default: '2',
    convert: (d) => positiveInteger(d, first(d)),
    description: 'Idle connections to keep open to each server of the upstream.',
    example: 'keepalive 4;',
  }),
  server: define<void>({
    name: 'server',
    syntax: 'server { ... }',
    contexts: ['main'],
    args: [0, 0],
    block: 'server',
    repeatable: true,
    convert: () => undefined,
    description: 'A virtual server: the addresses it listens on, its names and its locations.',
    example: 'server { listen 8080; location / { tsgi_pass unix:/run/tsgi/app.sock; } }',
  }),
  listen: define<ListenConfig>({
    name: 'listen',
    syntax: 'listen ADDRESS [default_server];',
    contexts: ['server'],
    args: [1, Infinity],
    repeatable: true,
    // nginx listens on *:80 when run as root, *:8000 otherwise; tsgi always uses port 80.
    default: '0.0.0.0:80',
    convert: (d) => ({
      address: parseAddress(first(d).value, LISTEN_RULES, site(d, first(d))),
      text: first(d).value,
      // `default` is nginx's old spelling, still accepted.
      defaultServer: flags(d, 1, ['default_server', 'default']).size > 0,
    }),
    description:
      'Where the server accepts connections: `port`, `host:port`, `[ipv6]:port`, `*:port` or `unix:/path`. ' +
      '`default_server` makes it the server for requests whose Host matches no server_name. As in nginx, ' +
      'when a port has a wildcard (`listen 80;`, `[::]:80`) and specific IP addresses (`listen 127.0.0.1:80;`), ' +
      'only the wildcard is bound, and a connection is served by the servers listening on the address it came to, ' +
      'else by the wildcard\'s. The limits Node applies to a whole listening socket (`client_header_timeout`, ' +
      'the idle `keepalive_timeout`, the head size NUMBER × SIZE of `large_client_header_buffers`) are then those ' +
      'of the wildcard\'s default server. A reload that adds or removes the wildcard of a port in use is refused ' +
      '(the new socket cannot be bound beside the old one): restart instead.',
    example: 'listen 127.0.0.1:8080 default_server;',
  }),
  serverName: define<string[]>({
    name: 'server_name',
    syntax: 'server_name NAME ...;',
    contexts: ['server'],
    args: [1, Infinity],
    repeatable: true,
    default: '""',
    convert: serverNames,
    description:
      'Names of the server, matched against the Host (without port, case-insensitively; the host of an ' +
      'absolute-form target `GET http://host/path` takes the place of the Host, as in nginx): exact ' +
      '(`example.com`), leading wildcard (`*.example.com`; `.example.com` matches `example.com` too), ' +
      'trailing wildcard (`www.example.*`) or regex (`~^api\\d+\\.`). nginx\'s precedence: exact, longest ' +
      'leading wildcard, longest trailing wildcard, first matching regex in config order; then the ' +
      '`default_server` of the address, then its first server. `""` matches requests without a Host; ' +
      '`$hostname` is the machine\'s host name.',
    example: 'server_name example.com *.example.com "~^api\\d+\\.example\\.net$";',
  }),
  location: define<LocationMatch>({
    name: 'location',
    syntax: 'location [ = | ^~ | ~ | ~* ] URI { ... }',
    contexts: ['server', 'location'],
    args: [1, 2],
    block: 'location',
    repeatable: true,
    convert: locationMatch,
    description:
      'Settings for the request paths URI matches (the percent-decoded path, query excluded). nginx\'s ' +
      'order: an `=` location equal to the path wins at once; else the longest matching prefix is ' +
      'remembered (`^~` on it skips the regexes); then `~` (case-sensitive) and `~*` (case-insensitive) ' +
      'regexes are tried in config order and the first match wins; else the remembered prefix. ' +
      'Locations nest (not inside `=` ones; a nested prefix must start with its parent\'s); nested ' +
      'locations of the chosen one are searched the same way. A prefix location ending in `/` with ' +
      'tsgi_pass answers the path without the slash with a 301 to it, as nginx. Regexes are ' +
      'JavaScript\'s (PCRE-only syntax such as `\\A` or `(?i)` is refused); quote one containing `{`.',
    example: 'location ^~ /static/ { return 404; }',
  }),
  tsgiPass: define<PassTarget>({
    name: 'tsgi_pass',
    syntax: 'tsgi_pass UPSTREAM | ADDRESS;',
    contexts: ['location'],
    args: [1, 1],
    convert: passTarget,
    description:
      'The upstream that serves the location, by name or as a single runner address. Every location ' +
      'needs one, or a `return`; like nginx\'s uwsgi_pass it is not inherited by nested locations.',
    example: 'tsgi_pass unix:/run/tsgi/app.sock;',
  }),
  tsgiScriptName: define<string>({
    name: 'tsgi_script_name',
    syntax: 'tsgi_script_name PREFIX;',
    contexts: ['main', 'server', 'location'],
    args: [1, 1],
    inherit: true,
    default: '""',
    convert: scriptName,
    description:
      'Mounts the app under PREFIX: a request for PREFIX/rest gets SCRIPT_NAME=PREFIX and PATH_INFO=/rest ' +
      '(a path outside PREFIX keeps SCRIPT_NAME empty); a trailing "/" on PREFIX is ignored. What nginx ' +
      'users do with `uwsgi_param SCRIPT_NAME` plus `uwsgi_modifier1 30`, in one directive.',
    example: 'tsgi_script_name /app;',
  }),
  return: define<ReturnSpec>({
    name: 'return',
    syntax: 'return CODE [TEXT]; | return CODE URL; | return URL;',
    contexts: ['server', 'location'],
    args: [1, 2],
    repeatable: true,
    convert: returnSpec,
    description:
      'Answers at once without an upstream, as nginx: 301, 302, 303, 307 and 308 redirect to URL ' +
      '(`return URL;` alone, starting with `http://`, `https://` or `$scheme`, is a 302); other codes send ' +
      'TEXT as a text/plain body; 444 closes the connection without an answer. TEXT and URL may contain ' +
      '$variables. In a server it applies to every request, before locations; a location with `return` ' +
      'needs no tsgi_pass. Only the first `return` of a block counts.',
    example: 'return 301 https://example.com$request_uri;',
  }),
  absoluteRedirect: flag(
    'absolute_redirect',
    'on',
    'Whether a redirect to a path (`return 301 /new`, the trailing-slash redirect) is sent as an ' +
      'absolute URL with the scheme, the Host and the port when not the default, as nginx; `off` sends ' +
      'the path as it is (useful behind a TLS terminator).',
    'off',
  ),
  tsgiReadTimeout: timeout('tsgi_read_timeout', 'Longest wait between two reads of the response from the runner.'),
  tsgiConnectTimeout: timeout('tsgi_connect_timeout', 'Longest wait to establish a connection with a runner.'),
  tsgiSendTimeout: timeout('tsgi_send_timeout', 'Longest wait between two writes of the request to the runner.'),
  clientBodyTimeout: timeout('client_body_timeout', 'Longest wait between two reads of the request body from the client (then 408).'),
  sendTimeout: timeout('send_timeout', 'Longest wait for the client to take more of the response (then the connection is closed).'),
  tsgiNextUpstream: define<string[]>({
    name: 'tsgi_next_upstream',
    syntax: 'tsgi_next_upstream error | timeout | invalid_header | http_500 | http_502 | http_503 | http_504 | http_403 | http_404 | http_429 | non_idempotent | off ...;',
    contexts: ['main', 'server', 'location'],
    args: [1, Infinity],
    inherit: true,
    default: 'error timeout',
    convert: (d) => {
      const set = flags(d, 0, NEXT_UPSTREAM);
      if (set.has('off') && set.size > 1) throw new ConfigError('E_INVALID_PARAMETER', '"off" cannot be combined with other conditions in "tsgi_next_upstream"', site(d, first(d)));
      return set.has('off') ? [] : [...set];
    },
    description:
      'When a try may go to the next server of the upstream: a connection error, a timeout, an invalid ' +
      'head, or one of the listed statuses — as long as nothing was sent to the client and no body byte ' +
      'consumed. A request the runner never started (no ACCEPT) is retried whatever its method; one it ' +
      'started only if the method is idempotent or `non_idempotent` is listed.',
    example: 'tsgi_next_upstream error timeout http_503;',
  }),
  tsgiNextUpstreamTries: define<number>({
    name: 'tsgi_next_upstream_tries',
    syntax: 'tsgi_next_upstream_tries NUMBER;',
    contexts: ['main', 'server', 'location'],
    args: [1, 1],
    inherit: true,
    default: '0',
    convert: (d) => nonNegativeInteger(d, first(d)),
    description: 'Most tries a request may make across servers; 0 means no limit. A request a runner refused (it never ran) is not a try.',
    example: 'tsgi_next_upstream_tries 3;',
  }),
  tsgiNextUpstreamTimeout: define<number>({
    name: 'tsgi_next_upstream_timeout',
    syntax: 'tsgi_next_upstream_timeout TIME;',
    contexts: ['main', 'server', 'location'],
    args: [1, 1],
    inherit: true,
    default: '0',
    convert: (d) => parseTime(first(d).value, site(d, first(d))),
    description: 'Longest time a request may spend trying servers; 0 means no limit.',
    example: 'tsgi_next_upstream_timeout 10s;',
  }),
  tsgiParam: define<TsgiParam>({
    name: 'tsgi_param',
    syntax: 'tsgi_param NAME VALUE [if_not_empty];',
    contexts: ['main', 'server', 'location'],
    args: [2, 3],
    repeatable: true,
    inherit: true,
    convert: (d) => ({
      name: toByteString(first(d).value),
      value: toByteString(checkVariables(d, d.args[1] as Arg)),
      ifNotEmpty: flags(d, 2, ['if_not_empty']).has('if_not_empty'),
    }),
    description:
      'An extra environ key sent to the app, overriding a key of the same name; VALUE may contain ' +
      '$variables (`$remote_addr`, `$host`, `$request_uri`, `$uri`, `$args`, `$http_NAME`, `$arg_NAME`, ' +
      '`$cookie_NAME`...). Environ values are byte strings: NAME and VALUE go as the bytes of their ' +
      'UTF-8, each byte one latin-1 character, as nginx sends them. Inherited only by blocks that ' +
      'define no tsgi_param of their own.',
    example: 'tsgi_param APP_ENV production;',
  }),
  clientMaxBodySize: size('client_max_body_size', '1m', 'Largest request body accepted, else 413; 0 means unlimited.', '10m'),
  tsgiRequestBuffering: flag(
    'tsgi_request_buffering',
    'on',
    "Whether a request body is read whole from the client before the request goes to a runner (nginx's " +
      '`proxy_request_buffering`): in memory up to `client_body_buffer_size`, the rest in a temporary file ' +
      'under `client_body_temp_path`, so a slow uploader never holds an app worker, and a try that fails ' +
      'can be sent again with its body. A chunked body then reaches the app with CONTENT_LENGTH. `off` ' +
      'streams the body to the runner as it arrives, with flow control.',
    'off',
  ),
  clientBodyBufferSize: size(
    'client_body_buffer_size',
    '16k',
    "How much of a buffered request body is held in memory; beyond it the body goes to a temporary file (nginx's default on 64-bit systems).",
    '128k',
  ),
  clientBodyTempPath: tempPath(
    'client_body_temp_path',
    'Directory of the temporary files of buffered request bodies. Each file is removed from the directory ' +
      'as soon as it is created (only the open descriptor holds it), so nothing is left behind, even when the ' +
      'proxy is killed. When a file cannot be created or written (a missing directory, a full disk), the ' +
      'body is streamed to the runner instead, and a warning says why. nginx\'s `levels` are not needed and ' +
      'not accepted.',
    '/var/cache/tsgi/client_temp',
  ),
  tsgiBuffering: flag(
    'tsgi_buffering',
    'on',
    "Whether a response is taken from the runner as fast as the app produces it (nginx's `proxy_buffering`): " +
      'what the client has not read yet waits in memory (`tsgi_buffer_size` + `tsgi_buffers`), then in a ' +
      'temporary file under `tsgi_temp_path` (up to `tsgi_max_temp_file_size`), and reaches the client at ' +
      "the client's pace, so a slow reader never holds an app worker. Past those bounds, and with `off`, the " +
      'runner is held back by flow control until the client reads. An app chooses per response with the ' +
      'header `X-Accel-Buffering: no` (a stream, server-sent events) or `yes`; the header is not passed on.',
    'off',
  ),
  tsgiBufferSize: size(
    'tsgi_buffer_size',
    '4k',
    "Memory for the first part of a response, counted with `tsgi_buffers` (nginx's `proxy_buffer_size`, one memory page).",
    '16k',
  ),
  tsgiBuffers: define<{ number: number; size: number }>({
    name: 'tsgi_buffers',
    syntax: 'tsgi_buffers NUMBER SIZE;',
    contexts: ['main', 'server', 'location'],
    args: [2, 2],
    inherit: true,
    default: '8 4k',
    convert: (d) => {
      const [numberArg, sizeArg] = d.args as [Arg, Arg];
      const number = positiveInteger(d, numberArg);
      const bytes = parseSize(sizeArg.value, site(d, sizeArg));
      if (bytes === 0) throw new ConfigError('E_INVALID_SIZE', `"${d.name}" needs a SIZE greater than 0`, site(d, sizeArg));
      return { number, size: bytes };
    },
    description:
      "Memory that may hold a buffered response the client has not read yet: NUMBER × SIZE, plus `tsgi_buffer_size` (nginx's `proxy_buffers`). " +
      'Beyond it the response goes to a temporary file.',
    example: 'tsgi_buffers 8 64k;',
  }),
  tsgiBusyBuffersSize: size(
    'tsgi_busy_buffers_size',
    '8k',
    "While a buffered response is fed from its temporary file, how many bytes may wait on the client's socket before more are read back (nginx's `proxy_busy_buffers_size`). " +
      'It must be at least `tsgi_buffer_size` and one of `tsgi_buffers`, and less than all of `tsgi_buffers` minus one.',
    '64k',
  ),
  tsgiMaxTempFileSize: size(
    'tsgi_max_temp_file_size',
    '1024m',
    "How many bytes of a buffered response may wait in its temporary file; beyond it the runner is held back until the client reads (nginx's `proxy_max_temp_file_size`). " +
      '0 keeps responses in memory only. Otherwise it must be at least `tsgi_buffer_size` and one of `tsgi_buffers`.',
    '256m',
  ),
  tsgiTempPath: tempPath(
    'tsgi_temp_path',
    "Directory of the temporary files of buffered responses (nginx's `proxy_temp_path`). Each file is removed " +
      'from the directory as soon as it is created, so nothing is left behind, even when the proxy is killed. ' +
      'When a file cannot be created or written (a missing directory, a full disk), the rest of that response ' +
      'holds the runner back instead, and a warning says why.',
    '/var/cache/tsgi/response_temp',
  ),
  clientHeaderTimeout: define<number>({
    name: 'client_header_timeout',
    syntax: 'client_header_timeout TIME;',
    contexts: ['main', 'server'],
    args: [1, 1],
    inherit: true,
    default: '60s',
    convert: (d) => positiveTime(d, first(d)),
    description:
      'Longest time for the whole request head (request line and headers) to arrive, counted from its ' +
      'first byte (from the connection for the first request); then 408 and the connection is closed. ' +
      'A client trickling a byte at a time (slowloris) is cut at this deadline. Read from the default ' +
      'server of the listening address, as nginx.',
    example: 'client_header_timeout 10s;',
  }),
  keepaliveTimeout: define<number>({
    name: 'keepalive_timeout',
    syntax: 'keepalive_timeout TIME;',
    contexts: ['main', 'server'],
    args: [1, 1],
    inherit: true,
    default: '75s',
    convert: (d) => parseTime(first(d).value, site(d, first(d))),
    description:
      'How long an idle keep-alive client connection stays open after a response; 0 disables keep-alive ' +
      '(every response closes its connection). Read from the default server of the listening address.',
    example: 'keepalive_timeout 30s;',
  }),
  keepaliveRequests: define<number>({
    name: 'keepalive_requests',
    syntax: 'keepalive_requests NUMBER;',
    contexts: ['main', 'server'],
    args: [1, 1],
    inherit: true,
    default: '1000',
    convert: (d) => positiveInteger(d, first(d)),
    description:
      'Requests served on one client connection; the last one is answered with `Connection: close`. ' +
      'Read from the default server of the listening address.',
    example: 'keepalive_requests 100;',
  }),
  lingeringTime: define<number>({
    name: 'lingering_time',
    syntax: 'lingering_time TIME;',
    contexts: ['main', 'server'],
    args: [1, 1],
    inherit: true,
    default: '30s',
    convert: (d) => positiveTime(d, first(d)),
    description:
      'After an answer that closes the connection while the client is still sending the request body ' +
      '(413, a 400 or 408 before the body ended), the rest of the body is read and dropped, so the close ' +
      'does not reset the answer away before the client has read it (nginx\'s lingering close); when the ' +
      'body has ended our side is shut, and the connection is closed once the client closes its side, at ' +
      'the latest this long after the answer was written. Also bounds the discarding of a body the app ' +
      'answered without reading (the connection is kept if it ends in time). Not in `location` (nginx ' +
      'allows it there).',
    example: 'lingering_time 10s;',
  }),
  lingeringTimeout: define<number>({
    name: 'lingering_timeout',
    syntax: 'lingering_timeout TIME;',
    contexts: ['main', 'server'],
    args: [1, 1],
    inherit: true,
    default: '5s',
    convert: (d) => positiveTime(d, first(d)),
    description:
      'During the lingering close (see `lingering_time`), the longest wait for more of the body, and then ' +
      'for the client to close its side; past it the connection is closed.',
    example: 'lingering_timeout 2s;',
  }),
  largeClientHeaderBuffers: define<{ number: number; size: number }>({
    name: 'large_client_header_buffers',
    syntax: 'large_client_header_buffers NUMBER SIZE;',
    contexts: ['main', 'server'],
    args: [2, 2],
    inherit: true,
    default: '4 8k',
    convert: headerBuffers,
    description:
      'Bounds of the request head: a request line longer than SIZE gets 414, a header line longer ' +
      'than SIZE or a head larger than NUMBER × SIZE gets 431 (nginx answers 400 for headers; tsgi ' +
      'uses the status made for it). Read from the default server of the listening address.',
    example: 'large_client_header_buffers 4 16k;',
  }),
  clientMaxHeaders: define<number>({
    name: 'client_max_headers',
    syntax: 'client_max_headers NUMBER;',
    contexts: ['main', 'server'],
    args: [1, 1],
    inherit: true,
    default: '100',
    convert: (d) => {
      const n = positiveInteger(d, first(d));
      if (n > MAX_HEADER_LINES) throw new ConfigError('E_INVALID_NUMBER', `"${d.name}" is at most ${MAX_HEADER_LINES} (the environ sent to a runner is bounded)`, site(d, first(d)));
      return n;
    },
    description:
      'Most header lines a request may have, else 431. Not in nginx (its buffers bound the count); ' +
      `the default is Apache's LimitRequestFields. At most ${MAX_HEADER_LINES}, below the protocol's environ key limit.`,
    example: 'client_max_headers 200;',
  }),
  underscoresInHeaders: define<boolean>({
    name: 'underscores_in_headers',
    syntax: 'underscores_in_headers on | off;',
    contexts: ['main', 'server'],
    args: [1, 1],
    inherit: true,
    default: 'off',
    convert: onOff,
    description:
      'Whether header names with `_` reach the app. Off, as nginx, because `X_Foo` and `X-Foo` would ' +
      'both become HTTP_X_FOO: a client could pose as a header a trusted proxy sets. Only dropped while ' +
      '`ignore_invalid_headers` is on.',
    example: 'underscores_in_headers on;',
  }),
  ignoreInvalidHeaders: define<boolean>({
    name: 'ignore_invalid_headers',
    syntax: 'ignore_invalid_headers on | off;',
    contexts: ['main', 'server'],
    args: [1, 1],
    inherit: true,
    default: 'on',
    convert: onOff,
    description:
      'Drop header lines whose name is not letters, digits and `-` (and `_` with underscores_in_headers), ' +
      'as nginx; off passes every name the HTTP parser accepts. Names with characters that are not even ' +
      'valid in HTTP, and control bytes anywhere in a header, are refused with 400 either way.',
    example: 'ignore_invalid_headers off;',
  }),
  mergeSlashes: define<boolean>({
    name: 'merge_slashes',
    syntax: 'merge_slashes on | off;',
    contexts: ['main', 'server'],
    args: [1, 1],
    inherit: true,
    default: 'on',
    convert: onOff,
    description:
      'Whether runs of `/` in the decoded path become one before location matching and in PATH_INFO, ' +
      'as nginx. `.` and `..` segments are always resolved, and a `..` above the root gets 400; `%2F` ' +
      'decodes to a `/` like any other (REQUEST_URI keeps the raw target).',
    example: 'merge_slashes off;',
  }),
  setRealIpFrom: define<TrustedSource>({
    name: 'set_real_ip_from',
    syntax: 'set_real_ip_from ADDRESS | CIDR | unix:;',
    contexts: ['main', 'server'],
    args: [1, 1],
    repeatable: true,
    inherit: true,
    convert: (d) => {
      const source = parseTrustedSource(first(d).value);
      if (!source) throw new ConfigError('E_INVALID_ADDRESS', `invalid address "${first(d).value}" in "${d.name}" (expected an IP, a CIDR or unix:)`, site(d, first(d)));
      return source;
    },
    description:
      'A peer (IPv4 or IPv6 address or network, `unix:` for every Unix-socket peer) trusted to say who ' +
      'the client is in `real_ip_header`, as nginx\'s realip module. A request from any other peer keeps ' +
      'its peer address as REMOTE_ADDR whatever X-Forwarded-For, X-Real-IP or Forwarded it sends.',
    example: 'set_real_ip_from 10.0.0.0/8;',
  }),
  realIpHeader: define<string>({
    name: 'real_ip_header',
    syntax: 'real_ip_header FIELD;',
    contexts: ['main', 'server'],
    args: [1, 1],
    inherit: true,
    default: 'X-Real-IP',
    convert: (d) => {
      if (/^[A-Za-z0-9-]+$/.test(first(d).value)) return first(d).value;
      throw new ConfigError('E_INVALID_PARAMETER', `invalid header name "${first(d).value}" in "${d.name}"`, site(d, first(d)));
    },
    description:
      'The header a trusted peer names the client in: `X-Real-IP`, `X-Forwarded-For` (its lines form one ' +
      'list) or any other field. The last address of the list (an optional port allowed) becomes ' +
      'REMOTE_ADDR (and is what ip_hash sees); `$realip_remote_addr` keeps the peer. An invalid address ' +
      'leaves REMOTE_ADDR as it was.',
    example: 'real_ip_header X-Forwarded-For;',
  }),
  realIpRecursive: define<boolean>({
    name: 'real_ip_recursive',
    syntax: 'real_ip_recursive on | off;',
    contexts: ['main', 'server'],
    args: [1, 1],
    inherit: true,
    default: 'off',
    convert: onOff,
    description:
      'Off: the last address of the header is the client. On: addresses are taken from the right while ' +
      'they are trusted too (set_real_ip_from), and the first untrusted one is the client (the leftmost ' +
      'if all are trusted), as nginx.',
    example: 'real_ip_recursive on;',
  }),
} as const;

/** Every directive, in table order: for lookups and for generating the reference. */
export const DIRECTIVE_LIST: readonly DirectiveSpec[] = Object.values(DIRECTIVES);

const defaults = new Map<DirectiveSpec, unknown>();

/** The table default converted to a value, as if written in the config; undefined if none. */
export function defaultValue<V>(spec: DirectiveSpec<V>): V | undefined {
  if (spec.default === undefined) return undefined;
  if (!defaults.has(spec)) {
    const [directive] = parseText(`${spec.name} ${spec.default};`, `(default of "${spec.name}")`);
    defaults.set(spec, spec.convert(directive as Directive));
  }
  return defaults.get(spec) as V;
}

type SpecInput<V> = Omit<DirectiveSpec<V>, 'repeatable' | 'inherit'> & Partial<DirectiveSpec<V>>;

function define<V>(spec: SpecInput<V>): DirectiveSpec<V> {
  return { repeatable: false, inherit: false, ...spec };
}

function timeout(name: string, description: string): DirectiveSpec<number> {
  return define<number>({
    name,
    syntax: `${name} TIME;`,
    contexts: ['main', 'server', 'location'],
    args: [1, 1],
    inherit: true,
    default: '60s',
    convert: (d) => parseTime(first(d).value, site(d, first(d))),
    description,
    example: `${name} 30s;`,
  });
}

/** A SIZE directive (`16k`, `1m`) of main, server and location, inherited. */
function size(name: string, fallback: string, description: string, example: string): DirectiveSpec<number> {
  return define<number>({
    name,
    syntax: `${name} SIZE;`,
    contexts: ['main', 'server', 'location'],
    args: [1, 1],
    inherit: true,
    default: fallback,
    convert: (d) => parseSize(first(d).value, site(d, first(d))),
    description,
    example: `${name} ${example};`,
  });
}

/** An `on | off` directive of main, server and location, inherited. */
function flag(name: string, fallback: 'on' | 'off', description: string, example: 'on' | 'off'): DirectiveSpec<boolean> {
  return define<boolean>({
    name,
    syntax: `${name} on | off;`,
    contexts: ['main', 'server', 'location'],
    args: [1, 1],
    inherit: true,
    default: fallback,
    convert: onOff,
    description,
    example: `${name} ${example};`,
  });
}

/** A directory of temporary files (client_body_temp_path, tsgi_temp_path): main, server and location, inherited. */
function tempPath(name: string, description: string, example: string): DirectiveSpec<string> {
  return define<string>({
    name,
    syntax: `${name} PATH;`,
    contexts: ['main', 'server', 'location'],
    args: [1, 1],
    inherit: true,
    default: '/tmp',
    convert: (d) => first(d).value,
    description,
    example: `${name} ${example};`,
  });
}

/** Every `$name` must be a variable tsgi knows, as nginx checks at load time. */
function checkVariables(d: Directive, arg: Arg): string {
  try {
    compileTemplate(arg.value);
  } catch (err) {
    if (err instanceof VariableError) throw new ConfigError(err.code, `${err.message} in "${d.name}"`, site(d, arg));
    throw err;
  }
  return arg.value;
}

function first(d: Directive): Arg {
  return d.args[0] as Arg; // every converter's directive has at least one argument
}

function site(d: Directive, arg: Arg): ValueSite {
  return { file: d.file, line: arg.line, column: arg.column, directive: d.name };
}

const NEXT_UPSTREAM = ['error', 'timeout', 'invalid_header', 'http_500', 'http_502', 'http_503', 'http_504', 'http_403', 'http_404', 'http_429', 'non_idempotent', 'off'];

/** nginx's defaults for an upstream server's parameters. */
const SERVER_DEFAULTS: Readonly<ServerParameters> = { weight: 1, maxFails: 1, failTimeoutMs: 10_000, maxConns: 0, backup: false, down: false, slowStartMs: 0 };

/** `weight=N max_fails=N fail_timeout=T max_conns=N slow_start=T backup down` after a server's address. */
function serverParameters(d: Directive): ServerParameters {
  const out = { ...SERVER_DEFAULTS };
  for (const arg of d.args.slice(1)) {
    const [key, value] = arg.value.includes('=') ? [arg.value.slice(0, arg.value.indexOf('=')), arg.value.slice(arg.value.indexOf('=') + 1)] : [arg.value, ''];
    const valued = { ...arg, value };
    if (key === 'weight') out.weight = positiveInteger(d, valued);
    else if (key === 'max_fails') out.maxFails = nonNegativeInteger(d, valued);
    else if (key === 'fail_timeout') out.failTimeoutMs = parseTime(value, site(d, arg));
    else if (key === 'max_conns') out.maxConns = nonNegativeInteger(d, valued);
    else if (key === 'slow_start') out.slowStartMs = parseTime(value, site(d, arg));
    else if (arg.value === 'backup') out.backup = true;
    else if (arg.value === 'down') out.down = true;
    else throw new ConfigError('E_INVALID_PARAMETER', `invalid parameter "${arg.value}" in "server"`, site(d, arg));
  }
  return out;
}

function headerBuffers(d: Directive): { number: number; size: number } {
  const [numberArg, sizeArg] = d.args as [Arg, Arg];
  const number = positiveInteger(d, numberArg);
  const size = parseSize(sizeArg.value, site(d, sizeArg));
  // Below a kilobyte no ordinary browser request fits; Node's parser needs a bound it can hold.
  if (size < 1024 || number * size > 1024 * 1024) {
    throw new ConfigError('E_INVALID_SIZE', `"${d.name}" needs SIZE of at least 1k and NUMBER × SIZE of at most 1m`, site(d, sizeArg));
  }
  return { number, size };
}

/** A timeout of 0 would never fire (Node reads 0 as "no timeout"): refused. */
function positiveTime(d: Directive, arg: Arg): number {
  const ms = parseTime(arg.value, site(d, arg));
  if (ms > 0) return ms;
  throw new ConfigError('E_INVALID_TIME', `"${d.name}" must be greater than 0`, site(d, arg));
}

function nonNegativeInteger(d: Directive, arg: Arg): number {
  if (arg.value === '0') return 0;
  return positiveInteger(d, arg);
}

function positiveInteger(d: Directive, arg: Arg): number {
  const n = /^\d+$/.test(arg.value) ? Number(arg.value) : NaN;
  if (Number.isSafeInteger(n) && n > 0) return n;
  throw new ConfigError('E_INVALID_NUMBER', `invalid number "${arg.value}" in "${d.name}"`, site(d, arg));
}

/** The arguments from index `from` on, each of which must be one of `allowed`. */
function flags(d: Directive, from: number, allowed: readonly string[]): Set<string> {
  for (const arg of d.args.slice(from)) {
    if (!allowed.includes(arg.value)) {
      throw new ConfigError('E_INVALID_PARAMETER', `invalid parameter "${arg.value}" in "${d.name}"`, site(d, arg));
    }
  }
  return new Set(d.args.slice(from).map((arg) => arg.value));
}

/** Each name as ServerConfig keeps it; checked (and regexes compiled) here for the errors. */
function serverNames(d: Directive): string[] {
  return d.args.map((arg) => {
    const text = arg.value.toLowerCase() === '$hostname' ? asciiLower(hostname()) : toByteString(arg.value);
    try {
      return parseServerName(text).kind === 'regex' ? text : asciiLower(text);
    } catch (err) {
      if (err instanceof ServerNameError) throw new ConfigError(err.code, err.message, site(d, arg));
      if (err instanceof RegexError) throw invalidRegex(d, arg, text.slice(1), err);
      throw err;
    }
  });
}

const REGEX_MODIFIERS = ['^~', '~*', '~'];
const MODIFIERS: readonly string[] = ['=', ...REGEX_MODIFIERS];

function locationMatch(d: Directive): LocationMatch {
  const [modifierArg, uriArg] = splitLocation(d);
  const modifier = modifierArg?.value ?? '';
  if (modifierArg && !MODIFIERS.includes(modifier)) {
    throw new ConfigError('E_INVALID_PARAMETER', `invalid location modifier "${modifier}"`, site(d, modifierArg));
  }
  const uri = toByteString(uriArg.value);
  if (modifier !== '~' && modifier !== '~*') return { modifier: modifier as LocationModifier, uri };
  try {
    return { modifier, uri, regex: compileRegex(uri, modifier === '~*') };
  } catch (err) {
    if (err instanceof RegexError) throw invalidRegex(d, uriArg, uriArg.value, err);
    throw err;
  }
}

function invalidRegex(d: Directive, arg: Arg, source: string, err: RegexError): ConfigError {
  return new ConfigError(err.code, `invalid regex "${source}" in "${d.name}": ${err.message}`, site(d, arg));
}

function scriptName(d: Directive): string {
  const prefix = toByteString(first(d).value);
  if (prefix === '' || prefix.startsWith('/')) return prefix;
  throw new ConfigError('E_INVALID_SCRIPT_NAME', `"${d.name}" must be empty or start with "/", not "${first(d).value}"`, site(d, first(d)));
}

function onOff(d: Directive): boolean {
  const value = first(d).value.toLowerCase();
  if (value === 'on' || value === 'off') return value === 'on';
  throw new ConfigError(
    'E_INVALID_FLAG',
    `invalid value "${first(d).value}" in "${d.name}" directive, it must be "on" or "off"`,
    site(d, first(d)),
  );
}

const URL_START = /^(https?:\/\/|\$scheme)/;

/** nginx's forms: `CODE`, `CODE TEXT`, `CODE URL` (redirect codes), `URL` (302). */
function returnSpec(d: Directive): ReturnSpec {
  const [codeArg, textArg] = d.args as [Arg, Arg | undefined];
  if (!/^\d+$/.test(codeArg.value)) {
    if (!textArg && URL_START.test(codeArg.value)) return { status: 302, location: toByteString(checkVariables(d, codeArg)) };
    fail(d, codeArg, 'E_INVALID_RETURN_CODE', `invalid return code "${codeArg.value}"`);
  }
  const status = Number(codeArg.value);
  // nginx takes 0-999; a response needs a final status, and Node writes only 100-999.
  if (status < 200 || status > 999) fail(d, codeArg, 'E_INVALID_RETURN_CODE', `invalid return code "${codeArg.value}" (expected 200-999)`);
  // An empty TEXT or URL is no TEXT or URL, as in nginx.
  const text = textArg ? toByteString(checkVariables(d, textArg)) : '';
  if (text === '') return { status };
  return REDIRECT_CODES.has(status) ? { status, location: text } : { status, body: text };
}

function fail(d: Directive, arg: Arg, code: ConfigErrorCode, message: string): never {
  throw new ConfigError(code, message, site(d, arg));
}

/** `location = /x`, or nginx's glued `location =/x`: [modifier?, uri]. */
function splitLocation(d: Directive): [Arg | undefined, Arg] {
  const [a, b] = d.args as [Arg, Arg | undefined];
  if (b) return [a, b];
  if (a.value.startsWith('@')) throw unsupported(d, a, `named location "${a.value}" is not supported yet`);
  const glued = ['=', ...REGEX_MODIFIERS].find((m) => a.value.startsWith(m) && a.value.length > m.length);
  if (!glued) return [undefined, a];
  const uri = { ...a, value: a.value.slice(glued.length), column: a.column + glued.length };
  return [{ ...a, value: glued }, uri];
}

function passTarget(d: Directive): PassTarget {
  const text = first(d).value;
  if (!looksLikeAddress(text)) return { kind: 'upstream', name: text };
  const address = parseAddress(text, UPSTREAM_RULES, site(d, first(d)));
  return { kind: 'address', server: { address, text, ...SERVER_DEFAULTS } };
}

function unsupported(d: Directive, arg: Arg, message: string): ConfigError {
  return new ConfigError('E_UNSUPPORTED', message, site(d, arg));
}
