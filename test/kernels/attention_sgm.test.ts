// The tensor-core flash attention (subgroup matrices, f16, head dim 64/128) against the f64 CPU
// reference. Runs only on adapters with an f16 16x16x16 subgroup-matrix config (not SwiftShader).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GpuBackend } from '../../src/gpu/backend.js';
import { attentionSubgroupMatrix } from '../../src/kernels/attention.js';
import { buildKeyRanges, SHARED } from '../../src/sparse/pattern.js';
import { assertClose, cpu, gpu, pair, rng, TOL } from '../helpers.js';

const noSgm = !gpu
  ? 'no WebGPU adapter'
  : gpu.paths.attention !== 'subgroup-matrix'
    ? 'adapter lacks f16 subgroup matrices'
    : false;

const TOL_ATT = TOL.f16 * 2;

describe('tensor-core attention (f16) vs CPU reference', { skip: noSgm }, () => {
  const cases = [
    { B: 1, H: 1, Lq: 1, Lk: 1, D: 64 },
    { B: 1, H: 1, Lq: 1, Lk: 1, D: 128 },
    { B: 2, H: 3, Lq: 37, Lk: 53, D: 64 },
    { B: 1, H: 2, Lq: 77, Lk: 130, D: 128 },
    { B: 1, H: 2, Lq: 130, Lk: 19, D: 128 },
    { B: 2, H: 1, Lq: 300, Lk: 257, D: 64 },
    { B: 1, H: 1, Lq: 256, Lk: 512, D: 128 },
  ];
  for (const c of cases) {
    it(`B=${c.B} H=${c.H} Lq=${c.Lq} Lk=${c.Lk} D=${c.D}`, async () => {
      const r = rng();
      const { B, H, Lq, Lk, D } = c;
      const [qc, qg] = pair(gpu!, r.normals(B * H * Lq * D), [B, H, Lq, D], 'f16');
      const [kc, kg] = pair(gpu!, r.normals(B * H * Lk * D), [B, H, Lk, D], 'f16');
      const [vc, vg] = pair(gpu!, r.normals(B * H * Lk * D), [B, H, Lk, D], 'f16');
      const want = await cpu.attention(qc, kc, vc).read();
      const got = await gpu!.attention(qg, kg, vg).read();
      assertClose(got, want, TOL_ATT, 'attention');
    });
  }

  for (const [subgroups, D] of [
    [1, 128],
    [2, 64],
    [4, 128],
    [8, 64],
  ]) {
    it(`${subgroups} subgroups per workgroup (${16 * subgroups} query rows), D=${D}, several key blocks`, async () => {
      const r = rng();
      const [B, H, Lq, Lk] = [1, 2, 100, 150];
      const [qc, qg] = pair(gpu!, r.normals(B * H * Lq * D), [B, H, Lq, D], 'f16');
      const [kc, kg] = pair(gpu!, r.normals(B * H * Lk * D), [B, H, Lk, D], 'f16');
      const [vc, vg] = pair(gpu!, r.normals(B * H * Lk * D), [B, H, Lk, D], 'f16');
      const scale = 1 / Math.sqrt(D);
      const want = await cpu.attention(qc, kc, vc).read();
      for (const late of [false, true]) {
        const got = await attentionSubgroupMatrix(gpu!, qg, kg, vg, scale, undefined, {
          subgroups,
          late,
        }).read();
        assertClose(got, want, TOL_ATT, `attention${late ? ' (late rescale)' : ''}`);
      }
    });
  }

  // Scores that keep growing along the keys with a wide spread force the lazy maximum to move (and
  // the O accumulators to be rescaled) many times; threshold 0 rescales at every increase.
  for (const [threshold, late] of [
    [0, false],
    [8, false],
    [14, false],
    [0, true],
    [14, true],
  ] as [number, boolean][]) {
    for (const D of [64, 128]) {
      it(`rising, peaked scores rescale correctly (threshold ${threshold}${late ? ', late' : ''}, D=${D})`, async () => {
        const r = rng();
        const [B, H, Lq, Lk] = [1, 2, 150, 333];
        const q = r.normals(B * H * Lq * D, 1.5);
        const k = r.normals(B * H * Lk * D, 1.5);
        for (let h = 0; h < B * H; h++)
          for (let j = 0; j < Lk; j++)
            for (let d = 0; d < D; d++) k[(h * Lk + j) * D + d]! *= 0.3 + (2.5 * j) / Lk;
        const [qc, qg] = pair(gpu!, q, [B, H, Lq, D], 'f16');
        const [kc, kg] = pair(gpu!, k, [B, H, Lk, D], 'f16');
        const [vc, vg] = pair(gpu!, r.normals(B * H * Lk * D), [B, H, Lk, D], 'f16');
        const scale = 1 / Math.sqrt(D);
        const want = await cpu.attention(qc, kc, vc, { scale }).read();
        const got = await attentionSubgroupMatrix(gpu!, qg, kg, vg, scale, undefined, {
          threshold,
          late,
        }).read();
        assertClose(got, want, TOL_ATT, 'attention');
      });
    }
  }

  // Key ranges: block sizes that give 1, 2, 4 and 8 subgroups per workgroup; disjoint ranges that
  // start and end inside key blocks, are empty, or reach past Lk. (Overlapping ranges are counted
  // once by the CPU reference but once per range by both GPU kernels: the contract is disjoint.)
  for (const blockSize of [16, 32, 64, 128, 256]) {
    it(`per-query-block key ranges, blockSize ${blockSize}`, async () => {
      const r = rng();
      const [B, H, L, D] = [1, 2, 290, blockSize >= 128 ? 128 : 64];
      const nb = Math.ceil(L / blockSize);
      const R = 3;
      const ranges: number[] = [];
      for (let i = 0; i < nb; i++) {
        const a = (i * 37) % L;
        ranges.push(0, 5); // a shared prefix
        // a window inside [5, L-20), or empty
        ranges.push(i % 3 === 1 ? 9 : Math.max(a, 5), i % 3 === 1 ? 9 : Math.min(a + 45 + i, L - 20));
        ranges.push(L - 20, L + 100); // a tail that runs past Lk
      }
      const [qc, qg] = pair(gpu!, r.normals(B * H * L * D), [B, H, L, D], 'f16');
      const [kc, kg] = pair(gpu!, r.normals(B * H * L * D), [B, H, L, D], 'f16');
      const [vc, vg] = pair(gpu!, r.normals(B * H * L * D), [B, H, L, D], 'f16');
      const [rc, rg] = pair(gpu!, ranges, [nb, R, 2], 'u32');
      const want = await cpu.attention(qc, kc, vc, { keyRanges: { blockSize, ranges: rc } }).read();
      const dense = await cpu.attention(qc, kc, vc).read();
      const got = await gpu!.attention(qg, kg, vg, { keyRanges: { blockSize, ranges: rg } }).read();
      assertClose(got, want, TOL_ATT, 'sparse attention');
      assert.ok(Math.abs(want[0]! - dense[0]!) > 1e-6, 'the ranges must actually change the result');
    });
  }

  // Outer ranges: short query blocks of a HilbertA-like pattern (a shared prefix, then tiles whose keys
  // are runs of the sequence) run in 128-row workgroups that stream the union of their blocks' keys
  // and mask each subgroup by its own block. Odd lengths; tiles that start mid-block.
  for (const blockSize of [16, 32, 64]) {
    it(`outer key ranges (128-row workgroups) over blocks of ${blockSize}`, async () => {
      const r = rng();
      const [B, H, L, D] = [2, 2, 1000 + blockSize + 3, 128];
      const cls = new Int32Array(L).fill(SHARED);
      const S = 150 + blockSize; // not a multiple of 128: the shared rows end inside a workgroup
      for (let i = S; i < L; i++) cls[i] = Math.floor((i - S) / 97) % 5; // tiles of 97, repeating
      const fine = buildKeyRanges(cls, blockSize);
      const outerT = buildKeyRanges(cls, 128);
      const nb = Math.ceil(L / blockSize);
      const [qc, qg] = pair(gpu!, r.normals(B * H * L * D), [B, H, L, D], 'f16');
      const [kc, kg] = pair(gpu!, r.normals(B * H * L * D), [B, H, L, D], 'f16');
      const [vc, vg] = pair(gpu!, r.normals(B * H * L * D), [B, H, L, D], 'f16');
      const [rc, rg] = pair(gpu!, fine.ranges, [nb, fine.maxRanges, 2], 'u32');
      const og = gpu!.tensor(outerT.ranges, [Math.ceil(L / 128), outerT.maxRanges, 2], 'u32');
      const want = await cpu.attention(qc, kc, vc, { keyRanges: { blockSize, ranges: rc } }).read();
      const union = await cpu
        .attention(qc, kc, vc, {
          keyRanges: { blockSize: 128, ranges: cpu.tensor(outerT.ranges, og.shape, 'u32') },
        })
        .read();
      let differs = 0;
      for (let i = 0; i < want.length; i++) if (Math.abs(want[i]! - union[i]!) > 1e-3) differs++;
      assert.ok(differs > want.length / 20, 'the fine ranges must differ from their outer union');
      // Through the public op (which picks the outer mode) and explicitly.
      const keyRanges = { blockSize, ranges: rg, outer: { blockSize: 128, ranges: og } };
      const got = await gpu!.attention(qg, kg, vg, { keyRanges }).read();
      assertClose(got, want, TOL_ATT, 'attention with outer ranges');
      for (const late of [false, true]) {
        const got2 = await attentionSubgroupMatrix(gpu!, qg, kg, vg, 1 / Math.sqrt(D), keyRanges, {
          outer: true,
          late,
        }).read();
        assertClose(got2, want, TOL_ATT, `attention with outer ranges${late ? ' (late)' : ''}`);
      }
    });
  }

  it('a query block whose ranges are all empty gives zeros', async () => {
    const r = rng();
    const [B, H, L, D] = [1, 1, 64, 128];
    const ranges = [0, 0, 10, 20]; // block 0: nothing; block 1: keys 10..19
    const [qc, qg] = pair(gpu!, r.normals(L * D), [B, H, L, D], 'f16');
    const [kc, kg] = pair(gpu!, r.normals(L * D), [B, H, L, D], 'f16');
    const [vc, vg] = pair(gpu!, r.normals(L * D), [B, H, L, D], 'f16');
    const [rc, rg] = pair(gpu!, ranges, [2, 1, 2], 'u32');
    const want = await cpu.attention(qc, kc, vc, { keyRanges: { blockSize: 32, ranges: rc } }).read();
    const got = await gpu!.attention(qg, kg, vg, { keyRanges: { blockSize: 32, ranges: rg } }).read();
    assertClose(got, want, TOL_ATT, 'attention with empty ranges');
    assert.equal(got[0], 0);
  });

  it('the SIMT fallback stays correct for f16 on the same adapter', async () => {
    const simt = new GpuBackend(gpu!.gpu, { attention: 'simt' });
    const r = rng();
    const [B, H, Lq, Lk, D] = [1, 2, 40, 33, 64];
    const q = r.normals(B * H * Lq * D);
    const k = r.normals(B * H * Lk * D);
    const v = r.normals(B * H * Lk * D);
    const up = (be: typeof cpu | GpuBackend, a: Float32Array, L: number) => be.tensor(a, [B, H, L, D], 'f16');
    const want = await cpu.attention(up(cpu, q, Lq), up(cpu, k, Lk), up(cpu, v, Lk)).read();
    const got = await simt.attention(up(simt, q, Lq), up(simt, k, Lk), up(simt, v, Lk)).read();
    assertClose(got, want, TOL_ATT, 'simt f16 attention');
    simt.rt.destroy();
  });
});
