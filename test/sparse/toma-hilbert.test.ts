import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CpuBackend } from '../../src/cpu/backend.js';
import type { AttentionPattern } from '../../src/merge/hooks.js';
import { createReducer } from '../../src/merge/reducers.js';
import { TileLayout } from '../../src/merge/tile-layout.js';
import { imageLayout } from '../../src/sparse/layout.js';
import { createTomaHilbert, mergedCurvePermutation } from '../../src/sparse/toma-hilbert.js';
import { cpu, gpu, noGpu, relErr } from '../helpers.js';
import { micro, randomCheckpoint, randomInputs, runCheckpoint } from '../models/flux/util.js';

describe('ToMA + HilbertA combined', () => {
  it('the merged-token permutation keeps each tile together and follows the tile order', () => {
    for (const [H, W, s, ratio] of [
      [16, 16, 4, 0.5],
      [10, 7, 3, 0.75],
    ] as const) {
      const tl = new TileLayout(H, W, s, ratio);
      const order = imageLayout(H, W, 0.0625, s).tileOrder;
      const { curve, inverse } = mergedCurvePermutation(tl, order);
      assert.deepEqual(
        [...curve].sort((a, b) => a - b),
        Array.from({ length: tl.tokens }, (_, i) => i),
      );
      for (let m = 0; m < curve.length; m++) assert.equal(inverse[curve[m]!], m);
      let m = 0;
      for (const t of order) {
        const info = tl.tileInfo(t);
        for (let i = 0; i < info.k; i++) assert.equal(curve[m++], info.offset + i, `tile ${t}`);
      }
    }
  });

  const grid = { batch: 1, rows: 16, cols: 16, text: 4 };
  const { path } = randomCheckpoint(micro, { seed: 5 });
  const inputs = randomInputs(micro, grid);
  const opts = { ratio: 0.5, tile: 4, exemptDouble: 0, exemptSingle: 1, mergeEvery: 1 };

  it('with dense attention, the curve-ordered merged sequence gives ToMA’s output (the reorder is exact)', async () => {
    // the plain CPU kernels sum in f64, so a reordered sequence gives the same numbers (the fast path's
    // f32 sums differ in the last bits, which ToMA's softmax(1000·cos) amplifies to ~1e-3)
    const exact = new CpuBackend({ fast: false });
    const toma = createReducer(exact, { method: 'toma', ...opts });
    const plain = await runCheckpoint(exact, path, 'f32', grid, inputs, { reducer: toma });
    toma.dispose();
    const combined = createTomaHilbert(exact, opts, {}, micro.depth);
    const densePattern: AttentionPattern = {
      name: 'none',
      imageOrder: () => null,
      keyRanges: () => null,
      dispose() {},
    };
    const reordered = await runCheckpoint(exact, path, 'f32', grid, inputs, {
      reducer: combined.reducer,
      pattern: densePattern,
    });
    combined.dispose();
    assert.ok(relErr(reordered, plain) < 1e-5, `relative difference ${relErr(reordered, plain)}`);
  });

  it('with the sparse pattern: finite, different from ToMA alone, and the same on WebGPU', {
    skip: noGpu,
  }, async () => {
    const toma = createReducer(cpu, { method: 'toma', ...opts });
    const plain = await runCheckpoint(cpu, path, 'f32', grid, inputs, { reducer: toma });
    toma.dispose();
    const c1 = createTomaHilbert(cpu, opts, {}, micro.depth);
    const onCpu = await runCheckpoint(cpu, path, 'f32', grid, inputs, c1);
    c1.dispose();
    const c2 = createTomaHilbert(gpu!, opts, {}, micro.depth);
    const onGpu = await runCheckpoint(gpu!, path, 'f32', grid, inputs, c2);
    c2.dispose();
    assert.ok(onCpu.every(Number.isFinite));
    assert.ok(relErr(onCpu, plain) > 1e-4, 'the sparse pattern changes the output');
    // ToMA's weights are softmax(1000·cos): f32 rounding differences of the cosines (1e-7) are amplified
    // a thousandfold, so ToMA alone already differs by ~1e-3 between the backends on this model.
    assert.ok(relErr(onGpu, onCpu) < 2e-2, `CPU vs WebGPU ${relErr(onGpu, onCpu)}`);
  });
});
