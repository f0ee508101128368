import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildRopeTable } from '../../src/cpu/rope.js';
import { assertClose, cpu, gpu, gpuDtypes, noGpu, pair, rng, TOL } from '../helpers.js';

describe('rope kernel vs CPU reference', { skip: noGpu }, () => {
  for (const dtype of gpuDtypes) {
    it(`${dtype} Flux-layout RoPE with 3-axis ids`, async () => {
      const r = rng();
      const B = 2;
      const H = 3;
      const L = 21;
      const axes = [4, 6, 6];
      const D = 16;
      const ids: number[] = [];
      for (let b = 0; b < B; b++) for (let l = 0; l < L; l++) ids.push(0, Math.floor(l / 5), l % 5);
      const table = buildRopeTable(ids, B, L, axes, 10000);
      const [xc, xg] = pair(gpu!, r.normals(B * H * L * D), [B, H, L, D], dtype);
      const [tc, tg] = pair(gpu!, table, [B, L, D / 2, 2], 'f32');
      assertClose(await gpu!.rope(xg, tg).read(), await cpu.rope(xc, tc).read(), TOL[dtype], 'rope');
    });
  }
  it('table: position 0 is the identity rotation, frequencies follow theta^(-2j/d)', () => {
    const t = buildRopeTable([0, 3, 0], 1, 1, [2, 4, 2], 10000);
    assert.deepEqual(Array.from(t.slice(0, 2)), [1, 0]);
    assert.ok(Math.abs(t[2]! - Math.cos(3)) < 1e-7 && Math.abs(t[3]! - Math.sin(3)) < 1e-7);
    assert.ok(Math.abs(t[4]! - Math.cos(3 / 100)) < 1e-7);
  });
});
