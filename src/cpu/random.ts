// Counter-based normal random numbers, identical in formula to src/kernels/random.wgsl so both
// backends initialise the same weights from the same seed (up to f32 rounding of log/cos).

export function pcgHash(x: number): number {
  const state = (Math.imul(x >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/** The i-th standard normal of stream `seed` (Box-Muller on two hashed 23-bit uniforms, exact in f32). */
export function normalAt(seed: number, i: number): number {
  const base = pcgHash(seed >>> 0);
  const h1 = pcgHash((base ^ ((2 * i) >>> 0)) >>> 0);
  const h2 = pcgHash((base ^ ((2 * i + 1) >>> 0)) >>> 0);
  const u1 = ((h1 >>> 9) + 0.5) / 8388608;
  const u2 = ((h2 >>> 9) + 0.5) / 8388608;
  return -Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * (u2 - 0.5));
}

export function randomRef(n: number, seed: number, mean: number, std: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = mean + std * normalAt(seed, i);
  return out;
}
