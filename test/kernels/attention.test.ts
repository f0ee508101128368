import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertClose, cpu, gpu, gpuDtypes, noGpu, pair, rng, TOL } from '../helpers.js';

describe('attention kernel vs CPU reference', { skip: noGpu }, () => {
  const cases = [
    { B: 1, H: 1, Lq: 1, Lk: 1, D: 64 },
    { B: 2, H: 3, Lq: 37, Lk: 53, D: 64 },
    { B: 1, H: 2, Lq: 70, Lk: 19, D: 128 },
    { B: 1, H: 1, Lq: 5, Lk: 130, D: 32 },
  ];
  for (const dtype of gpuDtypes) {
    for (const c of cases) {
      it(`${dtype} B=${c.B} H=${c.H} Lq=${c.Lq} Lk=${c.Lk} D=${c.D}`, async () => {
        const r = rng();
        const { B, H, Lq, Lk, D } = c;
        const [qc, qg] = pair(gpu!, r.normals(B * H * Lq * D), [B, H, Lq, D], dtype);
        const [kc, kg] = pair(gpu!, r.normals(B * H * Lk * D), [B, H, Lk, D], dtype);
        const [vc, vg] = pair(gpu!, r.normals(B * H * Lk * D), [B, H, Lk, D], dtype);
        const want = await cpu.attention(qc, kc, vc).read();
        const got = await gpu!.attention(qg, kg, vg).read();
        assertClose(got, want, TOL[dtype] * 2, 'attention');
      });
    }
    it(`${dtype} per-query-block key ranges (block-sparse) equal the explicitly masked reference`, async () => {
      const r = rng();
      const B = 1;
      const H = 2;
      const L = 45;
      const D = 64;
      const blockSize = 16;
      const nb = Math.ceil(L / blockSize);
      const R = 2;
      // block i: a shared prefix [0, 5) and its own window, one block with an empty second range
      const ranges: number[] = [];
      for (let i = 0; i < nb; i++) ranges.push(0, 5, i === 1 ? 9 : 10 + 7 * i, i === 1 ? 9 : 20 + 8 * i);
      const [qc, qg] = pair(gpu!, r.normals(B * H * L * D), [B, H, L, D], dtype);
      const [kc, kg] = pair(gpu!, r.normals(B * H * L * D), [B, H, L, D], dtype);
      const [vc, vg] = pair(gpu!, r.normals(B * H * L * D), [B, H, L, D], dtype);
      const [rc, rg] = pair(gpu!, ranges, [nb, R, 2], 'u32');
      const want = await cpu.attention(qc, kc, vc, { keyRanges: { blockSize, ranges: rc } }).read();
      const dense = await cpu.attention(qc, kc, vc).read();
      const got = await gpu!.attention(qg, kg, vg, { keyRanges: { blockSize, ranges: rg } }).read();
      assertClose(got, want, TOL[dtype] * 2, 'sparse attention');
      assert.ok(Math.abs(want[0]! - dense[0]!) > 1e-6, 'the ranges must actually change the result');
    });
  }
});
