// KID: the unbiased MMD² estimator against a direct computation, near zero for two samples of one
// distribution, clearly positive for a shifted one.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { kid, kidReference, mmd2Unbiased, polynomialKernel } from '../../src/eval/kid.js';
import { rng } from '../helpers.js';

function gaussianSet(n: number, d: number, seed: number, shift = 0, scale = 1): Float32Array[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => Float32Array.from({ length: d }, () => shift + scale * r.normal()));
}

describe('kid', () => {
  it('mmd2Unbiased equals the estimator written out term by term', () => {
    const X = gaussianSet(5, 4, 1);
    const Y = gaussianSet(7, 4, 2, 0.3);
    const k = (a: Float32Array, b: Float32Array) => {
      let s = 0;
      for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
      return (s / 4 + 1) ** 3;
    };
    let xx = 0;
    for (let i = 0; i < 5; i++) for (let j = 0; j < 5; j++) if (i !== j) xx += k(X[i]!, X[j]!);
    let yy = 0;
    for (let i = 0; i < 7; i++) for (let j = 0; j < 7; j++) if (i !== j) yy += k(Y[i]!, Y[j]!);
    let xy = 0;
    for (let i = 0; i < 5; i++) for (let j = 0; j < 7; j++) xy += k(X[i]!, Y[j]!);
    const want = xx / 20 + yy / 42 - (2 * xy) / 35;
    assert.ok(Math.abs(mmd2Unbiased(X, Y) - want) < 1e-9 * Math.abs(want) + 1e-12);
    assert.equal(polynomialKernel(Float32Array.of(1, 2), Float32Array.of(3, 4)), (11 / 2 + 1) ** 3);
  });

  it('with subsets as large as both sets, every subset is the whole set: KID = MMD², std 0', () => {
    const X = gaussianSet(6, 3, 3);
    const Y = gaussianSet(6, 3, 4, 0.5);
    const r = kid(X, Y, { subsets: 5, subsetSize: 100 });
    assert.equal(r.subsetSize, 6);
    assert.ok(Math.abs(r.mean - mmd2Unbiased(X, Y)) < 1e-9);
    assert.ok(r.std < 1e-9);
  });

  it('is near zero for two samples of one distribution and clearly positive for a shifted one', () => {
    const d = 16;
    const real = kidReference(gaussianSet(200, d, 5));
    const same = kid(gaussianSet(200, d, 6), real, { subsets: 50, subsetSize: 100, seed: 1 });
    const shifted = kid(gaussianSet(200, d, 7, 0.5), real, { subsets: 50, subsetSize: 100, seed: 1 });
    const wider = kid(gaussianSet(200, d, 8, 0, 1.5), real, { subsets: 50, subsetSize: 100, seed: 1 });
    // unbiased: the same-distribution estimate scatters around 0, well inside its subset spread
    assert.ok(Math.abs(same.mean) < 2 * same.std + 1e-3, `same: ${same.mean} +- ${same.std}`);
    assert.ok(shifted.mean > 10 * Math.max(Math.abs(same.mean), same.std), `shifted ${shifted.mean}`);
    assert.ok(wider.mean > 10 * Math.max(Math.abs(same.mean), same.std), `wider ${wider.mean}`);
    assert.ok(shifted.std > 0);
  });

  it('names bad input', () => {
    assert.throws(() => mmd2Unbiased(gaussianSet(1, 3, 1), gaussianSet(3, 3, 2)), /at least 2 vectors/);
    assert.throws(() => kid(gaussianSet(3, 3, 1), gaussianSet(3, 4, 2)), /different sizes \(4 vs 3\)/);
  });
});
