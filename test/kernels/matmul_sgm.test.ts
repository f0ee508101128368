// The tensor-core matmul (subgroup matrices, f16) against the CPU reference. Runs only on adapters
// with an f16 16x16x16 subgroup-matrix config (not SwiftShader); elsewhere the suite is skipped.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Activation } from '../../src/backend.js';
import { GpuBackend } from '../../src/gpu/backend.js';
import {
  checkSgmConfig,
  matmulSubgroupMatrix,
  SGM_MATMUL_DEFAULT,
  SGM_WORKGROUP_TARGET,
  type SgmMatmulConfig,
  sgmMatmulConfigFor,
  sgmMatmulSharedBytes,
} from '../../src/kernels/matmul.js';
import { assertClose, cpu, gpu, pair, rng, TOL } from '../helpers.js';

const noSgm = !gpu
  ? 'no WebGPU adapter'
  : gpu.paths.matmul !== 'subgroup-matrix'
    ? 'adapter lacks f16 subgroup matrices'
    : false;

/** Every tile configuration the benchmarks may pick must compute the same function. */
const SGM_MATMUL_CONFIGS: SgmMatmulConfig[] = [
  SGM_MATMUL_DEFAULT,
  { BM: 128, BN: 128, BK: 64, STAGES: 1, PREFETCH: false, GROUP: 4 },
  { BM: 128, BN: 128, BK: 32, STAGES: 1, PREFETCH: true, GROUP: 8 },
  { BM: 128, BN: 64, BK: 32, STAGES: 1, PREFETCH: true, GROUP: 8 },
  { BM: 64, BN: 128, BK: 32, STAGES: 1, PREFETCH: true, GROUP: 8 },
  { BM: 128, BN: 256, BK: 32, STAGES: 1, PREFETCH: true, GROUP: 8 },
  { BM: 128, BN: 256, BK: 32, STAGES: 1, PREFETCH: false, GROUP: 8 },
  { BM: 256, BN: 128, BK: 32, STAGES: 1, PREFETCH: true, GROUP: 8 },
  { BM: 128, BN: 256, BK: 16, STAGES: 2, PREFETCH: true, GROUP: 8 },
  { BM: 128, BN: 128, BK: 32, STAGES: 2, PREFETCH: true, GROUP: 8 },
  // the small tiles of sgmMatmulConfigFor and bench/unet-matmul.ts
  { BM: 64, BN: 128, BK: 64, STAGES: 1, PREFETCH: true, GROUP: 8 },
  { BM: 128, BN: 64, BK: 64, STAGES: 1, PREFETCH: true, GROUP: 8 },
  { BM: 64, BN: 64, BK: 64, STAGES: 1, PREFETCH: true, GROUP: 8 },
  { BM: 64, BN: 64, BK: 32, STAGES: 1, PREFETCH: true, GROUP: 8 },
  { BM: 64, BN: 256, BK: 32, STAGES: 1, PREFETCH: true, GROUP: 8 },
];

// SDXL UNet matmuls at 1024² batch 2, dense and with half the tokens merged (bench/unet-matmul.ts),
// and the FLUX shapes of docs/kernels/matmul.md.
const UNET_SHAPES: [number, number, number][] = [
  ...[8192, 4096].flatMap((M): [number, number, number][] => [
    [M, 1920, 640],
    [M, 640, 640],
    [M, 5120, 640],
    [M, 640, 2560],
  ]),
  ...[2048, 1024].flatMap((M): [number, number, number][] => [
    [M, 3840, 1280],
    [M, 1280, 1280],
    [M, 10240, 1280],
    [M, 1280, 5120],
  ]),
  [154, 1280, 2048],
  [154, 2560, 2048],
  [8192, 640, 320],
  [2048, 1280, 2560],
  [32768, 320, 960],
];
const FLUX_SHAPES: [number, number, number][] = [
  [4608, 9216, 3072],
  [4608, 3072, 3072],
  [4608, 12288, 3072],
  [4608, 3072, 12288],
  [4608, 3072, 15360],
  [16896, 12288, 3072],
  [16896, 3072, 15360],
  [4096, 4096, 4096],
];
const tileCount = (M: number, N: number, c: SgmMatmulConfig) => Math.ceil(M / c.BM) * Math.ceil(N / c.BN);

