// multi_accept (proxy/multi-accept.ts): copies of a listening socket's descriptor, each accepting
// once per event-loop turn, all handing their connections to the original's listener.
import { createServer as createHttpServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, connect, type Server, type Socket } from 'node:net';
import t from 'tap';
import { COPIES, closeCopies, copyListeningSocket } from '../../proxy/multi-accept.js';

/** The optional addon, to read TCP_NODELAY back (IPPROTO_TCP 6, TCP_NODELAY 1 on Linux). */
const sockopt = ((): { getsockopt(s: Socket, level: number, name: number): number } | null => {
  if (process.platform !== 'linux') return null;
  try {
    return createRequire(import.meta.url)('sockopt') as { getsockopt(s: Socket, level: number, name: number): number };
  } catch {
    return null;
  }
})();

function listening(): Promise<Server> {
  const server = createServer();
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function portOf(server: Server): number {
  return (server.address() as { port: number }).port;
}

/**
 * Opens `n` connections while the loop is held (the kernel completes them into the accept
 * queue), then counts how many the server accepted in one turn of the loop.
 */
async function acceptedInOneTurn(server: Server, n: number): Promise<{ firstTurn: number; clients: Socket[] }> {
  let accepted = 0;
  const onConnection = () => void accepted++;
  server.on('connection', onConnection);
  const clients = Array.from({ length: n }, () => connect(portOf(server), '127.0.0.1').on('error', () => undefined));
  // net.connect calls connect() on the next tick.
  await new Promise((resolve) => process.nextTick(resolve));
  const until = Date.now() + 200;
  while (Date.now() < until) {
    // The handshakes are the kernel's: they complete while this loop is held.
  }
  // The check phase of this turn may come before its poll: a whole turn is from one
  // setImmediate to the next.
  const turn = () => new Promise<number>((resolve) => setImmediate(() => resolve(accepted)));
  const before = await turn();
  const firstTurn = (await turn()) - before;
  // Every connection is accepted in the end, on the original or a copy.
  while (accepted < n) await new Promise((resolve) => setTimeout(resolve, 5));
  server.off('connection', onConnection);
  return { firstTurn, clients };
}

t.test('without copies, Node accepts one connection per turn', async (t) => {
  const server = await listening();
  t.teardown(() => void server.close());
  const { firstTurn, clients } = await acceptedInOneTurn(server, 40);
  t.equal(firstTurn, 1, 'one in a turn');
  for (const client of clients) client.destroy();
});

t.test('with copies, a burst is accepted several at a time, through the original', async (t) => {
  const server = await listening();
  const copies = await copyListeningSocket({ server, onError: () => t.fail('accept error') }, (reason) => t.fail(reason));
  t.equal(copies.length, COPIES, `${COPIES} copies`);
  const seen: Socket[] = [];
  server.on('connection', (socket: Socket) => seen.push(socket));
  const { firstTurn, clients } = await acceptedInOneTurn(server, 40);
  t.ok(firstTurn > 1, `${firstTurn} accepted in a turn`);
  t.ok(firstTurn <= COPIES + 1, 'at most one per descriptor');
  t.equal(seen.length, 40, "every connection reached the original's listener");
  // A connection accepted on a copy carries bytes both ways as any other.
  const echo = seen[seen.length - 1]!;
  echo.on('data', (chunk) => echo.write(chunk));
  const client = clients.find((c) => c.localPort === echo.remotePort)!;
  const reply = new Promise<string>((resolve) => client.once('data', (chunk) => resolve(chunk.toString())));
  client.write('ping');
  t.equal(await reply, 'ping');
  for (const c of clients) c.destroy();
  for (const s of seen) s.destroy();

  // Closed, the original and its copies free the address: nothing listens on it any more.
  const port = portOf(server);
  await Promise.all([new Promise<void>((resolve) => server.close(() => resolve())), closeCopies(copies)]);
  const refused = await new Promise<string>((resolve) => {
    const probe = connect(port, '127.0.0.1');
    probe.on('connect', () => (probe.destroy(), resolve('connected')));
    probe.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });
  t.equal(refused, 'ECONNREFUSED', 'the port no longer accepts');
});

/** One exchange on a new connection: `ping` sent, what came back before the end (or 'no answer'). */
function ask(port: number): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const client = connect(port, '127.0.0.1', () => client.end('ping'));
    const timer = setTimeout(() => (client.destroy(), resolve('no answer')), 5000);
    client.on('data', (chunk) => (got += chunk.toString()));
    client.on('close', () => (clearTimeout(timer), resolve(got)));
    client.on('error', () => undefined);
  });
}

