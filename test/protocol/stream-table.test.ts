// StreamTable against a Map as the model: the same operations, the same answers, including
// the wrap-around runs and long-lived entries that exercise backward-shift deletion.
import t from 'tap';
import { StreamTable } from '../../protocol/stream-table.js';
import { int, mulberry32, seed } from './random.js';

t.test('the basics', async (t) => {
  const table = new StreamTable<string>(4);
  t.equal(table.size, 0);
  t.equal(table.get(1), undefined);
  table.set(1, 'a');
  table.set(3, 'c');
  table.set(1, 'A');
  t.equal(table.size, 2);
  t.equal(table.get(1), 'A');
  t.ok(table.has(3));
  t.notOk(table.has(2));
  t.equal(table.delete(2), false, 'deleting a missing id');
  t.equal(table.delete(1), true);
  t.equal(table.get(1), undefined);
  t.same(table.values(), ['c']);
  table.clear();
  t.equal(table.size, 0);
  t.equal(table.get(3), undefined);
  t.equal(table.get(0), undefined, 'id 0 is never a key');
  t.throws(() => table.set(0, 'x'), RangeError);
  t.throws(() => table.set(2 ** 32, 'x'), RangeError);
});

t.test('colliding ids: every entry stays reachable after deletes', async (t) => {
  const table = new StreamTable<number>(4); // 8 slots: 1, 9, 17, 25 share a home
  for (const id of [1, 9, 17, 25, 2, 10]) table.set(id, id);
  table.delete(9);
  table.delete(1);
  for (const id of [17, 25, 2, 10]) t.equal(table.get(id), id, `id ${id}`);
  t.equal(table.size, 4);
});

t.test('random operations agree with a Map', async (t) => {
  const s = seed();
  t.comment(`seed ${s} (TSGI_SEED=${s} replays it)`);
  const random = mulberry32(s);
  const table = new StreamTable<number>(2);
  const model = new Map<number, number>();
  let next = 1;
  let mismatches = 0;
  for (let step = 0; step < 200_000; step++) {
    const roll = random();
    if (roll < 0.45 || model.size === 0) {
      // New streams get the next ids; now and then a huge id that wraps the table.
      const id = random() < 0.02 ? int(random, 1, 0xffffffff) : next++;
      table.set(id, step);
      model.set(id, step);
    } else if (roll < 0.9) {
      // Mostly recent streams end; a few old ones live long (a slow download).
      const keys = [...model.keys()];
      const id = random() < 0.8 ? keys[keys.length - 1 - int(random, 0, Math.min(keys.length - 1, 8))]! : keys[int(random, 0, keys.length - 1)]!;
      if (table.delete(id) !== model.delete(id)) mismatches++;
    } else {
      const id = int(random, 0, next + 4);
      if (table.get(id) !== model.get(id)) mismatches++;
    }
    if (table.size !== model.size) mismatches++;
  }
  for (const [id, value] of model) if (table.get(id) !== value) mismatches++;
  t.equal(mismatches, 0, 'no answer differs');
  t.same(table.values().sort((a, b) => a - b), [...model.values()].sort((a, b) => a - b), 'the same values at the end');
});
