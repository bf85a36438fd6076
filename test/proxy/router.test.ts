import t from 'tap';
import { parseConfig } from '../../proxy/config/load.js';
import type { ServerConfig } from '../../proxy/config/types.js';
import { bindings, hostName, listenGroups } from '../../proxy/router.js';

const name = (server: ServerConfig): string => server.serverNames[0]!;

t.test('hostName: the Host as nginx compares it', async (t) => {
  const rows: Array<[string | undefined, string]> = [
    [undefined, ''],
    ['', ''],
    ['Example.COM', 'example.com'],
    ['example.com:8080', 'example.com'],
    ['example.com.', 'example.com'],
    ['example.com.:80', 'example.com'],
    ['[::1]:8080', '[::1]'],
    ['[::1]', '[::1]'],
    ['10.0.0.1:80', '10.0.0.1'],
  ];
  for (const [host, expected] of rows) t.equal(hostName(host), expected, String(host));
});

t.test('listenGroups: one group per address, 8080 and 0.0.0.0:8080 being one', async (t) => {
  const config = parseConfig('server { listen 8080; server_name a; } server { listen 0.0.0.0:8080; listen [::1]:8080; server_name b; }', 'g.conf');
  const groups = listenGroups(config);
  t.same(
    groups.map((g) => [g.address, g.hosts.servers.map(name)]),
    [
      [{ kind: 'tcp', host: '0.0.0.0', port: 8080 }, ['a', 'b']],
      [{ kind: 'tcp', host: '::1', port: 8080 }, ['b']],
    ],
  );
});

t.test("bindings: a wildcard port takes in that port's specific addresses, as nginx binds", async (t) => {
  const config = parseConfig(
    `server { listen 80; server_name wild; }
     server { listen 127.0.0.1:80; server_name local; }
     server { listen 10.1.2.3:80 default_server; listen 127.0.0.1:81; server_name ten; }
     server { listen [::]:80; server_name wild6; }
     server { listen [0:0::1]:80; server_name local6; }
     server { listen localhost:80; listen unix:/run/p.sock; server_name named; }`,
    'b.conf',
  );
  const bound = bindings(config);
  t.same(
    bound.map((b) => b.address),
    [
      { kind: 'tcp', host: '0.0.0.0', port: 80 },
      { kind: 'tcp', host: '127.0.0.1', port: 81 }, // no wildcard on 81: bound as it is
      { kind: 'tcp', host: '::', port: 80 },
      { kind: 'tcp', host: 'localhost', port: 80 }, // a name is not folded in
      { kind: 'unix', path: '/run/p.sock' },
    ],
  );
  const [v4, own, v6, named, unix] = bound;
  const pick = (b: (typeof bound)[number], local: string | undefined, host = 'unknown'): string => name(b.hosts(local).match(host));
  t.equal(pick(v4!, '127.0.0.1'), 'local', 'a connection to 127.0.0.1 sees only the servers listening there');
  t.equal(pick(v4!, '127.0.0.1', 'wild'), 'local');
  t.equal(pick(v4!, '10.1.2.3'), 'ten');
  t.equal(pick(v4!, '192.168.0.9', 'ten'), 'wild', 'any other address: the wildcard servers');
  t.equal(pick(v4!, undefined), 'wild');
  t.equal(pick(own!, '127.0.0.1'), 'ten');
  t.equal(pick(v6!, '::1'), 'local6', 'IPv6 compared in canonical form');
  t.equal(pick(v6!, '::2'), 'wild6');
  t.equal(pick(named!, '127.0.0.1'), 'named');
  t.equal(pick(unix!, undefined), 'named');
  t.equal(name(v4!.own.fallback), 'wild', "the bound wildcard's own servers (their default server's limits are the socket's)");
  t.equal(name(own!.own.fallback), 'ten');
});
