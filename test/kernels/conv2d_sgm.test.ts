// The tensor-core convolution (conv2d_sgm.wgsl) against the CPU reference, on fresh random inputs
// with odd sizes; outputs are poisoned with NaN first (test/helpers.ts), so an output the kernel
// misses fails.
// - Emulated multiply (any adapter, SwiftShader in CI): the same kernel with the subgroup-matrix
//   multiply replaced by scalar f32 FMAs over the same staged f16 tiles, so its gather (padding,
//   stride 2, fused upsampling, band rows, both load paths), staging and epilogue run here.
// - Tensor cores (f16): only on adapters with an f16 16x16x16 subgroup-matrix config (the H100);
//   skipped elsewhere, where the tensor-core variants are at least compiled on Dawn's null backend.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Conv2dOptions, convPadRows } from '../../src/backend.js';
import { GpuBackend } from '../../src/gpu/backend.js';
import { specialize } from '../../src/gpu/shader.js';
import {
  conv2dSubgroupMatrix,
  SGM_CONV_DEFAULT,
  type SgmConvConfig,
  sgmConvUsable,
} from '../../src/kernels/conv2d.js';
import { checkSgmConfig } from '../../src/kernels/matmul.js';
import type { Tensor } from '../../src/tensor.js';
import { roundToF16 } from '../../src/util/f16.js';
import { assertClose, cpu, gpu, noGpu, rng, TOL } from '../helpers.js';
import { assertCompiles, nullDevice } from '../null-device.js';

const noSgm = !gpu
  ? 'no WebGPU adapter'
  : gpu.paths.conv2d !== 'subgroup-matrix'
    ? 'adapter lacks f16 subgroup matrices'
    : false;

interface Case {
  B: number;
  H: number;
  W: number;
  Cin: number;
  Cout: number;
  K: number;
  stride?: 1 | 2;
  padding?: { before: number; after: number };
  upsample?: boolean;
  /** Input rows above and below x from other tensors (band rows). */
  bands?: boolean;
  bias?: boolean;
  residual?: boolean;
  relu?: boolean;
}

// Cin a multiple of 8 (16-byte loads) and not; Cout not a multiple of 16 or 64; odd H and W; 1x1,
// 3x3 and 5x5; stride 2 with same and one-sided padding; fused upsampling with and without band rows;
// K spanning many slices (576: 18-36 slices); M, N and K ragged against every tile size. The
// emulated kernel compiles slowly on SwiftShader (1-6 s a variant), so options share cases.
const CASES: Case[] = [
  { B: 1, H: 1, W: 1, Cin: 8, Cout: 1, K: 1 },
  { B: 2, H: 9, W: 7, Cin: 64, Cout: 20, K: 3, bias: true, residual: true, relu: true },
  { B: 1, H: 7, W: 5, Cin: 12, Cout: 70, K: 3, bias: true, relu: true },
  { B: 1, H: 11, W: 13, Cin: 24, Cout: 67, K: 1, bias: true },
  { B: 2, H: 5, W: 3, Cin: 5, Cout: 9, K: 1, stride: 2, residual: true },
  { B: 2, H: 9, W: 11, Cin: 16, Cout: 33, K: 3, stride: 2, bias: true, residual: true },
  { B: 1, H: 8, W: 11, Cin: 8, Cout: 17, K: 3, stride: 2, padding: { before: 0, after: 1 }, bias: true },
  { B: 2, H: 5, W: 6, Cin: 8, Cout: 17, K: 3, upsample: true, bands: true, bias: true, residual: true },
  { B: 1, H: 4, W: 5, Cin: 3, Cout: 21, K: 3, upsample: true, bias: true },
  { B: 1, H: 7, W: 6, Cin: 8, Cout: 19, K: 5, bands: true, bias: true, relu: true },
];

