// Full-reference image metrics on 8-bit RGB images: PSNR and SSIM (Wang, Bovik, Sheikh & Simoncelli
// 2004: Gaussian window 11x11 with sigma 1.5, K1 = 0.01, K2 = 0.03, dynamic range 255, 'valid' windows
// only, computed per channel and averaged).

/** Interleaved 8-bit RGB, row-major. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

function checkPair(a: RgbImage, b: RgbImage, op: string): void {
  for (const [what, im] of [
    ['first', a],
    ['second', b],
  ] as const) {
    if (im.data.length !== im.width * im.height * 3)
      throw new RangeError(
        `${op}: the ${what} image has ${im.data.length} bytes for ${im.width}x${im.height} RGB`,
      );
  }
  if (a.width !== b.width || a.height !== b.height)
    throw new RangeError(`${op}: images differ in size (${a.width}x${a.height} vs ${b.width}x${b.height})`);
}

/** Mean squared error over all samples (0..255 scale). */
export function mse(a: RgbImage, b: RgbImage): number {
  checkPair(a, b, 'mse');
  let s = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = a.data[i]! - b.data[i]!;
    s += d * d;
  }
  return s / a.data.length;
}

/** PSNR in dB with peak 255; identical images give Infinity. */
export function psnr(a: RgbImage, b: RgbImage): number {
  const m = mse(a, b);
  return m === 0 ? Number.POSITIVE_INFINITY : 10 * Math.log10((255 * 255) / m);
}

export interface SsimOptions {
  /** Window side (odd). Default 11; images smaller than the window use their smaller side (made odd). */
  window?: number;
  /** Gaussian sigma for an 11-wide window; scaled with the window when it shrinks. Default 1.5. */
  sigma?: number;
}

function gaussian(size: number, sigma: number): Float64Array {
  const g = new Float64Array(size);
  const c = (size - 1) / 2;
  let s = 0;
  for (let i = 0; i < size; i++) {
    g[i] = Math.exp(-((i - c) ** 2) / (2 * sigma * sigma));
    s += g[i]!;
  }
  for (let i = 0; i < size; i++) g[i]! /= s;
  return g;
}

/** Separable 'valid' filtering of a W x H plane with a 1-D kernel k: (W-n+1) x (H-n+1). */
function filterValid(x: Float64Array, W: number, H: number, k: Float64Array): Float64Array {
  const n = k.length;
  const ow = W - n + 1;
  const oh = H - n + 1;
  const tmp = new Float64Array(ow * H);
  for (let y = 0; y < H; y++)
    for (let xo = 0; xo < ow; xo++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += k[j]! * x[y * W + xo + j]!;
      tmp[y * ow + xo] = s;
    }
  const out = new Float64Array(ow * oh);
  for (let yo = 0; yo < oh; yo++)
    for (let xo = 0; xo < ow; xo++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += k[j]! * tmp[(yo + j) * ow + xo]!;
      out[yo * ow + xo] = s;
    }
  return out;
}

/** Mean SSIM over the three channels; 1 for identical images, symmetric in a and b. */
export function ssim(a: RgbImage, b: RgbImage, o: SsimOptions = {}): number {
  checkPair(a, b, 'ssim');
  const { width: W, height: H } = a;
  let n = Math.min(o.window ?? 11, W, H);
  if (n % 2 === 0) n -= 1;
  if (n < 1) throw new RangeError(`ssim: window must be at least 1, got ${o.window}`);
  const sigma = ((o.sigma ?? 1.5) * n) / 11;
  const k = gaussian(n, sigma);
  const C1 = (0.01 * 255) ** 2;
  const C2 = (0.03 * 255) ** 2;
  const P = W * H;
  let total = 0;
  for (let c = 0; c < 3; c++) {
    const x = new Float64Array(P);
    const y = new Float64Array(P);
    for (let p = 0; p < P; p++) {
      x[p] = a.data[3 * p + c]!;
      y[p] = b.data[3 * p + c]!;
    }
    const xx = x.map((v) => v * v);
    const yy = y.map((v) => v * v);
    const xy = x.map((v, i) => v * y[i]!);
    const mx = filterValid(x, W, H, k);
    const my = filterValid(y, W, H, k);
    const sxx = filterValid(xx, W, H, k);
    const syy = filterValid(yy, W, H, k);
    const sxy = filterValid(xy, W, H, k);
    let s = 0;
    for (let i = 0; i < mx.length; i++) {
      const ux = mx[i]!;
      const uy = my[i]!;
      const vx = sxx[i]! - ux * ux;
      const vy = syy[i]! - uy * uy;
      const cxy = sxy[i]! - ux * uy;
      s += ((2 * ux * uy + C1) * (2 * cxy + C2)) / ((ux * ux + uy * uy + C1) * (vx + vy + C2));
    }
    total += s / mx.length;
  }
  return total / 3;
}
