// Launcher for the implicit-GEMM 2-D convolution, channels-last. f16 tensors on adapters with
// subgroup matrices take the tensor-core kernel (conv2d_sgm.wgsl) where its shape conditions hold
// (sgmConvUsable); everything else the SIMT kernel (conv2d.wgsl). docs/kernels/conv2d.md.
import { type Conv2dOptions, convPadding, convPadRows } from '../backend.js';
import type { GpuBackend } from '../gpu/backend.js';
import { grid1d } from '../gpu/runtime.js';
import type { Tensor } from '../tensor.js';
import type { Shape } from '../util/shape.js';
import { checkSgmConfig, type SgmMatmulConfig } from './matmul.js';

/** Tile configuration of the tensor-core convolution: matmul_sgm's (see SgmMatmulConfig). */
export type SgmConvConfig = SgmMatmulConfig;

/** matmul_sgm's fastest configuration on the H100 (docs/kernels/matmul.md); conv2d.md for conv. */
export const SGM_CONV_DEFAULT: SgmConvConfig = {
  BM: 128,
  BN: 128,
  BK: 64,
  STAGES: 1,
  PREFETCH: true,
  GROUP: 8,
};

/**
 * The tile configuration for an output of Ho x Wo pixels, measured on the H100 over the SDXL UNet's 3x3
 * shapes at 1024², batch 2 (docs/bench/sdxl/h100-2026-12-06-call1-conv-bench.json, conv2d.md): BK 32
 * beats 64 everywhere (24.2 vs 31.3 ms per UNet forward); 128x128 wins at 128² outputs (6.11 vs
 * 6.38 ms), 128x256 at 64² and below (7.80 vs 8.47, 9.14 vs 10.12 ms).
 */
export function sgmConvConfigFor(Ho: number, Wo: number): SgmConvConfig {
  const wide = Ho * Wo < 128 * 128;
  return { ...SGM_CONV_DEFAULT, BK: 32, BN: wide ? 256 : 128 };
}

/** Workgroup memory conv2d_sgm needs besides matmul_sgm's tiles: one (b, oy|ox) per tile row. */
const rowInfoBytes = (c: SgmConvConfig) => c.BM * 8;

/**
 * Whether the tensor-core kernel takes this convolution on `be`: f16, the subgroup-matrix path, input
 * channels a multiple of 8 (16-byte loads of 8 channels of one pixel), and output sides that fit the
 * 16 bits the kernel packs them into.
 */
export function sgmConvUsable(be: GpuBackend, x: Tensor, outShape: Shape): boolean {
  const Cin = x.dim(3);
  return (
    be.paths.conv2d === 'subgroup-matrix' &&
    x.dtype === 'f16' &&
    Cin % 8 === 0 &&
    Cin > 0 &&
    outShape[1]! < 65536 &&
    outShape[2]! < 65536
  );
}

export function conv2d(be: GpuBackend, x: Tensor, w: Tensor, o: Conv2dOptions, outShape: Shape): Tensor {
  if (isPointwise(w, o)) return pointwiseAsMatmul(be, x, w, o, outShape);
  if (sgmConvUsable(be, x, outShape)) return conv2dSubgroupMatrix(be, x, w, o, outShape);
  return conv2dSimt(be, x, w, o, outShape);
}

/**
 * A 1x1 convolution at stride 1 without upsampling, band rows or ReLU is a matmul of the pixels by the
 * weight [Cout, Cin]: on the H100 matmul_sgm runs the UNet's 1x1 shortcuts in 0.98 ms per forward
 * against 1.73 ms for the implicit-GEMM convolution (call-1 conv bench, "matmul_sgm as GEMM").
 */
function isPointwise(w: Tensor, o: Conv2dOptions): boolean {
  return (
    w.dim(1) === 1 && w.dim(2) === 1 && (o.stride ?? 1) === 1 && !o.upsample && !o.top && !o.bottom && !o.relu
  );
}

function pointwiseAsMatmul(be: GpuBackend, x: Tensor, w: Tensor, o: Conv2dOptions, outShape: Shape): Tensor {
  const [B, H, W, Cin] = x.shape as [number, number, number, number];
  const Cout = w.dim(0);
  return be.tidy(() => {
    const y = be.matmul(be.reshape(x, [B * H * W, Cin]), be.reshape(w, [Cout, Cin]), {
      bias: o.bias,
      residual: o.residual && be.reshape(o.residual, [B * H * W, Cout]),
    });
    return be.reshape(y, outShape);
  });
}

