/** Statistics over samples: nearest-rank percentiles, a summary, and a growable sample buffer. */

/**
 * Percentile by the nearest-rank method on an ascending-sorted array.
 * `p` is in [0, 100]. Returns NaN for an empty array.
 */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const rank = Math.min(n, Math.max(1, Math.ceil((p / 100) * n)));
  return sorted[rank - 1] ?? Number.NaN;
}

function sortedCopy(values: ArrayLike<number>): Float64Array {
  const copy = Float64Array.from(values);
  copy.sort(); // typed-array sort is numeric
  return copy;
}

export interface Summary {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p99: number;
  max: number;
}

/** count/min/mean/p50/p99/max of an array of samples (same unit in, same unit out). */
export function summarize(values: ArrayLike<number>): Summary {
  const sorted = sortedCopy(values);
  const n = sorted.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i] ?? 0;
  return {
    count: n,
    min: n > 0 ? (sorted[0] ?? Number.NaN) : Number.NaN,
    mean: n > 0 ? sum / n : Number.NaN,
    p50: percentileSorted(sorted, 50),
    p99: percentileSorted(sorted, 99),
    max: n > 0 ? (sorted[n - 1] ?? Number.NaN) : Number.NaN,
  };
}

/** Growable Float64 sample buffer: cheaper than number[] for 1e5..1e7 samples. */
export class Samples {
  private buf: Float64Array;
  private len = 0;

  constructor(initialCapacity = 1 << 14) {
    this.buf = new Float64Array(Math.max(16, initialCapacity));
  }

  push(v: number): void {
    if (this.len === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.len++] = v;
  }

  get length(): number {
    return this.len;
  }

  /** A view of the recorded samples (no copy). */
  values(): Float64Array {
    return this.buf.subarray(0, this.len);
  }

  /** Plain array, for sending over IPC (JSON). */
  toArray(): number[] {
    return Array.from(this.values());
  }
}
