// Summary statistics for evaluation reports: median, quartiles, mean, extremes.

export interface Summary {
  n: number;
  median: number;
  /** 25th and 75th percentiles (linear interpolation between order statistics). */
  p25: number;
  p75: number;
  mean: number;
  min: number;
  max: number;
}

/** The q-quantile (0..1) of sorted values, interpolating linearly. */
export function quantileSorted(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  // Infinity - Infinity would give NaN
  return lo === hi || a === b ? a : a + (b - a) * (pos - lo);
}

export function median(values: readonly number[]): number {
  return quantileSorted(
    [...values].sort((a, b) => a - b),
    0.5,
  );
}

/** Summary of finite-or-infinite values (NaN entries are an error: they mean a bug upstream). */
export function summarize(values: readonly number[]): Summary {
  if (values.some((v) => Number.isNaN(v))) throw new RangeError('summarize: NaN among the values');
  const s = [...values].sort((a, b) => a - b);
  return {
    n: s.length,
    median: quantileSorted(s, 0.5),
    p25: quantileSorted(s, 0.25),
    p75: quantileSorted(s, 0.75),
    mean: s.length ? s.reduce((a, b) => a + b, 0) / s.length : Number.NaN,
    min: s[0] ?? Number.NaN,
    max: s.at(-1) ?? Number.NaN,
  };
}
