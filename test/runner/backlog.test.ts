import { execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import t from 'tap';
import { listenQueue } from '../../runner/supervision/backlog.js';

const hasSs = (() => {
  try {
    execFileSync('ss', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

t.test('the listen queue of a TCP socket, as ss reports it', { skip: hasSs ? false : 'ss (iproute2) is not installed' }, async (t) => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0, backlog: 64 }, resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as { port: number }).port;
  const queue = listenQueue({ kind: 'tcp', host: '127.0.0.1', port });
  t.ok(queue, 'reported');
  t.equal(queue!.queued, 0, 'nobody waiting');
  t.ok(queue!.limit > 0 && queue!.limit <= 64, `limit ${queue!.limit} (the backlog asked, capped by somaxconn)`);
  t.equal(listenQueue({ kind: 'tcp', host: '127.0.0.1', port: 1 }), null, 'no such listener');
});
