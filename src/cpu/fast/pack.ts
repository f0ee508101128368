// The packed operand layouts the kernel reads (kernels.ts), written from ordinary row-major arrays.
// Packing lets the kernel's inner loop read both operands sequentially with constant offsets, and
// zero padding to whole tiles removes every edge case from it.
import { MR, NR } from './kernels.js';

/** x [M, K] row-major, times `scale` -> ceil(M/MR) tiles of [K][MR] at dst[at..]; rows past M are zeros. */
export function packRows(
  x: Float32Array,
  M: number,
  K: number,
  dst: Float32Array,
  at: number,
  scale = 1,
): void {
  const tiles = Math.ceil(M / MR);
  for (let t = 0; t < tiles; t++) {
    const base = at + t * K * MR;
    for (let r = 0; r < MR; r++) {
      const m = t * MR + r;
      if (m >= M) {
        for (let k = 0; k < K; k++) dst[base + k * MR + r] = 0;
        continue;
      }
      const src = m * K;
      for (let k = 0; k < K; k++) dst[base + k * MR + r] = x[src + k]! * scale;
    }
  }
}

/** w [N, K] row-major (the B operand transposed) -> ceil(N/NR) panels of [K][NR]; zero padded. */
export function packColumns(w: Float32Array, N: number, K: number, dst: Float32Array, at: number): void {
  const panels = Math.ceil(N / NR);
  for (let p = 0; p < panels; p++) {
    const base = at + p * K * NR;
    for (let c = 0; c < NR; c++) {
      const n = p * NR + c;
      if (n >= N) {
        for (let k = 0; k < K; k++) dst[base + k * NR + c] = 0;
        continue;
      }
      const src = n * K;
      for (let k = 0; k < K; k++) dst[base + k * NR + c] = w[src + k]!;
    }
  }
}

/** v [K, N] row-major (the B operand as is) -> ceil(N/NR) panels of [K][NR]; zero padded. */
export function packPanels(v: Float32Array, K: number, N: number, dst: Float32Array, at: number): void {
  const panels = Math.ceil(N / NR);
  for (let p = 0; p < panels; p++) {
    const base = at + p * K * NR;
    const n0 = p * NR;
    const width = Math.min(NR, N - n0);
    for (let k = 0; k < K; k++) {
      const o = base + k * NR;
      const src = k * N + n0;
      for (let c = 0; c < width; c++) dst[o + c] = v[src + c]!;
      for (let c = width; c < NR; c++) dst[o + c] = 0;
    }
  }
}