const caseName = (c: Case) =>
  `B=${c.B} ${c.H}x${c.W} ${c.Cin}->${c.Cout} k=${c.K}` +
  `${c.stride === 2 ? ' stride 2' : ''}${c.padding ? ` pad ${c.padding.before}/${c.padding.after}` : ''}` +
  `${c.upsample ? ' upsample' : ''}${c.bands ? ' bands' : ''}${c.bias ? ' bias' : ''}` +
  `${c.residual ? ' residual' : ''}${c.relu ? ' relu' : ''}`;

/** Random inputs of a case, rounded to f16 (the emulation stages f32 inputs as f16). */
function inputs(c: Case) {
  const r = rng();
  const { B, H, W, Cin, Cout, K } = c;
  const p = convPadRows(K, c.upsample ? 2 : 1);
  const f16 = (n: number, std = 1) => roundToF16(r.normals(n, std));
  return {
    x: f16(B * H * W * Cin),
    w: f16(Cout * K * K * Cin, 1 / Math.sqrt(K * K * Cin)),
    bias: c.bias ? f16(Cout) : undefined,
    top: c.bands && p > 0 ? f16(B * p * W * Cin) : undefined,
    bottom: c.bands && p > 0 ? f16(B * p * W * Cin) : undefined,
    p,
    rng: r,
  };
}

/** The case on the CPU reference and as the same tensors on `be` (the residual drawn to the output's shape). */
function build(be: GpuBackend, c: Case, dtype: 'f32' | 'f16') {
  const d = inputs(c);
  const { B, H, W, Cin, Cout, K } = c;
  const mk = (b: GpuBackend | typeof cpu, dt: 'f32' | 'f16') => {
    const t = (data: Float32Array | undefined, shape: number[]) => data && b.tensor(data, shape, dt);
    return {
      x: t(d.x, [B, H, W, Cin])!,
      w: t(d.w, [Cout, K, K, Cin])!,
      o: {
        bias: t(d.bias, [Cout]),
        top: t(d.top, [B, d.p, W, Cin]),
        bottom: t(d.bottom, [B, d.p, W, Cin]),
        stride: c.stride,
        padding: c.padding,
        upsample: c.upsample,
        relu: c.relu,
      } as Conv2dOptions,
    };
  };
  const ref = mk(cpu, 'f32');
  const dev = mk(be, dtype);
  const outShape = cpu.conv2d(ref.x, ref.w, { ...ref.o, relu: false }).shape;
  if (c.residual) {
    const res = roundToF16(d.rng.normals(outShape.reduce((a, b) => a * b, 1)));
    ref.o.residual = cpu.tensor(res, outShape);
    dev.o.residual = be.tensor(res, outShape, dtype);
  }
  return { ref, dev, outShape };
}

/** Tile configurations the benchmarks may pick; each must compute the same function. */
const CONFIGS: SgmConvConfig[] = [
  SGM_CONV_DEFAULT,
  { BM: 256, BN: 64, BK: 64, STAGES: 1, PREFETCH: true, GROUP: 8 },
  { BM: 128, BN: 128, BK: 32, STAGES: 1, PREFETCH: true, GROUP: 8 },
  { BM: 128, BN: 256, BK: 32, STAGES: 1, PREFETCH: true, GROUP: 8 },
  { BM: 256, BN: 128, BK: 32, STAGES: 1, PREFETCH: true, GROUP: 8 },
  { BM: 128, BN: 64, BK: 32, STAGES: 1, PREFETCH: true, GROUP: 4 },
  { BM: 64, BN: 64, BK: 32, STAGES: 1, PREFETCH: false, GROUP: 8 },
  { BM: 64, BN: 64, BK: 16, STAGES: 2, PREFETCH: true, GROUP: 8 },
];
/** bench/conv.ts --small-tiles (tools/device/unet-tiles.sh); kept out of the emulated rotation above. */
const SMALL_TILE_CONFIGS: SgmConvConfig[] = [
  { BM: 64, BN: 128, BK: 32, STAGES: 1, PREFETCH: true, GROUP: 8 },
  { BM: 128, BN: 64, BK: 32, STAGES: 1, PREFETCH: true, GROUP: 8 },
  { BM: 64, BN: 256, BK: 32, STAGES: 1, PREFETCH: true, GROUP: 8 },
  { BM: 64, BN: 128, BK: 64, STAGES: 1, PREFETCH: true, GROUP: 8 },
];
const cfgName = (c: SgmConvConfig) =>
  `${c.BM}x${c.BN} BK${c.BK} stages${c.STAGES}${c.PREFETCH ? ' prefetch' : ''} group${c.GROUP}`;