/** The (M, N, K) of the implicit GEMM and the uniforms both kernels start with. */
function gemmShape(x: Tensor, w: Tensor, o: Conv2dOptions, outShape: Shape) {
  const [B, H, W, Cin] = x.shape as [number, number, number, number];
  const [Cout, KH, KW] = w.shape as [number, number, number, number];
  const [, Ho, Wo] = outShape as [number, number, number, number];
  const up: 1 | 2 = o.upsample ? 2 : 1;
  const pad = convPadding(KH, KW, o.padding);
  const M = B * Ho * Wo;
  const K = KH * KW * Cin;
  const uniforms = [
    M,
    Cout,
    K,
    H,
    W,
    Cin,
    KW,
    Ho,
    Wo,
    { i: pad.h.before },
    { i: pad.w.before },
    { i: convPadRows(KH, up) },
  ];
  return { M, N: Cout, K, Cin, up, uniforms };
}

function epilogueParams(o: Conv2dOptions) {
  return {
    STRIDE: o.stride ?? 1,
    BIAS: !!o.bias,
    RESIDUAL: !!o.residual,
    RELU: !!o.relu,
    TOP: !!o.top,
    BOTTOM: !!o.bottom,
  };
}

function buffers(be: GpuBackend, x: Tensor, w: Tensor, y: Tensor, o: Conv2dOptions) {
  return [
    be.buf(x),
    be.buf(w),
    be.buf(y),
    o.bias && be.buf(o.bias),
    o.residual && be.buf(o.residual),
    o.top && be.buf(o.top),
    o.bottom && be.buf(o.bottom),
  ];
}

/** The SIMT kernel (any dtype, any shape). */
export function conv2dSimt(be: GpuBackend, x: Tensor, w: Tensor, o: Conv2dOptions, outShape: Shape): Tensor {
  const g = gemmShape(x, w, o, outShape);
  const y = be.alloc(outShape, x.dtype);
  be.rt.launch({
    shader: 'conv2d',
    params: { T: x.dtype, F16: x.dtype === 'f16', UP: g.up, ...epilogueParams(o) },
    uniforms: g.uniforms,
    buffers: buffers(be, x, w, y, o),
    grid: [Math.ceil(g.N / 64), Math.ceil(g.M / 64)],
    category: 'linear',
  });
  return y;
}

export interface SgmConvOptions {
  /** Tile configuration (benchmarks, tests); default SGM_CONV_DEFAULT. */
  cfg?: SgmConvConfig;
  /**
   * Run the same kernel with the tensor-core multiply emulated by scalar f32 FMAs, on f32 tensors
   * (rounded to f16 as they are staged): tests its gather, staging and epilogue on adapters without
   * subgroup matrices or f16. Slow; not a production path.
   */
  emulate?: boolean;
}

/** The tensor-core kernel (f16; with `emulate`, f32 on any adapter). Any Cin >= 1. */
export function conv2dSubgroupMatrix(
  be: GpuBackend,
  x: Tensor,
  w: Tensor,
  o: Conv2dOptions,
  outShape: Shape,
  opts: SgmConvOptions = {},
): Tensor {
  const emulate = !!opts.emulate;
  const want = emulate ? 'f32' : 'f16';
  if (x.dtype !== want)
    throw new TypeError(
      `conv2d_sgm: needs ${want} tensors${emulate ? ' when emulated' : ''}, got ${x.dtype}`,
    );
  if (!emulate && !be.caps.subgroupMatrix)
    throw new Error('conv2d_sgm: this adapter has no subgroup matrices (emulate: true runs without them)');
  const [, Ho0, Wo0] = outShape as [number, number, number, number];
  const cfg = opts.cfg ?? sgmConvConfigFor(Ho0, Wo0);
  checkSgmConfig(be, cfg, 'conv2d_sgm', rowInfoBytes(cfg));
  const [, Ho, Wo] = outShape as [number, number, number, number];
  if (Ho >= 65536 || Wo >= 65536)
    throw new RangeError(`conv2d_sgm: output ${Ho}x${Wo} exceeds the 65535 per side it packs into 16 bits`);
  const g = gemmShape(x, w, o, outShape);
  if (g.Cin === 0) throw new RangeError('conv2d_sgm: needs at least one input channel');
  const y = be.alloc(outShape, x.dtype);
  if (g.M === 0 || g.N === 0) return y;
  const tilesM = Math.ceil(g.M / cfg.BM);
  const tilesN = Math.ceil(g.N / cfg.BN);
  be.rt.launch({
    shader: 'conv2d_sgm',
    params: {
      SGM: !emulate,
      T: x.dtype,
      // 16-byte loads of 8 channels of one pixel, and of 8 weights, need Cin % 8 == 0.
      VEC: g.Cin % 8 === 0,
      UP: g.up,
      ...epilogueParams(o),
      BM: cfg.BM,
      BN: cfg.BN,
      BK: cfg.BK,
      STAGES: cfg.STAGES,
      PREFETCH: cfg.PREFETCH,
      GROUP: cfg.GROUP,
    },
    uniforms: [...g.uniforms, tilesM, tilesN],
    buffers: buffers(be, x, w, y, o),
    grid: grid1d(tilesM * tilesN, be.caps.limits.maxComputeWorkgroupsPerDimension ?? 65535),
    category: 'linear',
  });
  return y;
}
