import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadConfig, parseConfig } from '../../../proxy/config/load.js';
import type { LocationConfig, ProxyConfig, UpstreamConfig } from '../../../proxy/config/types.js';

const S = 1000;
const MB = 1024 * 1024;
/** tsgi_buffering's defaults: nginx's on 64-bit Linux (4k pages). */
const BUFFERING = { on: true, memoryBytes: 4096 + 8 * 4096, busyBytes: 8192, maxFileBytes: 1024 * MB, tempDir: '/tmp' };

const FULL = `
# main level: inherited by every server and location unless they set their own
workers 4;
multi_accept off;
client_max_body_size 2m;
tsgi_read_timeout 30s;
tsgi_param APP_ENV production;
tsgi_param FROM main;

upstream app {
    server unix:/run/tsgi/app.sock;
    server 10.0.0.7:9000;
    server [::1]:9001;
    keepalive 4;
}

server {
    listen 127.0.0.1:8080 default_server;
    listen [::]:8080;
    listen unix:run/proxy.sock;          # relative: kept as written
    server_name Example.COM www.example.com;
    server_name "";
    tsgi_connect_timeout 5s;

    location / {
        tsgi_pass app;                     # inherits everything
    }

    location = /upload {
        tsgi_pass later;                   # defined further down
        client_max_body_size 0;            # unlimited
        tsgi_read_timeout 1m30s;
        tsgi_param ONLY here if_not_empty; # replaces all the inherited params
        tsgi_buffering off;
        tsgi_buffer_size 16k;
        tsgi_buffers 4 64k;
        tsgi_busy_buffers_size 128k;
        tsgi_max_temp_file_size 0;
        tsgi_temp_path /var/tmp;
    }

    location /direct/ {
        tsgi_pass unix:/run/other.sock;    # implicit upstream
        tsgi_send_timeout 500ms;
    }

    location /again/ {
        tsgi_pass unix:/run/other.sock;    # reuses the same implicit upstream
    }
}

server {
    client_max_body_size 8k;
    tsgi_param SERVER two;

    location /x { tsgi_pass localhost:9000; }
}

upstream later {
    server localhost:9002;
}
`;

function location(overrides: Partial<LocationConfig> & Pick<LocationConfig, 'uri' | 'upstream'>): LocationConfig {
  return {
    modifier: '',
    readTimeoutMs: 30 * S,
    connectTimeoutMs: 60 * S,
    sendTimeoutMs: 60 * S,
    clientBodyTimeoutMs: 60 * S,
    clientSendTimeoutMs: 60 * S,
    nextUpstream: { conditions: ['error', 'timeout'], tries: 0, timeoutMs: 0 },
    clientMaxBodySize: 2 * MB,
    requestBuffering: true,
    clientBodyBufferSize: 16 * 1024,
    clientBodyTempPath: '/tmp',
    buffering: BUFFERING,
    params: [
      { name: 'APP_ENV', value: 'production', ifNotEmpty: false },
      { name: 'FROM', value: 'main', ifNotEmpty: false },
    ],
    scriptName: '',
    locations: [],
    ...overrides,
  };
}

/** nginx's 301 from `/x` to `/x/` that a prefix location `/x/` with tsgi_pass carries. */
function slash(uri: string, absolute = true): LocationConfig['slashRedirect'] {
  return { status: 301, location: `${uri}$is_args$args`, absolute };
}

function implicitUnix(name: string, path: string): UpstreamConfig {
  return { name, servers: [{ address: { kind: 'unix', path }, text: name, weight: 1, maxFails: 1, failTimeoutMs: 10_000, maxConns: 0, backup: false, down: false, slowStartMs: 0 }], keepalive: 2, method: { kind: 'round_robin' }, queue: null, healthCheck: null, implicit: true };
}

/** nginx's defaults for the client-facing directives (issue #6). */
const DEFAULT_CLIENT = {
  headerTimeoutMs: 60 * S,
  keepaliveTimeoutMs: 75 * S,
  keepaliveRequests: 1000,
  lingeringTimeMs: 30 * S,
  lingeringTimeoutMs: 5 * S,
  headerBuffers: { number: 4, size: 8192 },
  maxHeaders: 100,
  underscoresInHeaders: false,
  ignoreInvalidHeaders: true,
  mergeSlashes: true,
  realIp: { from: [], header: 'X-Real-IP', recursive: false },
};