t.test('connections that come while the copies are being made are all served', async (t) => {
  const server = await listening();
  server.on('connection', (socket: Socket) => socket.on('data', (chunk) => socket.end(chunk)).on('error', () => undefined));
  let made: Server[] | null = null;
  const making = copyListeningSocket({ server, onError: () => undefined }, (reason) => t.fail(reason)).then((copies) => (made = copies));
  // A connection every millisecond from before the helper starts until after the last copy
  // listens: some are accepted on copies that have just begun to listen.
  const replies: Promise<string>[] = [];
  let after = 20;
  while (made === null || after-- > 0) {
    replies.push(ask(portOf(server)));
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await making;
  const answers = await Promise.all(replies);
  t.equal(answers.filter((a) => a !== 'ping').length, 0, `all ${answers.length} connections answered`);
  server.close();
  await closeCopies(made!);
});

t.test("a copy accepts with the original's socket settings (an HTTP server's: half-open, no Nagle)", async (t) => {
  const server = createHttpServer({ highWaterMark: 32 * 1024 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const copies = await copyListeningSocket({ server, onError: () => undefined }, (reason) => t.fail(reason));
  t.teardown(() => closeCopies(copies));
  const port = portOf(server);
  const viaCopy = new Promise<Socket>((resolve) => {
    for (const copy of copies) copy.once('connection', resolve);
  });
  // Only copies accept from here on: the original's descriptor is closed, the socket is not.
  server.removeAllListeners('connection');
  const original = (server as unknown as { _handle: { close(): void } })._handle;
  const accepted: Socket[] = [];
  server.on('connection', (socket: Socket) => accepted.push(socket));
  original.close();
  const client = connect(port, '127.0.0.1');
  const socket = await viaCopy;
  t.equal(socket.allowHalfOpen, true, 'half-open allowed, as node:http asks');
  t.equal(socket.writableHighWaterMark, 32 * 1024, "the server's high-water mark");
  if (sockopt) t.equal(sockopt.getsockopt(socket, 6, 1), 1, 'TCP_NODELAY set, as node:http asks');
  else t.comment('sockopt is not loadable here: TCP_NODELAY not checked');
  client.destroy();
  for (const s of accepted) s.destroy();
});

t.test('a server that does not listen gets no copies', async (t) => {
  const copies = await copyListeningSocket({ server: createServer(), onError: () => undefined }, (reason) => t.fail(reason));
  t.same(copies, []);
});

t.test('a socket the helper cannot be sent: no copies, the reason said, and no helper process left', async (t) => {
  const server = await listening();
  t.teardown(() => void server.close());
  const withHandle = server as Server & { _handle: unknown };
  const real = withHandle._handle;
  withHandle._handle = {}; // what a Node whose handles child_process no longer passes would give
  const reasons: string[] = [];
  const copies = await copyListeningSocket({ server, onError: () => undefined }, (reason) => reasons.push(reason));
  withHandle._handle = real;
  t.same(copies, []);
  t.equal(reasons.length, 1);
  t.match(reasons[0], /handle/i, 'the reason, for the log line');
  const children = () => readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8').trim();
  const until = Date.now() + 5000;
  while (children() !== '' && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 20));
  t.equal(children(), '', 'the helper is gone');
});
