// T5's relative position bias: key position j seen from query i falls into a bucket of (j - i), and
// each head has one learned value per bucket. Only block 0 owns the table; every block adds the same
// bias. Buckets follow transformers' _relative_position_bucket (bidirectional) with its float32
// arithmetic: log(n / max_exact) / log(max_distance / max_exact) * (half - max_exact), truncated.

/** The bucket of relative position `rel` = key - query. */
export function relativePositionBucket(rel: number, numBuckets: number, maxDistance: number): number {
  const f = Math.fround;
  const half = Math.floor(numBuckets / 2);
  const base = rel > 0 ? half : 0;
  const n = Math.abs(rel);
  const maxExact = Math.floor(half / 2);
  if (n < maxExact) return base + n;
  const ratio = f(f(Math.log(f(n / maxExact))) / f(Math.log(maxDistance / maxExact)));
  const large = maxExact + Math.trunc(f(ratio * (half - maxExact)));
  return base + Math.min(large, half - 1);
}

/**
 * bias [H, Lq, Lk] with bias[h, i, j] = table[bucket(j - i), h]; table is the stored
 * relative_attention_bias.weight [numBuckets, H].
 */
export function positionBias(
  table: Float32Array,
  heads: number,
  numBuckets: number,
  maxDistance: number,
  Lq: number,
  Lk: number,
): Float32Array {
  const byRel = new Int32Array(Lq + Lk - 1); // bucket of rel = j - i, offset by Lq - 1
  for (let r = 0; r < byRel.length; r++)
    byRel[r] = relativePositionBucket(r - (Lq - 1), numBuckets, maxDistance);
  const out = new Float32Array(heads * Lq * Lk);
  for (let h = 0; h < heads; h++)
    for (let i = 0; i < Lq; i++) {
      const o = (h * Lq + i) * Lk;
      for (let j = 0; j < Lk; j++) out[o + j] = table[byRel[j - i + Lq - 1]! * heads + h]!;
    }
  return out;
}
