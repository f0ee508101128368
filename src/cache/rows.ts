// Row selection along the batch axis: per-image cache decisions mix fresh rows and cached rows.
import type { Backend } from '../backend.js';
import type { Tensor } from '../tensor.js';

/**
 * Rows (axis 0) from `a` where takeA[row], else from `b` (same shapes). Returns `a` or `b` itself when
 * one of them gives every row; otherwise a new tensor made of contiguous runs of rows.
 */
export function selectRows(be: Backend, a: Tensor, b: Tensor, takeA: readonly boolean[]): Tensor {
  if (takeA.length !== a.dim(0) || a.dim(0) !== b.dim(0))
    throw new RangeError(`selectRows(): ${takeA.length} choices for ${a} and ${b}`);
  if (takeA.every(Boolean)) return a;
  if (!takeA.some(Boolean)) return b;
  const parts: Tensor[] = [];
  let start = 0;
  for (let r = 1; r <= takeA.length; r++) {
    if (r < takeA.length && takeA[r] === takeA[start]) continue;
    parts.push(be.slice(takeA[start] ? a : b, 0, start, r - start));
    start = r;
  }
  return be.concat(parts, 0);
}

/** a − b (exactly: a + (−1)·b rounds once, like a subtraction). */
export function subtract(be: Backend, a: Tensor, b: Tensor): Tensor {
  return be.add(a, be.scale(b, -1));
}