/** The configurations this adapter can run (SwiftShader: 256 invocations, 32 KiB of workgroup memory). */
function fitting(be: GpuBackend): SgmConvConfig[] {
  return CONFIGS.filter((cfg) => {
    try {
      checkSgmConfig(be, cfg, 'conv2d_sgm', cfg.BM * 8);
      return true;
    } catch {
      return false;
    }
  });
}

describe('tensor-core conv2d kernel, multiply emulated (f32 staged as f16) vs CPU reference', {
  skip: noGpu,
}, () => {
  const cfgs = gpu ? fitting(gpu) : [];
  CASES.forEach((c, i) => {
    const cfg = cfgs[i % cfgs.length]!;
    it(`${caseName(c)} (${cfg ? cfgName(cfg) : 'no config fits'})`, async () => {
      assert.ok(cfgs.length >= 3, `only ${cfgs.length} tile configurations fit this adapter`);
      const { ref, dev, outShape } = build(gpu!, c, 'f32');
      const want = await cpu.conv2d(ref.x, ref.w, ref.o).read();
      const y = conv2dSubgroupMatrix(gpu!, dev.x, dev.w, dev.o, outShape, { emulate: true, cfg });
      assert.deepEqual(y.shape, outShape);
      // Inputs are exact in f16, products exact in f32: only the f32 accumulation order differs.
      assertClose(await y.read(), want, 1e-5, caseName(c));
    });
  });
  it('refuses what it cannot run', () => {
    const x = gpu!.zeros([1, 4, 4, 8], 'f32');
    const w = gpu!.zeros([4, 3, 3, 8], 'f32');
    assert.throws(
      () => conv2dSubgroupMatrix(gpu!, x, w, {}, [1, 4, 4, 4], { cfg: { ...SGM_CONV_DEFAULT, BM: 96 } }),
      /needs f16|unsupported tile configuration/,
    );
    assert.throws(
      () =>
        conv2dSubgroupMatrix(gpu!, x, w, {}, [1, 4, 4, 4], {
          emulate: true,
          cfg: { ...SGM_CONV_DEFAULT, BM: 96 },
        }),
      /unsupported tile configuration/,
    );
  });
});