t.test('a full config: defaults, inheritance, explicit and implicit upstreams', async (t) => {
  const config = parseConfig(FULL, 'full.conf');
  t.equal(config.file, 'full.conf');
  t.equal(config.workers, 4);
  t.equal(config.multiAccept, false);

  t.same([...config.upstreams.keys()], ['app', 'later', 'unix:/run/other.sock', 'localhost:9000']);
  t.same(config.upstreams.get('app'), {
    name: 'app',
    servers: [
      { address: { kind: 'unix', path: '/run/tsgi/app.sock' }, text: 'unix:/run/tsgi/app.sock', weight: 1, maxFails: 1, failTimeoutMs: 10_000, maxConns: 0, backup: false, down: false, slowStartMs: 0 },
      { address: { kind: 'tcp', host: '10.0.0.7', port: 9000 }, text: '10.0.0.7:9000', weight: 1, maxFails: 1, failTimeoutMs: 10_000, maxConns: 0, backup: false, down: false, slowStartMs: 0 },
      { address: { kind: 'tcp', host: '::1', port: 9001 }, text: '[::1]:9001', weight: 1, maxFails: 1, failTimeoutMs: 10_000, maxConns: 0, backup: false, down: false, slowStartMs: 0 },
    ],
    keepalive: 4,
    method: { kind: 'round_robin' },
    queue: null,
    healthCheck: null,
    implicit: false,
  });
  t.same(config.upstreams.get('later'), {
    name: 'later',
    servers: [{ address: { kind: 'tcp', host: 'localhost', port: 9002 }, text: 'localhost:9002', weight: 1, maxFails: 1, failTimeoutMs: 10_000, maxConns: 0, backup: false, down: false, slowStartMs: 0 }],
    keepalive: 2,
    method: { kind: 'round_robin' },
    queue: null,
    healthCheck: null,
    implicit: false,
  });
  t.same(config.upstreams.get('unix:/run/other.sock'), implicitUnix('unix:/run/other.sock', '/run/other.sock'));
  t.same(config.upstreams.get('localhost:9000'), {
    name: 'localhost:9000',
    servers: [{ address: { kind: 'tcp', host: 'localhost', port: 9000 }, text: 'localhost:9000', weight: 1, maxFails: 1, failTimeoutMs: 10_000, maxConns: 0, backup: false, down: false, slowStartMs: 0 }],
    keepalive: 2,
    method: { kind: 'round_robin' },
    queue: null,
    healthCheck: null,
    implicit: true,
  });

  const [first, second] = config.servers;
  t.equal(config.servers.length, 2);
  t.same(first, {
    listen: [
      { address: { kind: 'tcp', host: '127.0.0.1', port: 8080 }, text: '127.0.0.1:8080', defaultServer: true },
      { address: { kind: 'tcp', host: '::', port: 8080 }, text: '[::]:8080', defaultServer: false },
      { address: { kind: 'unix', path: 'run/proxy.sock' }, text: 'unix:run/proxy.sock', defaultServer: false },
    ],
    client: DEFAULT_CLIENT,
    serverNames: ['example.com', 'www.example.com', ''],
    locations: [
      location({ uri: '/', upstream: 'app', connectTimeoutMs: 5 * S }),
      location({
        modifier: '=',
        uri: '/upload',
        upstream: 'later',
        connectTimeoutMs: 5 * S,
        readTimeoutMs: 90 * S,
        clientMaxBodySize: 0,
        requestBuffering: true,
        clientBodyBufferSize: 16 * 1024,
        clientBodyTempPath: '/tmp',
        buffering: { ...BUFFERING, on: false, memoryBytes: 16 * 1024 + 4 * 64 * 1024, busyBytes: 128 * 1024, maxFileBytes: 0, tempDir: '/var/tmp' },
        params: [{ name: 'ONLY', value: 'here', ifNotEmpty: true }],
      }),
      location({
        uri: '/direct/',
        upstream: 'unix:/run/other.sock',
        connectTimeoutMs: 5 * S,
        sendTimeoutMs: 500,
        slashRedirect: slash('/direct/'),
      }),
      location({ uri: '/again/', upstream: 'unix:/run/other.sock', connectTimeoutMs: 5 * S, slashRedirect: slash('/again/') }),
    ],
  });
  t.same(second, {
    listen: [{ address: { kind: 'tcp', host: '0.0.0.0', port: 80 }, text: '0.0.0.0:80', defaultServer: false }],
    client: DEFAULT_CLIENT,
    serverNames: [''],
    locations: [
      location({
        uri: '/x',
        upstream: 'localhost:9000',
        clientMaxBodySize: 8 * 1024,
        requestBuffering: true,
        clientBodyBufferSize: 16 * 1024,
        clientBodyTempPath: '/tmp',
        params: [{ name: 'SERVER', value: 'two', ifNotEmpty: false }],
      }),
    ],
  });
});

