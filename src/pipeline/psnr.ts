// Peak signal-to-noise ratio between two 8-bit images of the same size: how far a method's image is
// from the dense one, in dB (higher is closer; identical images give Infinity).

export function psnr8(a: Uint8Array | Uint8ClampedArray, b: Uint8Array | Uint8ClampedArray): number {
  if (a.length !== b.length)
    throw new RangeError(`psnr8(): images differ in size (${a.length} and ${b.length} values)`);
  if (a.length === 0) throw new RangeError('psnr8(): empty images');
  let se = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    se += d * d;
  }
  if (se === 0) return Number.POSITIVE_INFINITY;
  return 10 * Math.log10((255 * 255 * a.length) / se);
}
