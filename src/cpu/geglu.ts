// GEGLU, the reference for geglu.wgsl: hidden · gelu(gate) with the exact (erf) GELU of elementwise.ts.
import { gelu } from './elementwise.js';

/** Rows of 2n values (hidden | gate) -> rows of n: hidden · gelu(gate). */
export function gegluRef(x: Float32Array, n: number): Float32Array {
  const rows = n === 0 ? 0 : x.length / (2 * n);
  const out = new Float32Array(rows * n);
  for (let r = 0; r < rows; r++)
    for (let j = 0; j < n; j++) out[r * n + j] = x[r * 2 * n + j]! * gelu(x[r * 2 * n + n + j]!);
  return out;
}