t.test('an empty config takes every default', async (t) => {
  const config: ProxyConfig = parseConfig('# nothing\n', 'empty.conf');
  t.same(config, { file: 'empty.conf', workers: 1, multiAccept: true, upstreams: new Map(), servers: [] });
});

t.test('defaults of a minimal location', async (t) => {
  const config = parseConfig('server { location / { tsgi_pass 127.0.0.1:9000; } }', 'min.conf');
  t.same(config.servers[0]?.locations[0], {
    modifier: '',
    uri: '/',
    upstream: '127.0.0.1:9000',
    readTimeoutMs: 60 * S,
    connectTimeoutMs: 60 * S,
    sendTimeoutMs: 60 * S,
    clientBodyTimeoutMs: 60 * S,
    clientSendTimeoutMs: 60 * S,
    nextUpstream: { conditions: ['error', 'timeout'], tries: 0, timeoutMs: 0 },
    clientMaxBodySize: MB,
    requestBuffering: true,
    clientBodyBufferSize: 16 * 1024,
    clientBodyTempPath: '/tmp',
    buffering: BUFFERING,
    params: [],
    scriptName: '',
    locations: [],
  });
});

t.test('request buffering: inherited from the server, overridden per location', async (t) => {
  const config = parseConfig(
    `client_body_temp_path /var/cache/tsgi;
     server { client_body_buffer_size 128k; tsgi_request_buffering off;
       location / { tsgi_pass 127.0.0.1:9000; }
       location /upload { tsgi_pass 127.0.0.1:9000; tsgi_request_buffering on; } }`,
    'buf.conf',
  );
  const pick = (l: LocationConfig | undefined) => ({ on: l?.requestBuffering, memory: l?.clientBodyBufferSize, dir: l?.clientBodyTempPath });
  const [root, upload] = config.servers[0]!.locations;
  t.same(pick(root), { on: false, memory: 128 * 1024, dir: '/var/cache/tsgi' });
  t.same(pick(upload), { on: true, memory: 128 * 1024, dir: '/var/cache/tsgi' });
});

t.test('response buffering: inherited, overridden per location, sizes added up', async (t) => {
  const config = parseConfig(
    `tsgi_temp_path /var/cache/tsgi;
     server { tsgi_buffering off; tsgi_buffers 16 8k;
       location / { tsgi_pass 127.0.0.1:9000; }
       location /page { tsgi_pass 127.0.0.1:9000; tsgi_buffering on; tsgi_buffer_size 8k; tsgi_max_temp_file_size 64m; } }`,
    'rbuf.conf',
  );
  const [root, page] = config.servers[0]!.locations;
  t.same(root?.buffering, { on: false, memoryBytes: 4096 + 16 * 8192, busyBytes: 8192, maxFileBytes: 1024 * MB, tempDir: '/var/cache/tsgi' });
  t.same(page?.buffering, { on: true, memoryBytes: 8192 + 16 * 8192, busyBytes: 8192, maxFileBytes: 64 * MB, tempDir: '/var/cache/tsgi' });
});

t.test('listen forms and workers auto', async (t) => {
  const config = parseConfig(
    `workers auto;
     server { listen 8080; listen *:8081; listen localhost:0; location = / { tsgi_pass [2001:db8::1]:9000; } }`,
    'l.conf',
  );
  t.equal(config.workers, 'auto');
  t.same(
    config.servers[0]?.listen.map((l) => l.address),
    [
      { kind: 'tcp', host: '0.0.0.0', port: 8080 },
      { kind: 'tcp', host: '0.0.0.0', port: 8081 },
      { kind: 'tcp', host: 'localhost', port: 0 },
    ],
  );
  t.same(config.upstreams.get('[2001:db8::1]:9000')?.servers[0]?.address, { kind: 'tcp', host: '2001:db8::1', port: 9000 });
});

t.test('glued and quoted forms nginx accepts', async (t) => {
  const config = parseConfig(`server { location =/exact { tsgi_pass "unix:/a b.sock"; } location "/q x" { tsgi_pass 'unix:/c'; } }`, 'g.conf');
  t.same(
    config.servers[0]?.locations.map((l) => [l.modifier, l.uri, l.upstream]),
    [
      ['=', '/exact', 'unix:/a b.sock'],
      ['', '/q x', 'unix:/c'],
    ],
  );
});

