// Finding NaN and ±Infinity in host arrays, with the position as an index into the tensor's shape, so
// that a bad input or output is reported by name and place instead of flowing on silently.

/** Index of the first NaN or ±Infinity in data, or -1. */
export function firstNonFinite(data: ArrayLike<number>): number {
  for (let i = 0; i < data.length; i++) {
    // v - v is NaN exactly for NaN and ±Infinity
    const v = data[i]!;
    if (v - v !== 0) return i;
  }
  return -1;
}

/** "NaN at [0, 3, 7]" for flat index i of a tensor of the given shape. */
export function describeNonFinite(value: number, i: number, shape: readonly number[]): string {
  const at: number[] = [];
  let rest = i;
  for (let d = shape.length - 1; d >= 0; d--) {
    const n = Math.max(1, shape[d]!);
    at.unshift(rest % n);
    rest = Math.floor(rest / n);
  }
  const what = Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';
  return `${what} at [${at.join(', ')}]`;
}

export class NonFiniteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NonFiniteError';
  }
}

/**
 * Throws a NonFiniteError "<where>: <name> has NaN at [0, 3, 7] (...)" if data holds a non-finite value;
 * `rule` says why it matters there.
 */
export function assertFinite(
  where: string,
  name: string,
  data: ArrayLike<number>,
  shape: readonly number[],
  rule: string,
): void {
  const i = firstNonFinite(data);
  if (i >= 0)
    throw new NonFiniteError(`${where}: ${name} has ${describeNonFinite(data[i]!, i, shape)}; ${rule}`);
}

/** The number of non-finite values (for a summary line). */
export function countNonFinite(data: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v - v !== 0) n++;
  }
  return n;
}