describe('tensor-core conv2d kernel (f16) vs CPU reference', { skip: noSgm }, () => {
  for (const c of CASES) {
    it(`default path ${caseName(c)}`, async () => {
      const { ref, dev, outShape } = build(gpu!, c, 'f16');
      // Cin % 8 == 0 takes the tensor cores, the rest falls back to SIMT.
      assert.equal(sgmConvUsable(gpu!, dev.x, outShape), c.Cin % 8 === 0);
      const want = await cpu.conv2d(ref.x, ref.w, ref.o).read();
      const got = gpu!.conv2d(dev.x, dev.w, dev.o);
      assert.deepEqual(got.shape, outShape);
      assertClose(await got.read(), want, TOL.f16 * 2, caseName(c));
    });
    if (c.Cin % 8 !== 0) {
      it(`scalar-gather kernel (Cin % 8 != 0) ${caseName(c)}`, async () => {
        const { ref, dev, outShape } = build(gpu!, c, 'f16');
        const want = await cpu.conv2d(ref.x, ref.w, ref.o).read();
        const got = conv2dSubgroupMatrix(gpu!, dev.x, dev.w, dev.o, outShape);
        assertClose(await got.read(), want, TOL.f16 * 2, caseName(c));
      });
    }
  }
  it('a UNet-like shape: many tiles in every direction, K over 45 slices', async () => {
    const c: Case = { B: 2, H: 12, W: 11, Cin: 320, Cout: 330, K: 3, bias: true, residual: true };
    const { ref, dev } = build(gpu!, c, 'f16');
    const want = await cpu.conv2d(ref.x, ref.w, ref.o).read();
    assertClose(await gpu!.conv2d(dev.x, dev.w, dev.o).read(), want, TOL.f16 * 2, caseName(c));
  });
  for (const cfg of [...CONFIGS, ...SMALL_TILE_CONFIGS]) {
    it(`tile configuration ${cfgName(cfg)} on ragged shapes`, async () => {
      for (const c of [
        { B: 2, H: 9, W: 13, Cin: 40, Cout: 150, K: 3, bias: true, residual: true },
        { B: 1, H: 10, W: 7, Cin: 24, Cout: 70, K: 3, stride: 2, relu: true },
        { B: 1, H: 5, W: 7, Cin: 16, Cout: 65, K: 3, upsample: true, bands: true },
      ] as Case[]) {
        const { ref, dev, outShape } = build(gpu!, c, 'f16');
        const want = await cpu.conv2d(ref.x, ref.w, ref.o).read();
        const got = conv2dSubgroupMatrix(gpu!, dev.x, dev.w, dev.o, outShape, { cfg });
        assertClose(await got.read(), want, TOL.f16 * 2, `${cfgName(cfg)} ${caseName(c)}`);
      }
    });
  }
  it('the SIMT path stays correct for f16 on the same adapter', async () => {
    const simt = new GpuBackend(gpu!.gpu, { conv2d: 'simt' });
    simt.rt.poison = true;
    assert.equal(simt.paths.conv2d, 'simt');
    const c: Case = { B: 1, H: 7, W: 6, Cin: 16, Cout: 20, K: 3, bias: true, stride: 2 };
    const { ref, dev, outShape } = build(simt, c, 'f16');
    assert.equal(sgmConvUsable(simt, dev.x as Tensor, outShape), false);
    const want = await cpu.conv2d(ref.x, ref.w, ref.o).read();
    assertClose(await simt.conv2d(dev.x, dev.w, dev.o).read(), want, TOL.f16 * 2, 'simt f16 conv2d');
    simt.rt.destroy();
  });
});

const nullDev = await nullDevice();

describe('tensor-core conv2d variants compile (Dawn null backend)', {
  skip: nullDev ? false : 'no null backend with shader-f16 and subgroup matrices',
}, () => {
  // A tile configuration within the null adapter's 16 KiB of workgroup memory (the WGSL is the same).
  const small = { BM: 64, BN: 64, BK: 16, STAGES: 2, PREFETCH: true, GROUP: 8 };
  const options = [
    { UP: 1, STRIDE: 1, BIAS: true, RESIDUAL: true, RELU: false, TOP: false, BOTTOM: false },
    { UP: 1, STRIDE: 2, BIAS: false, RESIDUAL: true, RELU: true, TOP: false, BOTTOM: false },
    { UP: 2, STRIDE: 1, BIAS: true, RESIDUAL: false, RELU: false, TOP: true, BOTTOM: true },
    { UP: 1, STRIDE: 1, BIAS: false, RESIDUAL: false, RELU: true, TOP: true, BOTTOM: false },
  ];
  for (const SGM of [true, false])
    for (const VEC of [true, false])
      for (const [i, o] of options.entries()) {
        const params = { SGM, T: SGM ? 'f16' : 'f32', VEC, ...o, ...small, PREFETCH: i % 2 === 0 };
        it(`conv2d_sgm ${JSON.stringify(params)}`, async () => {
          await assertCompiles(nullDev!, specialize('conv2d_sgm', params), !SGM);
        });
      }
});
