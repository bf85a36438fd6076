import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import t from 'tap';
import { clientSocketBytes, parseSs, spreadOf } from './fairness.js';

// What `ss -Hntin state established '( dport = :8080 )'` prints on Debian 12 (iproute2 6.1):
// the socket's line, then its TCP info indented; a connection that has received nothing yet
// has no bytes_received.
const SS = `0      0      127.0.0.1:35928 127.0.0.1:8080
\t bbr wscale:10,10 rto:204 rtt:0.085/0.022 mss:32768 cwnd:18 bytes_sent:467154 bytes_acked:467155 bytes_received:1857222 segs_out:11398
0      0      127.0.0.1:35936 127.0.0.1:8080
\t cubic wscale:7,7 rto:204 rtt:0.067/0.038 mss:32768 cwnd:10 bytes_sent:79 bytes_acked:80 segs_out:2
0      0      [::1]:41000 [::1]:8080
\t cubic bytes_received:12 segs_in:3
`;

t.test('ss lines are read per local address, a connection with nothing received as 0', async (t) => {
  const bytes = parseSs(SS);
  t.same([...bytes], [
    ['127.0.0.1:35928', 1857222],
    ['127.0.0.1:35936', 0],
    ['[::1]:41000', 12],
  ]);
  // With no state filter, ss puts the state first.
  t.same([...parseSs('ESTAB 0 0 127.0.0.1:1 127.0.0.1:8080\n\t bytes_received:5\n')], [['127.0.0.1:1', 5]]);
  t.same([...parseSs('')], []);
});

t.test('the spread is each connection between the readings over the median one', async (t) => {
  const before = new Map([['a', 100], ['b', 100], ['c', 100], ['d', 0]]);
  const even = spreadOf(before, new Map([['a', 1100], ['b', 1100], ['c', 1100], ['d', 1000]]), 4);
  t.same(even, { connections: 4, minShare: 1, maxShare: 1 });

  const starved = spreadOf(before, new Map([['a', 1100], ['b', 2100], ['c', 1100], ['d', 0]]), 4)!;
  t.equal(starved.minShare, 0, 'a connection that received nothing between the readings');
  t.equal(starved.maxShare, 2);
});

t.test('no spread when too few connections were seen twice, or nothing moved', async (t) => {
  const before = new Map([['a', 0], ['b', 0], ['c', 0], ['d', 0]]);
  // The client reconnected: new local ports, nothing to compare.
  t.equal(spreadOf(before, new Map([['e', 10], ['f', 10], ['g', 10], ['a', 10]]), 4), null);
  t.equal(spreadOf(before, new Map([['a', 0], ['b', 0], ['c', 0], ['d', 0]]), 4), null);
  t.equal(spreadOf(null, before, 4), null);
});

t.test("the kernel's counters of real connections: each client socket's received bytes", async (t) => {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const accepted: Socket[] = [];
  server.on('connection', (s) => accepted.push(s));
  const clients = [connect(port, '127.0.0.1'), connect(port, '127.0.0.1'), connect(port, '127.0.0.1')];
  t.teardown(() => {
    for (const s of [...clients, ...accepted]) s.destroy();
    server.close();
  });
  await Promise.all(clients.map((c) => once(c, 'connect')));
  while (accepted.length < clients.length) await once(server, 'connection');
  const received = clients.map(() => 0);
  clients.forEach((c, i) => c.on('data', (chunk: Buffer) => (received[i]! += chunk.length)));

  const before = await clientSocketBytes(port, null);
  if (before === null) return t.fail('ss (iproute2) could not be run');
  // The server's side of each connection, by the client's local port.
  const byPort = new Map(accepted.map((s) => [s.remotePort, s]));
  const sizes = [1000, 9000, 0];
  clients.forEach((c, i) => sizes[i]! > 0 && byPort.get(c.localPort)!.write(Buffer.alloc(sizes[i]!)));
  while (received[0] !== sizes[0] || received[1] !== sizes[1]) await new Promise((resolve) => setTimeout(resolve, 10));
  const after = (await clientSocketBytes(port, null))!;

  const delta = (c: Socket) => after.get(`127.0.0.1:${c.localPort}`)! - before.get(`127.0.0.1:${c.localPort}`)!;
  t.same(clients.map(delta), sizes, 'the bytes each client socket received');
  t.notOk([...after.keys()].includes(`127.0.0.1:${port}`), "the server's own sockets are not counted");
  t.same(spreadOf(before, after, 3), { connections: 3, minShare: 0, maxShare: 9 });
});
