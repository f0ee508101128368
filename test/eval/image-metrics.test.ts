// PSNR and SSIM against known answers, and the summary statistics.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mse, psnr, type RgbImage, ssim } from '../../src/eval/image-metrics.js';
import { median, quantileSorted, summarize } from '../../src/eval/stats.js';
import { rng } from '../helpers.js';

function image(w: number, h: number, f: (i: number) => number): RgbImage {
  return { width: w, height: h, data: Uint8Array.from({ length: w * h * 3 }, (_, i) => f(i)) };
}

/** A smooth random-looking image (values well inside 0..255 so added noise does not clip). */
function texture(w: number, h: number, seed: number): RgbImage {
  const r = rng(seed);
  const a = r.uniform() * 6;
  return image(w, h, (i) => {
    const p = Math.floor(i / 3);
    const x = p % w;
    const y = Math.floor(p / w);
    return Math.round(128 + 60 * Math.sin(x * 0.3 + a + (i % 3)) * Math.cos(y * 0.2 - a) + 20 * r.uniform());
  });
}

function withNoise(img: RgbImage, amp: number, seed: number): RgbImage {
  const r = rng(seed);
  return { ...img, data: img.data.map((v) => Math.max(0, Math.min(255, Math.round(v + amp * r.normal())))) };
}

describe('psnr', () => {
  it('is infinite for identical images', () => {
    const a = texture(9, 7, 1);
    assert.equal(psnr(a, { ...a, data: a.data.slice() }), Number.POSITIVE_INFINITY);
  });

  it('matches 10 log10(255^2 / d^2) for an error of exactly +-d on every sample', () => {
    const a = image(8, 8, () => 128);
    for (const d of [1, 5, 17]) {
      const b = image(8, 8, (i) => 128 + (i % 2 ? d : -d));
      assert.equal(mse(a, b), d * d);
      assert.ok(Math.abs(psnr(a, b) - 10 * Math.log10((255 * 255) / (d * d))) < 1e-12);
    }
    // 255 vs 0 everywhere: 0 dB
    assert.equal(
      psnr(
        image(2, 2, () => 0),
        image(2, 2, () => 255),
      ),
      0,
    );
  });

  it('rejects images of different sizes or a wrong byte count', () => {
    assert.throws(
      () =>
        psnr(
          image(2, 2, () => 0),
          image(3, 2, () => 0),
        ),
      /differ in size \(2x2 vs 3x2\)/,
    );
    assert.throws(
      () =>
        psnr(
          { width: 2, height: 2, data: new Uint8Array(5) },
          image(2, 2, () => 0),
        ),
      /5 bytes for 2x2 RGB/,
    );
  });
});

describe('ssim', () => {
  it('is 1 for identical images and symmetric', () => {
    const a = texture(24, 20, 2);
    const b = withNoise(a, 12, 3);
    assert.ok(Math.abs(ssim(a, a) - 1) < 1e-12);
    assert.ok(Math.abs(ssim(a, b) - ssim(b, a)) < 1e-12);
  });

  it('decreases as the noise grows', () => {
    const a = texture(32, 32, 4);
    const values = [2, 8, 20, 50].map((amp) => ssim(a, withNoise(a, amp, 5)));
    for (let i = 1; i < values.length; i++) assert.ok(values[i]! < values[i - 1]!, `${values}`);
    assert.ok(values[0]! > 0.9 && values.at(-1)! < 0.5, `${values}`);
  });

  it('reduces to the luminance term (2xy + C1) / (x^2 + y^2 + C1) for flat images', () => {
    const C1 = (0.01 * 255) ** 2;
    for (const [x, y] of [
      [100, 120],
      [30, 200],
    ] as const) {
      const got = ssim(
        image(16, 16, () => x),
        image(16, 16, () => y),
      );
      assert.ok(Math.abs(got - (2 * x * y + C1) / (x * x + y * y + C1)) < 1e-9, `${got}`);
    }
  });

  it('matches a direct per-window computation with an 11x11 Gaussian (sigma 1.5)', () => {
    const a = texture(13, 12, 6);
    const b = withNoise(a, 15, 7);
    const g: number[] = [];
    for (let i = 0; i < 11; i++) g.push(Math.exp(-((i - 5) ** 2) / (2 * 1.5 * 1.5)));
    const gs = g.reduce((s, v) => s + v, 0);
    const C1 = (0.01 * 255) ** 2;
    const C2 = (0.03 * 255) ** 2;
    let total = 0;
    for (let c = 0; c < 3; c++) {
      let sum = 0;
      let count = 0;
      for (let y0 = 0; y0 + 11 <= 12; y0++)
        for (let x0 = 0; x0 + 11 <= 13; x0++) {
          let mx = 0;
          let my = 0;
          let xx = 0;
          let yy = 0;
          let xy = 0;
          for (let dy = 0; dy < 11; dy++)
            for (let dx = 0; dx < 11; dx++) {
              const w = (g[dy]! * g[dx]!) / (gs * gs);
              const p = ((y0 + dy) * 13 + x0 + dx) * 3 + c;
              const u = a.data[p]!;
              const v = b.data[p]!;
              mx += w * u;
              my += w * v;
              xx += w * u * u;
              yy += w * v * v;
              xy += w * u * v;
            }
          const vx = xx - mx * mx;
          const vy = yy - my * my;
          const cxy = xy - mx * my;
          sum += ((2 * mx * my + C1) * (2 * cxy + C2)) / ((mx * mx + my * my + C1) * (vx + vy + C2));
          count++;
        }
      total += sum / count;
    }
    assert.ok(Math.abs(ssim(a, b) - total / 3) < 1e-9);
  });

  it('works on images smaller than the window (the window shrinks)', () => {
    const a = texture(6, 6, 8);
    const v = ssim(a, withNoise(a, 10, 9));
    assert.ok(v > 0 && v < 1, `${v}`);
    assert.ok(Math.abs(ssim(a, a) - 1) < 1e-12);
  });
});

describe('summary statistics', () => {
  it('median, quartiles, mean and extremes; infinities are kept, NaN is refused', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 2, 3]), 2.5);
    assert.equal(quantileSorted([0, 10], 0.25), 2.5);
    const s = summarize([5, 1, 4, 2, 3]);
    assert.deepEqual(s, { n: 5, median: 3, p25: 2, p75: 4, mean: 3, min: 1, max: 5 });
    assert.equal(
      summarize([1, Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY]).median,
      Number.POSITIVE_INFINITY,
    );
    assert.throws(() => summarize([1, Number.NaN]), /NaN/);
  });
});
