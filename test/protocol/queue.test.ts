import t from 'tap';
import { AsyncQueue } from '../../protocol/index.js';

t.test('items pushed before next() come out in order', async (t) => {
  const queue = new AsyncQueue<number>();
  queue.push(1);
  queue.push(2);
  t.equal(queue.size, 2);
  t.equal(await queue.next(), 1);
  t.equal(await queue.next(), 2);
  t.equal(queue.size, 0);
});

t.test('next() waits for the next push', async (t) => {
  const queue = new AsyncQueue<string>();
  const taken = queue.next();
  let settled = false;
  void taken.then(() => (settled = true));
  await Promise.resolve();
  t.equal(settled, false, 'nothing to take yet');
  queue.push('a');
  t.equal(await taken, 'a');
  t.equal(queue.size, 0, 'handed over, not kept');
});

t.test('several waiting next() each get one item, oldest first', async (t) => {
  const queue = new AsyncQueue<number>();
  const first = queue.next();
  const second = queue.next();
  queue.push(1);
  queue.push(2);
  queue.push(3);
  t.same(await Promise.all([first, second]), [1, 2]);
  t.equal(await queue.next(), 3);
});
