// Sinusoidal features of the timestep and of SDXL's size/crop ids (diffusers' get_timestep_embedding),
// computed on the host step by step in f32 as PyTorch does: exponent_j = -ln(10000)·j / (half - shift),
// freq_j = exp(exponent_j), arg = t·freq_j, then [sin | cos] ([cos | sin] with flip_sin_to_cos).
// Timesteps reach 999 and SDXL's ids 1024 (about 1000 rad), so each f32 rounding matters at 1e-5.

const fr = Math.fround;

export interface SinusoidOptions {
  flipSinToCos: boolean;
  /** diffusers' downscale_freq_shift (freq_shift in the UNet config). */
  freqShift: number;
  maxPeriod?: number;
}

/** f32 [values.length, dim]: the features of each value (zero-padded for an odd dim). */
export function sinusoidalEmbedding(
  values: ArrayLike<number>,
  dim: number,
  o: SinusoidOptions,
): Float32Array {
  const half = Math.floor(dim / 2);
  const negLog = fr(-Math.log(o.maxPeriod ?? 10000));
  const freqs = new Float32Array(half);
  for (let j = 0; j < half; j++) freqs[j] = fr(Math.exp(fr(fr(negLog * j) / fr(half - o.freqShift))));
  const out = new Float32Array(values.length * dim);
  const [first, second] = o.flipSinToCos ? [Math.cos, Math.sin] : [Math.sin, Math.cos];
  for (let b = 0; b < values.length; b++) {
    const t = fr(values[b]!);
    for (let j = 0; j < half; j++) {
      const arg = fr(t * freqs[j]!);
      out[b * dim + j] = first(arg);
      out[b * dim + half + j] = second(arg);
    }
  }
  return out;
}
