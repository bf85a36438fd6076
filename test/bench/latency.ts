/**
 * Response times at 10 µs resolution: a fixed array of buckets up to 1 s (one increment per
 * response, cheap enough to run inside the load generator), exact values above that.
 */
const BUCKETS_PER_MS = 100;
const BUCKETS = 1000 * BUCKETS_PER_MS;

export class LatencyHistogram {
  private readonly buckets = new Uint32Array(BUCKETS);
  private readonly overflow: number[] = [];
  private total = 0;

  get count(): number {
    return this.total;
  }

  record(ms: number): void {
    const index = Math.floor(ms * BUCKETS_PER_MS);
    if (index < BUCKETS) this.buckets[index]! += 1;
    else this.overflow.push(ms);
    this.total += 1;
  }

  /** The time (ms) within which `p` percent of the responses came; NaN when there were none. */
  percentile(p: number): number {
    if (this.total === 0) return NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.total));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.buckets[i]!;
      if (seen >= rank) return (i + 1) / BUCKETS_PER_MS;
    }
    const slow = [...this.overflow].sort((a, b) => a - b);
    return slow[rank - seen - 1]!;
  }
}
