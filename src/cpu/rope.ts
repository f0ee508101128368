// Rotary position embedding in the Flux layout.

/**
 * Builds the (cos, sin) table [B, L, D/2, 2] from position ids [B, L, A] (A axes, e.g. (0, row, col)),
 * axis a contributing axesDim[a]/2 pairs with frequencies theta^(-2j/axesDim[a]). Computed in f64
 * like the official code, returned as f32.
 */
export function buildRopeTable(
  ids: ArrayLike<number>,
  B: number,
  L: number,
  axesDim: readonly number[],
  theta: number,
): Float32Array {
  const A = axesDim.length;
  const half = axesDim.reduce((s, d) => s + d, 0) / 2;
  const out = new Float32Array(B * L * half * 2);
  for (let b = 0; b < B; b++) {
    for (let l = 0; l < L; l++) {
      let p = 0;
      const row = (b * L + l) * A;
      const o = (b * L + l) * half * 2;
      for (let a = 0; a < A; a++) {
        const d = axesDim[a]!;
        const pos = ids[row + a]!;
        for (let j = 0; j < d / 2; j++) {
          const omega = 1 / theta ** ((2 * j) / d);
          const angle = pos * omega;
          out[o + 2 * p] = Math.cos(angle);
          out[o + 2 * p + 1] = Math.sin(angle);
          p++;
        }
      }
    }
  }
  return out;
}

/** x [B, H, L, D], table [B, L, D/2, 2]. */
export function ropeRef(
  x: Float32Array,
  B: number,
  H: number,
  L: number,
  D: number,
  table: Float32Array,
): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let l = 0; l < L; l++) {
        const xo = ((b * H + h) * L + l) * D;
        const to = (b * L + l) * D;
        for (let i = 0; i < D / 2; i++) {
          const c = table[to + 2 * i]!;
          const s = table[to + 2 * i + 1]!;
          const x0 = x[xo + 2 * i]!;
          const x1 = x[xo + 2 * i + 1]!;
          out[xo + 2 * i] = c * x0 - s * x1;
          out[xo + 2 * i + 1] = s * x0 + c * x1;
        }
      }
    }
  }
  return out;
}
