// wsgi.input for JavaScript apps: the body reaches the app as the proxy sent it, chunk by
// chunk (never concatenated into copies), and credit goes back only for what the app took.
import t from 'tap';
import { RequestInput } from '../../runner/serving/input.js';

t.test('for-await gets each delivered chunk as it is, not a concatenation', async (t) => {
  const credited: number[] = [];
  const input = new RequestInput((n) => credited.push(n));
  const body = Buffer.alloc(20 * 1000, 7);
  const sizes: number[] = [];
  const read = (async () => {
    for await (const chunk of input) sizes.push((chunk as Buffer).length);
  })();
  for (let i = 0; i < 16; i++) input.deliver(body.subarray(i * 1000, (i + 1) * 1000)); // queued ahead of the app
  await new Promise((resolve) => setImmediate(resolve));
  for (let i = 16; i < 20; i++) input.deliver(body.subarray(i * 1000, (i + 1) * 1000));
  input.finish();
  await read;
  t.same(sizes, Array(20).fill(1000), 'twenty chunks of 1000 bytes');
  t.equal(credited.reduce((a, b) => a + b, 0), 20_000, 'every byte credited once taken');
});

t.test('an app that does not read takes no credit', async (t) => {
  const credited: number[] = [];
  const input = new RequestInput((n) => credited.push(n));
  input.deliver(Buffer.alloc(5000));
  input.deliver(Buffer.alloc(5000));
  await new Promise((resolve) => setImmediate(resolve));
  t.ok(credited.reduce((a, b) => a + b, 0) <= 5000, 'at most the one chunk the stream buffers');
  if (input.readableLength === 0) await new Promise((resolve) => input.once('readable', resolve));
  t.equal(input.read(3)?.length, 3, 'read(n) still reads n bytes');
});
