// Reference normalisations (statistics in f64).

/** LayerNorm over rows of length C; weight/bias optional. */
export function layerNormRef(
  x: Float32Array,
  C: number,
  eps: number,
  weight?: Float32Array,
  bias?: Float32Array,
): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r < x.length / C; r++) {
    const o = r * C;
    let mean = 0;
    for (let c = 0; c < C; c++) mean += x[o + c]!;
    mean /= C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (x[o + c]! - mean) ** 2;
    const inv = 1 / Math.sqrt(v / C + eps);
    for (let c = 0; c < C; c++) {
      let y = (x[o + c]! - mean) * inv;
      if (weight) y *= weight[c]!;
      if (bias) y += bias[c]!;
      out[o + c] = y;
    }
  }
  return out;
}

/** RMSNorm over rows of length C: x / sqrt(mean(x²) + eps) * weight. */
export function rmsNormRef(x: Float32Array, C: number, eps: number, weight?: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r < x.length / C; r++) {
    const o = r * C;
    let ss = 0;
    for (let c = 0; c < C; c++) ss += x[o + c]! ** 2;
    const inv = 1 / Math.sqrt(ss / C + eps);
    for (let c = 0; c < C; c++) out[o + c] = x[o + c]! * inv * (weight ? weight[c]! : 1);
  }
  return out;
}

/**
 * x [B, L, C] -> (normEps === undefined ? x : LayerNorm(x)) * (1 + scale[b]) + shift[b]. shift/scale
 * are rows of `table.stride` values (default C) starting at columns table.shift / table.scale (default 0).
 */
export function modulateRef(
  x: Float32Array,
  B: number,
  L: number,
  C: number,
  shift: Float32Array,
  scale: Float32Array,
  normEps?: number,
  table: { stride?: number; shift?: number; scale?: number } = {},
): Float32Array {
  const src = normEps === undefined ? x : layerNormRef(x, C, normEps);
  const out = new Float32Array(x.length);
  const stride = table.stride ?? C;
  for (let b = 0; b < B; b++) {
    const sh = b * stride + (table.shift ?? 0);
    const sc = b * stride + (table.scale ?? 0);
    for (let l = 0; l < L; l++) {
      const o = (b * L + l) * C;
      for (let c = 0; c < C; c++) out[o + c] = src[o + c]! * (1 + scale[sc + c]!) + shift[sh + c]!;
    }
  }
  return out;
}
