// A listener's failing accept(): logged as nginx says it, at most once per interval, with the count.
import t from 'tap';
import { createServer, type AddressInfo } from 'node:net';
import { acceptFailures, boundLabel } from '../../proxy/listener.js';

function emfile(): NodeJS.ErrnoException {
  return Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', errno: -24, syscall: 'accept' });
}

t.test('one line per interval, with how many failed since the last', async (t) => {
  const lines: Array<{ fields: Record<string, unknown>; msg: string }> = [];
  const log = { error: (fields: Record<string, unknown>, msg: string) => void lines.push({ fields, msg }) };
  const failed = acceptFailures(() => log as never, '127.0.0.1:8080', 200);

  failed(emfile());
  t.equal(lines.length, 1, 'the first failure is logged at once');
  t.equal(lines[0]!.msg, 'accept() failed (EMFILE: too many open files)');
  t.same(lines[0]!.fields, { listen: '127.0.0.1:8080', code: 'EMFILE', failed: 1 });

  for (let i = 0; i < 99; i++) failed(emfile());
  t.equal(lines.length, 1, 'a burst within the interval adds no line');

  await new Promise((resolve) => setTimeout(resolve, 250));
  failed(emfile());
  t.equal(lines.length, 2, 'the next failure after the interval is logged');
  t.equal(lines[1]!.fields.failed, 100, 'counting the burst it did not log');
});

t.test('an errno the system does not name keeps the error message', async (t) => {
  const lines: string[] = [];
  const failed = acceptFailures(() => ({ error: (_: unknown, msg: string) => void lines.push(msg) }) as never, 'unix:/run/x.sock');
  failed(Object.assign(new Error('something odd'), { code: 'EODD', errno: 99999 }));
  t.same(lines, ['accept() failed (EODD: something odd)']);
});

t.test('a listener is named as bound: port 0 by the port the system chose', async (t) => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  t.teardown(() => server.close());
  const { port } = server.address() as AddressInfo;
  t.not(port, 0);
  t.equal(boundLabel(server.address()!), `127.0.0.1:${port}`);
  t.equal(boundLabel('/run/tsgi/proxy.sock'), 'unix:/run/tsgi/proxy.sock');
});