t.test('the same default_server address on different servers differs by host', async (t) => {
  const config = parseConfig(
    'server { listen 127.0.0.1:80 default_server; } server { listen 127.0.0.2:80 default_server; }',
    'd.conf',
  );
  t.equal(config.servers.length, 2);
});

t.test('the DESIGN.md example (minus directives not supported yet) parses', async (t) => {
  const config = parseConfig(
    `workers auto;

upstream app {
    server unix:/run/tsgi/app.sock;
    server 10.0.0.7:9000;
    keepalive 4;
}

server {
    listen 127.0.0.1:8080;
    server_name example.com;
    client_max_body_size 10m;

    location / {
        tsgi_pass app;
        tsgi_read_timeout 60s;
        tsgi_param APP_ENV production;
    }
}
`,
    'design.conf',
  );
  t.equal(config.workers, 'auto');
  t.equal(config.upstreams.get('app')?.servers.length, 2);
  t.equal(config.upstreams.get('app')?.keepalive, 4);
  t.same(config.servers[0]?.locations[0], {
    modifier: '',
    uri: '/',
    upstream: 'app',
    readTimeoutMs: 60 * S,
    connectTimeoutMs: 60 * S,
    sendTimeoutMs: 60 * S,
    clientBodyTimeoutMs: 60 * S,
    clientSendTimeoutMs: 60 * S,
    nextUpstream: { conditions: ['error', 'timeout'], tries: 0, timeoutMs: 0 },
    clientMaxBodySize: 10 * MB,
    requestBuffering: true,
    clientBodyBufferSize: 16 * 1024,
    clientBodyTempPath: '/tmp',
    buffering: BUFFERING,
    params: [{ name: 'APP_ENV', value: 'production', ifNotEmpty: false }],
    scriptName: '',
    locations: [],
  });
});

t.test('loadConfig reads a file and keeps socket paths as written', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-config-'));
  const file = join(dir, 'proxy.conf');
  writeFileSync(file, 'server { location / { tsgi_pass unix:app.sock; } }\n');
  const config = loadConfig(file);
  t.equal(config.file, file);
  t.same(config.upstreams.get('unix:app.sock')?.servers[0]?.address, { kind: 'unix', path: 'app.sock' });
});

t.test('loadConfig reports an unreadable file as a ConfigError', async (t) => {
  const file = join(tmpdir(), 'tsgi-config-does-not-exist', 'proxy.conf');
  t.throws(() => loadConfig(file), { name: 'ConfigError', code: 'E_FILE', file, line: 0, column: 0 });
  t.throws(() => loadConfig(file), { message: `${file}: cannot read config file (ENOENT)` });
});

t.test('upstream server parameters, balancing methods and tsgi_next_upstream', async (t) => {
  const config = parseConfig(
    `upstream u {
       hash $remote_addr$uri consistent;
       server unix:/a weight=3 max_fails=0 fail_timeout=30s max_conns=8;
       server unix:/b down;
     }
     upstream v { least_conn; server unix:/c; server unix:/d backup; }
     upstream w { random two least_conn; server unix:/e; }
     server { location / { tsgi_pass u; tsgi_next_upstream error http_503 non_idempotent; tsgi_next_upstream_tries 2; tsgi_next_upstream_timeout 5s; } }`,
    'u.conf',
  );
  const u = config.upstreams.get('u')!;
  t.same(u.method, { kind: 'hash', key: '$remote_addr$uri', consistent: true });
  t.match(u.servers[0], { weight: 3, maxFails: 0, failTimeoutMs: 30_000, maxConns: 8, backup: false, down: false, slowStartMs: 0 });
  t.match(u.servers[1], { weight: 1, down: true });
  t.same(config.upstreams.get('v')!.method, { kind: 'least_conn' });
  t.same(config.upstreams.get('w')!.method, { kind: 'random', two: true });
  t.ok(config.upstreams.get('v')!.servers[1]!.backup);
  t.same(config.servers[0]!.locations[0]!.nextUpstream, { conditions: ['error', 'http_503', 'non_idempotent'], tries: 2, timeoutMs: 5000 });
  const off = parseConfig('tsgi_next_upstream off; server { location / { tsgi_pass unix:/x; } }', 'o.conf');
  t.same(off.servers[0]!.locations[0]!.nextUpstream.conditions, [], 'off: no retries, inherited from the top level');
});
