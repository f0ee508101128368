import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { todoDownsample } from '../../src/merge/todo.js';
import { assertClose, cpu, gpu, gpuDtypes, noGpu, pair, rng, TOL } from '../helpers.js';

describe('ToDo key/value pooling vs CPU reference', { skip: noGpu }, () => {
  for (const dtype of gpuDtypes) {
    for (const [H, W, D, f] of [
      [6, 4, 8, 2],
      [7, 5, 6, 2],
      [5, 7, 4, 3],
    ] as const) {
      it(`${dtype} ${H}x${W} grid, D ${D}, ${f}x${f} cells`, async () => {
        const r = rng();
        const shape = [2, 3, H * W, D];
        const [xc, xg] = pair(gpu!, r.normals(2 * 3 * H * W * D), shape, dtype);
        const yg = todoDownsample(gpu!, xg, [H, W], f);
        assert.deepEqual(yg.shape, [2, 3, Math.ceil(H / f) * Math.ceil(W / f), D]);
        assertClose(await yg.read(), await todoDownsample(cpu, xc, [H, W], f).read(), TOL[dtype], 'pool');
      });
    }
  }
});

describe('ToDo semantics (CPU reference)', () => {
  it('averages each 2x2 cell; partial edge cells average what they hold', async () => {
    // 3x3 grid, 1 channel: tokens 0..8 in raster order
    const x = cpu.tensor([0, 1, 2, 3, 4, 5, 6, 7, 8], [1, 1, 9, 1]);
    const y = await todoDownsample(cpu, x, [3, 3]).read();
    assert.deepEqual(Array.from(y), [(0 + 1 + 3 + 4) / 4, (2 + 5) / 2, (6 + 7) / 2, 8]);
  });
  it('argument errors name the problem', () => {
    assert.throws(
      () => todoDownsample(cpu, cpu.zeros([1, 1, 8, 2]), [3, 3]),
      /x has shape \[1, 1, 8, 2\], expected \[\*, \*, 9, \*\]/,
    );
    assert.throws(() => todoDownsample(cpu, cpu.zeros([1, 1, 9, 2]), [3, 3], 0), /factor/);
  });
});
