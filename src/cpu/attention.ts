// Reference attention: exact softmax in f64 per row.

export interface AttentionRefShape {
  B: number;
  H: number;
  Lq: number;
  Lk: number;
  D: number;
}

/**
 * q [B, H, Lq, D], k/v [B, H, Lk, D] -> [B, Lq, H*D]. With `mask(qi, kj)` only keys where it returns
 * true are attended (a row with no keys gives zeros).
 */
export function attentionRef(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  s: AttentionRefShape,
  scale: number,
  mask?: (qi: number, kj: number) => boolean,
): Float32Array {
  const { B, H, Lq, Lk, D } = s;
  const out = new Float32Array(B * Lq * H * D);
  const scores = new Float64Array(Lk);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const qb = (b * H + h) * Lq * D;
      const kb = (b * H + h) * Lk * D;
      for (let i = 0; i < Lq; i++) {
        let max = Number.NEGATIVE_INFINITY;
        for (let j = 0; j < Lk; j++) {
          if (mask && !mask(i, j)) {
            scores[j] = Number.NEGATIVE_INFINITY;
            continue;
          }
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[qb + i * D + d]! * k[kb + j * D + d]!;
          scores[j] = dot * scale;
          if (scores[j]! > max) max = scores[j]!;
        }
        if (max === Number.NEGATIVE_INFINITY) continue;
        let sum = 0;
        for (let j = 0; j < Lk; j++) {
          scores[j] = Math.exp(scores[j]! - max);
          sum += scores[j]!;
        }
        const o = (b * Lq + i) * H * D + h * D;
        for (let d = 0; d < D; d++) {
          let acc = 0;
          for (let j = 0; j < Lk; j++) if (scores[j]) acc += scores[j]! * v[kb + j * D + d]!;
          out[o + d] = acc / sum;
        }
      }
    }
  }
  return out;
}

/** The mask that a key-range table describes: ranges [nBlocks, R, 2] for query blocks of blockSize. */
export function rangeMask(
  ranges: Uint32Array,
  maxRanges: number,
  blockSize: number,
): (qi: number, kj: number) => boolean {
  return (qi, kj) => {
    const base = Math.floor(qi / blockSize) * maxRanges * 2;
    for (let r = 0; r < maxRanges; r++) {
      if (kj >= ranges[base + 2 * r]! && kj < ranges[base + 2 * r + 1]!) return true;
    }
    return false;
  };
}
