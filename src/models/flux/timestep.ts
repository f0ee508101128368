// Sinusoidal timestep embedding, computed on the host (B x 256 values) step by step in f32 like the
// official timestep_embedding(): t' = 1000 t; freqs_j = exp(-ln(10000) j / half); [cos(t' freqs), sin(t' freqs)].
// The arguments reach 3500 rad for guidance 3.5, so rounding each step to f32 as PyTorch does matters
// (an f64 evaluation differs by up to ~1e-4 in the embedding).

const fr = Math.fround;

export const TIMESTEP_DIM = 256;

/** f32 [values.length, dim]: cos of the dim/2 arguments, then their sin (zero-padded for odd dim). */
export function timestepEmbedding(
  values: ArrayLike<number>,
  dim = TIMESTEP_DIM,
  maxPeriod = 10000,
  timeFactor = 1000,
): Float32Array {
  const half = Math.floor(dim / 2);
  const negLog = fr(-Math.log(maxPeriod));
  const freqs = new Float32Array(half);
  for (let j = 0; j < half; j++) freqs[j] = fr(Math.exp(fr(fr(negLog * j) / half)));
  const out = new Float32Array(values.length * dim);
  for (let b = 0; b < values.length; b++) {
    const t = fr(fr(timeFactor) * fr(values[b]!));
    for (let j = 0; j < half; j++) {
      const arg = fr(t * freqs[j]!);
      out[b * dim + j] = Math.cos(arg);
      out[b * dim + half + j] = Math.sin(arg);
    }
  }
  return out;
}
