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

/**
 * The same function as attentionRef, arranged for speed: four query rows share each key/value row
 * load, scores live in one buffer per row block, and only the listed key ranges are visited (no
 * per-key mask callback). In the embedded model's CPU generation this took attention from 26 s to
 * ~3 s of a 2-step run. Tests hold it to attentionRef.
 */
export function attentionFast(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  s: AttentionRefShape,
  scale: number,
  keyRanges?: { ranges: Uint32Array; maxRanges: number; blockSize: number },
): Float32Array {
  const { B, H, Lq, Lk, D } = s;
  const out = new Float32Array(B * Lq * H * D);
  const R = 4;
  const scores = new Float64Array(R * Lk);
  const acc = new Float64Array(R * D);
  const keys = new Int32Array(Lk);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const qb = (b * H + h) * Lq * D;
      const kb = (b * H + h) * Lk * D;
      for (let i0 = 0, rows = 0; i0 < Lq; i0 += rows) {
        rows = Math.min(R, Lq - i0);
        // a row block must see one key-range block: where it would straddle two, go row by row
        if (
          keyRanges &&
          Math.floor(i0 / keyRanges.blockSize) !== Math.floor((i0 + rows - 1) / keyRanges.blockSize)
        )
          rows = 1;
        let nKeys = 0;
        if (keyRanges) {
          const base = Math.floor(i0 / keyRanges.blockSize) * keyRanges.maxRanges * 2;
          for (let r = 0; r < keyRanges.maxRanges; r++) {
            const end = Math.min(keyRanges.ranges[base + 2 * r + 1]!, Lk);
            for (let j = keyRanges.ranges[base + 2 * r]!; j < end; j++) keys[nKeys++] = j;
          }
        } else {
          for (let j = 0; j < Lk; j++) keys[j] = j;
          nKeys = Lk;
        }
        const q0 = qb + i0 * D;
        if (rows === R) {
          for (let t = 0; t < nKeys; t++) {
            const ko = kb + keys[t]! * D;
            let s0 = 0;
            let s1 = 0;
            let s2 = 0;
            let s3 = 0;
            for (let d = 0; d < D; d++) {
              const kv = k[ko + d]!;
              s0 += q[q0 + d]! * kv;
              s1 += q[q0 + D + d]! * kv;
              s2 += q[q0 + 2 * D + d]! * kv;
              s3 += q[q0 + 3 * D + d]! * kv;
            }
            scores[t] = s0 * scale;
            scores[Lk + t] = s1 * scale;
            scores[2 * Lk + t] = s2 * scale;
            scores[3 * Lk + t] = s3 * scale;
          }
        } else {
          for (let r = 0; r < rows; r++) {
            for (let t = 0; t < nKeys; t++) {
              const ko = kb + keys[t]! * D;
              let dot = 0;
              for (let d = 0; d < D; d++) dot += q[q0 + r * D + d]! * k[ko + d]!;
              scores[r * Lk + t] = dot * scale;
            }
          }
          for (let r = rows; r < R; r++) scores.fill(0, r * Lk, r * Lk + nKeys);
        }
        acc.fill(0);
        const sums = [0, 0, 0, 0];
        for (let r = 0; r < rows; r++) {
          const o = r * Lk;
          let max = Number.NEGATIVE_INFINITY;
          for (let t = 0; t < nKeys; t++) if (scores[o + t]! > max) max = scores[o + t]!;
          let sum = 0;
          for (let t = 0; t < nKeys; t++) {
            const e = Math.exp(scores[o + t]! - max);
            scores[o + t] = e;
            sum += e;
          }
          sums[r] = sum;
        }
        for (let t = 0; t < nKeys; t++) {
          const vo = kb + keys[t]! * D;
          const p0 = scores[t]!;
          const p1 = scores[Lk + t]!;
          const p2 = scores[2 * Lk + t]!;
          const p3 = scores[3 * Lk + t]!;
          for (let d = 0; d < D; d++) {
            const vv = v[vo + d]!;
            acc[d] += p0 * vv;
            acc[D + d] += p1 * vv;
            acc[2 * D + d] += p2 * vv;
            acc[3 * D + d] += p3 * vv;
          }
        }
        for (let r = 0; r < rows; r++) {
          const o = (b * Lq + i0 + r) * H * D + h * D;
          const inv = nKeys ? 1 / sums[r]! : 0;
          for (let d = 0; d < D; d++) out[o + d] = acc[r * D + d]! * inv;
        }
      }
    }
  }
  return out;
}
