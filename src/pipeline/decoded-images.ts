// What the FLUX.1 and SDXL pipelines make of a decoder's output: per-image RGB in [-1, 1], clamped, and
// the error a cancelled generation throws.

/** A decoder's RGB in about [-1, 1] ([B, H, W, 3]) -> per image, clamped to [-1, 1]. */
export function clampedImages(rgb: Float32Array, B: number): Float32Array[] {
  const per = rgb.length / B;
  return Array.from({ length: B }, (_, b) =>
    rgb.subarray(b * per, (b + 1) * per).map((v) => Math.max(-1, Math.min(1, v))),
  );
}

/** TAESD's RGB in about [0, 1] ([B, H, W, 3]) -> per image, [-1, 1] like the full decoder's, clamped. */
export function signedImages(rgb: Float32Array, B: number): Float32Array[] {
  const per = rgb.length / B;
  return Array.from({ length: B }, (_, b) =>
    rgb.subarray(b * per, (b + 1) * per).map((v) => Math.max(-1, Math.min(1, 2 * v - 1))),
  );
}

export const generationCancelled = () => new DOMException('generation cancelled', 'AbortError');
