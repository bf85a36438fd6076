/**
 * The open streams of one connection, by stream id: what both ends look every frame up in.
 *
 * Not a Map, on purpose. A Map whose entries come and go thousands of times a second is
 * rehashed into a new backing table again and again, and V8 links each retired table to its
 * successor (for iterators that may still walk it); the retired table also keeps the entries
 * it had. Once one table of the chain sits in the old generation — the connection's first
 * does — every later table, with every stream it ever listed and each stream's request and
 * response objects, survives young collections and is promoted, until a full collection
 * clears the lot. Measured in the proxy at 10k requests/s: ~2 MiB promoted per scavenge,
 * 15 ms scavenges instead of 0.4 ms, and the old generation swinging by tens of MiB.
 *
 * Here: open addressing with linear probing over two flat arrays, deletion by backward shift
 * (no tombstones), replaced only when the table grows. Stream ids are assigned in sequence,
 * so the id itself is a good hash. Id 0 (the connection) is never a key: it marks a free slot.
 */
export class StreamTable<T> {
  private ids: Uint32Array;
  private entries: Array<T | undefined>;
  private mask: number;
  private count = 0;

  constructor(capacity = 64) {
    let size = 8;
    while (size < capacity * 2) size *= 2;
    this.ids = new Uint32Array(size);
    this.entries = new Array<T | undefined>(size).fill(undefined);
    this.mask = size - 1;
  }

  get size(): number {
    return this.count;
  }

  get(id: number): T | undefined {
    if (id === 0) return undefined;
    const { ids, mask } = this;
    for (let i = id & mask; ; i = (i + 1) & mask) {
      const key = ids[i]!;
      if (key === id) return this.entries[i];
      if (key === 0) return undefined;
    }
  }

  has(id: number): boolean {
    return this.get(id) !== undefined;
  }

  set(id: number, value: T): void {
    if (id <= 0 || id > 0xffffffff || !Number.isInteger(id)) throw new RangeError(`stream id ${id} is not a key of a StreamTable`);
    if ((this.count + 1) * 2 > this.ids.length) this.grow();
    const { ids, mask } = this;
    for (let i = id & mask; ; i = (i + 1) & mask) {
      const key = ids[i]!;
      if (key === id) {
        this.entries[i] = value;
        return;
      }
      if (key === 0) {
        ids[i] = id;
        this.entries[i] = value;
        this.count++;
        return;
      }
    }
  }

  delete(id: number): boolean {
    if (id === 0) return false;
    const { ids, entries, mask } = this;
    let hole = id & mask;
    while (ids[hole] !== id) {
      if (ids[hole] === 0) return false;
      hole = (hole + 1) & mask;
    }
    // Backward shift: each later entry of the run whose home slot is not between the hole
    // and itself moves into the hole, so every entry stays reachable from its home slot.
    for (let j = (hole + 1) & mask; ids[j] !== 0; j = (j + 1) & mask) {
      const home = ids[j]! & mask;
      const stays = hole <= j ? hole < home && home <= j : hole < home || home <= j;
      if (stays) continue;
      ids[hole] = ids[j]!;
      entries[hole] = entries[j];
      hole = j;
    }
    ids[hole] = 0;
    entries[hole] = undefined;
    this.count--;
    return true;
  }

  /** The values, in no particular order: a copy, so the caller may delete while it walks them. */
  values(): T[] {
    const out: T[] = [];
    for (let i = 0; i < this.ids.length; i++) if (this.ids[i] !== 0) out.push(this.entries[i]!);
    return out;
  }

  clear(): void {
    this.ids.fill(0);
    this.entries.fill(undefined);
    this.count = 0;
  }

  private grow(): void {
    const { ids, entries } = this;
    this.ids = new Uint32Array(ids.length * 2);
    this.entries = new Array<T | undefined>(ids.length * 2).fill(undefined);
    this.mask = this.ids.length - 1;
    this.count = 0;
    for (let i = 0; i < ids.length; i++) if (ids[i] !== 0) this.set(ids[i]!, entries[i]!);
  }
}
