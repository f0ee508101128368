// Reference attention with an additive bias, causal masking and key padding: exact softmax in f64.
import type { AttentionRefShape } from './attention.js';

/** The score a padding key gets: the lowest f32, as adding torch.finfo(torch.float32).min gives. */
export const PADDING_SCORE = -3.4028234663852886e38;

export interface MaskedAttentionRefOptions {
  /** [H, Lq, Lk] (biasPerBatch false) or [B, H, Lq, Lk]. */
  bias?: Float32Array;
  biasPerBatch?: boolean;
  causal?: boolean;
  /** [B, Lk], 0 = padding. */
  keyMask?: Uint32Array;
}

/** q [B, H, Lq, D], k/v [B, H, Lk, D] -> [B, Lq, H*D]. */
export function maskedAttentionRef(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  s: AttentionRefShape,
  scale: number,
  o: MaskedAttentionRefOptions = {},
): Float32Array {
  const { B, H, Lq, Lk, D } = s;
  const out = new Float32Array(B * Lq * H * D);
  const scores = new Float64Array(Lk);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const qb = (b * H + h) * Lq * D;
      const kb = (b * H + h) * Lk * D;
      const biasBase = ((o.biasPerBatch ? b * H : 0) + h) * Lq * Lk;
      for (let i = 0; i < Lq; i++) {
        const nk = o.causal ? Math.min(Lk, i + 1) : Lk;
        let max = Number.NEGATIVE_INFINITY;
        for (let j = 0; j < nk; j++) {
          let score: number;
          if (o.keyMask && o.keyMask[b * Lk + j] === 0) {
            score = PADDING_SCORE;
          } else {
            let dot = 0;
            for (let d = 0; d < D; d++) dot += q[qb + i * D + d]! * k[kb + j * D + d]!;
            score = dot * scale + (o.bias ? o.bias[biasBase + i * Lk + j]! : 0);
          }
          scores[j] = score;
          if (score > max) max = score;
        }
        let sum = 0;
        for (let j = 0; j < nk; j++) {
          scores[j] = Math.exp(scores[j]! - max);
          sum += scores[j]!;
        }
        const ob = (b * Lq + i) * H * D + h * D;
        for (let d = 0; d < D; d++) {
          let acc = 0;
          for (let j = 0; j < nk; j++) acc += scores[j]! * v[kb + j * D + d]!;
          out[ob + d] = acc / sum;
        }
      }
    }
  }
  return out;
}
