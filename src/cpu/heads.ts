// Reference for Backend.heads(): projection rows -> attention heads with optional RMSNorm and RoPE.

export interface HeadsRefArgs {
  B: number;
  L: number;
  W: number;
  H: number;
  D: number;
  column: number;
  norm?: Float32Array;
  eps: number;
  /** [B, L, D/2, 2] */
  rope?: Float32Array;
  /** Output [B, H, Lout, D], written at rows seqOffset.. */
  out: Float32Array;
  Lout: number;
  seqOffset: number;
}

export function headsRef(src: Float32Array, a: HeadsRefArgs): void {
  const { B, L, W, H, D } = a;
  const v = new Float64Array(D);
  for (let b = 0; b < B; b++) {
    for (let l = 0; l < L; l++) {
      for (let h = 0; h < H; h++) {
        const s = (b * L + l) * W + a.column + h * D;
        for (let d = 0; d < D; d++) v[d] = src[s + d]!;
        if (a.norm) {
          let ss = 0;
          for (let d = 0; d < D; d++) ss += v[d]! * v[d]!;
          const inv = 1 / Math.sqrt(ss / D + a.eps);
          for (let d = 0; d < D; d++) v[d] = v[d]! * inv * a.norm[d]!;
        }
        if (a.rope) {
          const t = (b * L + l) * D;
          for (let i = 0; i < D / 2; i++) {
            const c = a.rope[t + 2 * i]!;
            const sn = a.rope[t + 2 * i + 1]!;
            const x0 = v[2 * i]!;
            const x1 = v[2 * i + 1]!;
            v[2 * i] = c * x0 - sn * x1;
            v[2 * i + 1] = sn * x0 + c * x1;
          }
        }
        const o = ((b * H + h) * a.Lout + a.seqOffset + l) * D;
        for (let d = 0; d < D; d++) a.out[o + d] = v[d]!;
      }
    }
  }
}