describe('sgmMatmulConfigFor (tile choice per shape)', () => {
  // WebGPU's default of 256 invocations and the H100's 48 KiB of workgroup memory.
  const h100Like = {
    caps: { limits: { maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupStorageSize: 49152 } },
  };
  it('picks a valid configuration for every UNet and FLUX shape and for odd ones', () => {
    const odd: [number, number, number][] = [
      [1, 1, 1],
      [63, 5, 7],
      [64, 1, 1],
      [65, 129, 17],
      [200, 300, 136],
      [2047, 1279, 1281],
    ];
    for (const [M, N, K] of [...UNET_SHAPES, ...FLUX_SHAPES, ...odd]) {
      const c = sgmMatmulConfigFor(M, N, K);
      assert.doesNotThrow(() => checkSgmConfig(h100Like as unknown as GpuBackend, c), `M=${M} N=${N} K=${K}`);
      if (gpu?.paths.matmul === 'subgroup-matrix') checkSgmConfig(gpu, c);
    }
  });
  it('keeps the measured default on every FLUX shape', () => {
    for (const [M, N, K] of FLUX_SHAPES) assert.deepEqual(sgmMatmulConfigFor(M, N, K), SGM_MATMUL_DEFAULT);
  });
  it('gives under-filled UNet shapes more workgroups, never fewer anywhere', () => {
    for (const [M, N, K] of UNET_SHAPES) {
      const c = sgmMatmulConfigFor(M, N, K);
      const base = tileCount(M, N, SGM_MATMUL_DEFAULT);
      const got = tileCount(M, N, c);
      assert.ok(got >= base, `M=${M} N=${N}: ${got} < ${base} workgroups`);
      if (base < SGM_WORKGROUP_TARGET) assert.ok(got > base, `M=${M} N=${N} still has ${got} workgroups`);
      else assert.deepEqual(c, SGM_MATMUL_DEFAULT, `M=${M} N=${N} changed with ${base} workgroups`);
    }
    // level 2 of the UNet: 160 tiles of 128x128 become 320 of 64x128
    assert.deepEqual(sgmMatmulConfigFor(2048, 1280, 1280), {
      ...SGM_MATMUL_DEFAULT,
      BM: 64,
      BN: 128,
      BK: 32,
    });
  });
});

