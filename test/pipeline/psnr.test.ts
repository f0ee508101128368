import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { psnr8 } from '../../src/pipeline/psnr.js';

describe('psnr8', () => {
  it('is 10·log10(255² / MSE), Infinity for identical images, symmetric', () => {
    const a = Uint8Array.from([0, 10, 20, 30, 255, 128]);
    const b = Uint8Array.from([0, 12, 20, 27, 250, 128]);
    const mse = (0 + 4 + 0 + 9 + 25 + 0) / 6;
    assert.ok(Math.abs(psnr8(a, b) - 10 * Math.log10((255 * 255) / mse)) < 1e-12);
    assert.equal(psnr8(a, b), psnr8(b, a));
    assert.equal(psnr8(a, Uint8Array.from(a)), Number.POSITIVE_INFINITY);
    // black vs white: MSE = 255², 0 dB
    assert.equal(psnr8(new Uint8Array(4), new Uint8Array(4).fill(255)), 0);
  });

  it('rejects images of different sizes', () => {
    assert.throws(() => psnr8(new Uint8Array(3), new Uint8Array(4)), /differ in size \(3 and 4/);
    assert.throws(() => psnr8(new Uint8Array(0), new Uint8Array(0)), /empty/);
  });
});
