/**
 * A log-bucketed latency histogram (HDR-style): values below 128 are exact, above that each
 * power of two is split into 128 linear sub-buckets, so any reported value is within 1/128
 * (< 0.8 %) of the true one. Values are non-negative integers (the harness uses microseconds).
 * Histograms from separate processes merge losslessly through toJSON()/merge().
 */
const SUB_BITS = 7;
const SUB = 1 << SUB_BITS; // 128

export type HistogramData = Array<[index: number, count: number]>;

export class Histogram {
  private counts: number[] = [];
  count = 0;
  min = Infinity;
  max = 0;
  private sum = 0;

  record(value: number, times = 1): void {
    const v = value < 0 ? 0 : Math.round(value);
    const i = indexOf(v);
    this.counts[i] = (this.counts[i] ?? 0) + times;
    this.count += times;
    this.sum += v * times;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }

  /** The value at or below which `p` percent of the recorded values lie (p in 0..100). */
  percentile(p: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i] ?? 0;
      if (seen >= rank) return Math.min(this.max, Math.max(this.min, valueOf(i)));
    }
    return this.max;
  }

  mean(): number {
    return this.count === 0 ? NaN : this.sum / this.count;
  }

  reset(): void {
    this.counts = [];
    this.count = 0;
    this.min = Infinity;
    this.max = 0;
    this.sum = 0;
  }

  toJSON(): { buckets: HistogramData; min: number; max: number; sum: number } {
    const buckets: HistogramData = [];
    this.counts.forEach((c, i) => {
      if (c) buckets.push([i, c]);
    });
    return { buckets, min: this.min, max: this.max, sum: this.sum };
  }

  merge(data: ReturnType<Histogram['toJSON']>): void {
    for (const [i, c] of data.buckets) {
      this.counts[i] = (this.counts[i] ?? 0) + c;
      this.count += c;
    }
    this.sum += data.sum;
    if (data.buckets.length) {
      this.min = Math.min(this.min, data.min);
      this.max = Math.max(this.max, data.max);
    }
  }
}

function indexOf(v: number): number {
  if (v < SUB) return v;
  const e = Math.floor(Math.log2(v));
  const shift = e - SUB_BITS;
  const sub = Math.floor(v / 2 ** shift) - SUB; // 0..127
  return SUB + shift * SUB + sub;
}

/** Midpoint of bucket i. */
function valueOf(i: number): number {
  if (i < SUB) return i;
  const shift = Math.floor((i - SUB) / SUB);
  const sub = (i - SUB) % SUB;
  const lo = (SUB + sub) * 2 ** shift;
  return lo + (2 ** shift - 1) / 2;
}