describe('tensor-core matmul (f16) vs CPU reference', { skip: noSgm }, () => {
  // M=1, odd M/N, K not a multiple of 8 / 16 / 64, more than one tile in every direction.
  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [1, 64, 64],
    [77, 130, 72],
    [130, 70, 17],
    [33, 300, 40],
    [129, 257, 200],
    [300, 520, 96],
  ];
  for (const [M, N, K] of shapes) {
    it(`default path M=${M} N=${N} K=${K}`, async () => {
      const r = rng();
      const [xc, xg] = pair(gpu!, r.normals(M * K), [M, K], 'f16');
      const [wc, wg] = pair(gpu!, r.normals(N * K, 1 / Math.sqrt(K)), [N, K], 'f16');
      const want = await cpu.matmul(xc, wc).read();
      const got = await gpu!.matmul(xg, wg).read();
      assertClose(got, want, TOL.f16, 'matmul');
    });
  }
  for (const act of ['gelu', 'gelu_tanh', 'silu'] as Activation[]) {
    it(`fused epilogue bias+${act}+gate+residual, batched rows, odd sizes`, async () => {
      const r = rng();
      const B = 3;
      const L = 45;
      const K = 88;
      const N = 131;
      const [xc, xg] = pair(gpu!, r.normals(B * L * K), [B, L, K], 'f16');
      const [wc, wg] = pair(gpu!, r.normals(N * K, 0.3), [N, K], 'f16');
      const [bc, bg] = pair(gpu!, r.normals(N), [N], 'f16');
      const [gc, gg] = pair(gpu!, r.normals(B * N), [B, N], 'f16');
      const [rc, rg] = pair(gpu!, r.normals(B * L * N), [B, L, N], 'f16');
      const want = await cpu.matmul(xc, wc, { bias: bc, activation: act, gate: gc, residual: rc }).read();
      const got = await gpu!.matmul(xg, wg, { bias: bg, activation: act, gate: gg, residual: rg }).read();
      assertClose(got, want, TOL.f16, `matmul+${act}`);
    });
  }
  it('gate read as a chunk of a wider table (gateColumn), odd sizes', async () => {
    const r = rng();
    const [B, L, K, N, W, col] = [2, 70, 88, 131, 6 * 131, 5 * 131];
    const [xc, xg] = pair(gpu!, r.normals(B * L * K), [B, L, K], 'f16');
    const [wc, wg] = pair(gpu!, r.normals(N * K, 0.3), [N, K], 'f16');
    const [tc, tg] = pair(gpu!, r.normals(B * W), [B, W], 'f16');
    const [bc, bg] = pair(gpu!, r.normals(N), [N], 'f16');
    const want = await cpu.matmul(xc, wc, { bias: bc, gate: tc, gateColumn: col }).read();
    const got = await gpu!.matmul(xg, wg, { bias: bg, gate: tg, gateColumn: col }).read();
    assertClose(got, want, TOL.f16, 'matmul with gateColumn');
  });
  for (const cfg of SGM_MATMUL_CONFIGS) {
    const name = `${cfg.BM}x${cfg.BN} BK${cfg.BK} stages${cfg.STAGES}${cfg.PREFETCH ? ' prefetch' : ''}`;
    it(`tile configuration ${name} (${sgmMatmulSharedBytes(cfg)} B shared) on ragged shapes`, async () => {
      for (const [M, N, K] of [
        [200, 300, 136],
        [257, 129, 50],
      ] as [number, number, number][]) {
        const r = rng();
        const [xc, xg] = pair(gpu!, r.normals(M * K), [M, K], 'f16');
        const [wc, wg] = pair(gpu!, r.normals(N * K, 1 / Math.sqrt(K)), [N, K], 'f16');
        const [bc, bg] = pair(gpu!, r.normals(N), [N], 'f16');
        const want = await cpu.matmul(xc, wc, { bias: bc, activation: 'silu' }).read();
        const got = await matmulSubgroupMatrix(
          gpu!,
          xg,
          wg,
          { bias: bg, activation: 'silu' },
          M,
          N,
          K,
          [M, N],
          cfg,
        ).read();
        assertClose(got, want, TOL.f16, `${name} M=${M} N=${N} K=${K}`);
      }
    });
  }
  // Small-M products on Backend.matmul's path (the default tile; the rule's own picks are timed in
  // bench/unet-matmul.ts and were not faster on the H100, docs/kernels/matmul-tiles.md).
  for (const [M, N, K, small] of [
    [154, 330, 200, true],
    [77, 1030, 264, true],
    [300, 129, 72, true],
    [2053, 2048, 40, false],
  ] as [number, number, number, boolean][]) {
    it(`default path with the chosen tile: M=${M} N=${N} K=${K}`, async () => {
      const chosen = sgmMatmulConfigFor(M, N, K);
      assert.equal(chosen.BM * chosen.BN < SGM_MATMUL_DEFAULT.BM * SGM_MATMUL_DEFAULT.BN, small);
      const r = rng();
      const [xc, xg] = pair(gpu!, r.normals(M * K), [M, K], 'f16');
      const [wc, wg] = pair(gpu!, r.normals(N * K, 1 / Math.sqrt(K)), [N, K], 'f16');
      const [bc, bg] = pair(gpu!, r.normals(N), [N], 'f16');
      const [rc, rg] = pair(gpu!, r.normals(M * N), [M, N], 'f16');
      const want = await cpu.matmul(xc, wc, { bias: bc, residual: rc }).read();
      const got = await gpu!.matmul(xg, wg, { bias: bg, residual: rg }).read();
      assertClose(got, want, TOL.f16, `matmul M=${M} N=${N} K=${K}`);
    });
  }
  it('the SIMT fallback stays correct for f16 on the same adapter', async () => {
    const simt = new GpuBackend(gpu!.gpu, { matmul: 'simt' });
    assert.equal(simt.paths.matmul, 'simt');
    const r = rng();
    const [M, N, K] = [70, 45, 37];
    const x = r.normals(M * K);
    const w = r.normals(N * K, 0.3);
    const want = await cpu.matmul(cpu.tensor(x, [M, K], 'f16'), cpu.tensor(w, [N, K], 'f16')).read();
    const got = await simt.matmul(simt.tensor(x, [M, K], 'f16'), simt.tensor(w, [N, K], 'f16')).read();
    assertClose(got, want, TOL.f16, 'simt f16 matmul');
    simt.rt.destroy();
  });
});
