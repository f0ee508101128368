// Reference group normalisation over channels-last tensors (statistics in f64).

/**
 * Statistics of several [B, S_i, C] tensors taken together: [B, G, 2] = (mean, 1/sqrt(var + eps)),
 * group g = channels [g*C/G, (g+1)*C/G).
 */
export function groupNormStatsRef(
  xs: { data: Float32Array; S: number }[],
  B: number,
  C: number,
  G: number,
  eps: number,
): Float32Array {
  const cpg = C / G;
  const out = new Float32Array(B * G * 2);
  for (let b = 0; b < B; b++) {
    for (let g = 0; g < G; g++) {
      let n = 0;
      let sum = 0;
      for (const { data, S } of xs)
        for (let s = 0; s < S; s++)
          for (let c = 0; c < cpg; c++) {
            sum += data[(b * S + s) * C + g * cpg + c]!;
            n++;
          }
      const mean = sum / n;
      let v = 0;
      for (const { data, S } of xs)
        for (let s = 0; s < S; s++)
          for (let c = 0; c < cpg; c++) v += (data[(b * S + s) * C + g * cpg + c]! - mean) ** 2;
      out[(b * G + g) * 2] = mean;
      out[(b * G + g) * 2 + 1] = 1 / Math.sqrt(v / n + eps);
    }
  }
  return out;
}

/** y = (x - mean) * rstd * weight + bias, then SiLU if asked; x [B, S, C], stats [B, G, 2]. */
export function groupNormApplyRef(
  x: Float32Array,
  B: number,
  C: number,
  stats: Float32Array,
  G: number,
  weight?: Float32Array,
  bias?: Float32Array,
  silu = false,
): Float32Array {
  const cpg = C / G;
  const S = x.length / (B * C);
  const out = new Float32Array(x.length);
  for (let b = 0; b < B; b++)
    for (let s = 0; s < S; s++)
      for (let c = 0; c < C; c++) {
        const i = (b * S + s) * C + c;
        const g = Math.floor(c / cpg);
        let y = (x[i]! - stats[(b * G + g) * 2]!) * stats[(b * G + g) * 2 + 1]!;
        if (weight) y *= weight[c]!;
        if (bias) y += bias[c]!;
        if (silu) y = y / (1 + Math.exp(-y));
        out[i] = y;
      }
  return out;
}
