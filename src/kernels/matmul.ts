// Launcher for y = act(x · wᵀ + bias) * gate + residual. f16 tensors on adapters with subgroup
// matrices take the tensor-core kernel (matmul_sgm.wgsl); everything else the SIMT kernel.
// Both kernels also take w as a QuantizedMatrix (ggml blocks, dequantized as the tiles are staged):
// see matmul-quant.ts, which chooses between that and dequantizing first.
import type { MatmulOptions } from '../backend.js';
import type { GpuBackend } from '../gpu/backend.js';
import { grid1d } from '../gpu/runtime.js';
import { QuantizedMatrix } from '../quant/quantized-matrix.js';
import type { Tensor } from '../tensor.js';
import type { Shape } from '../util/shape.js';

const ACT = { none: 0, gelu_tanh: 1, silu: 2, gelu: 3 } as const;

/** Tile configuration of the tensor-core matmul (see matmul_sgm.wgsl and docs/kernels/matmul.md). */
export interface SgmMatmulConfig {
  /** Workgroup tile rows / columns, multiples of 64 (each subgroup computes 64x64). */
  BM: number;
  BN: number;
  /** K per staged slice: 16, 32 or 64. */
  BK: number;
  /** 1: one tile buffer (two barriers per slice); 2: double-buffered (one barrier per slice). */
  STAGES: 1 | 2;
  /** Fetch the next slice into registers before multiplying the current one. */
  PREFETCH: boolean;
  /** Row tiles per group in the grouped tile order. */
  GROUP: number;
}

/** The configuration measured fastest on the H100 (docs/kernels/matmul.md). */
export const SGM_MATMUL_DEFAULT: SgmMatmulConfig = {
  BM: 128,
  BN: 128,
  BK: 64,
  STAGES: 1,
  PREFETCH: true,
  GROUP: 8,
};

/**
 * Workgroups that fill an H100-class card with the default tile: 132 SMs x 2 resident 128-thread
 * workgroups (docs/kernels/matmul.md: two 128x128 workgroups share an SM, one multiplying while the other
 * waits at a barrier). WebGPU exposes no SM count, so this is a fixed target, not a query.
 */
export const SGM_WORKGROUP_TARGET = 264;

/**
 * Half-size tiles tried, in this order, when the default leaves the card under-filled. BK 32: the
 * variants measured (190-204 TFLOP/s on FLUX shapes, matmul.md run 2) and tested on the H100; with
 * BK 64 the 64-thread workgroups would hold 24 prefetched vec4 per thread besides 128 accumulator registers.
 */
const SGM_SMALL_TILES: readonly SgmMatmulConfig[] = [
  { ...SGM_MATMUL_DEFAULT, BM: 64, BN: 128, BK: 32 },
  { ...SGM_MATMUL_DEFAULT, BM: 128, BN: 64, BK: 32 },
];

/**
 * The tile configuration for an M x N (x K) product: the default 128x128 wherever it makes at least
 * `target` workgroups (every FLUX shape of docs/kernels/matmul.md makes 864 or more), otherwise the
 * half-size tile (64x128 or 128x64, BK 32) that makes the most workgroups, the one that pads less on a
 * tie. Small-M UNet products need this: M = 2048, N = 1280 makes only 160 default tiles for 132 SMs.
 * Conservative on purpose (docs/kernels/matmul-tiles.md): half-size tiles ran at 75-80% of the default's
 * speed on large shapes, so they are chosen only where the default leaves SMs idle, and only when they
 * add workgroups; M < 64 (vector-like, bound by reading the weight) keeps the default. K does not enter
 * the rule yet (split-K would use it).
 */
export function sgmMatmulConfigFor(
  M: number,
  N: number,
  _K: number,
  target = SGM_WORKGROUP_TARGET,
): SgmMatmulConfig {
  const tiles = (c: SgmMatmulConfig) => Math.ceil(M / c.BM) * Math.ceil(N / c.BN);
  const padded = (c: SgmMatmulConfig) => tiles(c) * c.BM * c.BN;
  const base = SGM_MATMUL_DEFAULT;
  if (M < 64 || tiles(base) >= target) return base;
  let best = base;
  for (const c of SGM_SMALL_TILES) {
    if (tiles(c) > tiles(best) || (tiles(c) === tiles(best) && best !== base && padded(c) < padded(best)))
      best = c;
  }
  return best;
}

/** Workgroup memory bytes a configuration needs. */
export function sgmMatmulSharedBytes(c: SgmMatmulConfig): number {
  const tiles = c.STAGES * (c.BM + c.BN) * (c.BK + 8) * 2;
  const epilogue = (c.BM / 64) * (c.BN / 64) * 16 * 17 * 16;
  return Math.max(tiles, epilogue);
}

/**
 * Throws unless the adapter can run a tile configuration of a tensor-core GEMM (matmul_sgm and
 * conv2d_sgm share the tiling); `extraBytes` is workgroup memory the kernel needs besides the tiles.
 */
export function checkSgmConfig(
  be: GpuBackend,
  c: SgmMatmulConfig,
  kernel = 'matmul_sgm',
  extraBytes = 0,
): void {
  const threads = (c.BM / 64) * (c.BN / 64) * 32;
  const bad =
    c.BM % 64 !== 0 ||
    c.BN % 64 !== 0 ||
    ![16, 32, 64].includes(c.BK) ||
    ![1, 2].includes(c.STAGES) ||
    threads > (be.caps.limits.maxComputeInvocationsPerWorkgroup ?? 256) ||
    ((c.BM * c.BK) / 8) % threads !== 0 || // every thread fetches whole 16-byte chunks of both tiles
    ((c.BN * c.BK) / 8) % threads !== 0 ||
    !(c.GROUP >= 1);
  if (bad) throw new RangeError(`${kernel}: unsupported tile configuration ${JSON.stringify(c)}`);
  const bytes = sgmMatmulSharedBytes(c) + extraBytes;
  const limit = be.caps.limits.maxComputeWorkgroupStorageSize ?? 16384;
  if (bytes > limit) {
    throw new RangeError(
      `${kernel}: configuration ${JSON.stringify(c)} needs ${bytes} bytes of workgroup memory, the adapter allows ${limit}`,
    );
  }
}

export function matmul(
  be: GpuBackend,
  x: Tensor,
  w: Tensor,
  o: MatmulOptions,
  M: number,
  N: number,
  K: number,
  outShape: Shape,
): Tensor {
  if (be.paths.matmul === 'subgroup-matrix' && x.dtype === 'f16') {
    // The default tile everywhere: on the H100 the occupancy rule (sgmMatmulConfigFor) gave the SDXL
    // UNet's matmuls 56.34 ms per dense forward against the default's 56.22, and 38.97 against 33.35
    // with ToMA's merged shapes (docs/bench/sdxl/h100-2026-12-06-call4-*, docs/kernels/matmul-tiles.md).
    return matmulSubgroupMatrix(be, x, w, o, M, N, K, outShape, SGM_MATMUL_DEFAULT);
  }
  return matmulSimt(be, x, w, o, M, N, K, outShape);
}

function epilogueParams(o: MatmulOptions) {
  return {
    ACT: ACT[o.activation ?? 'none'],
    BIAS: !!o.bias,
    GATE: !!o.gate,
    RESIDUAL: !!o.residual,
  };
}

/** The weight's binding and the QUANT specialization (the ggml type name, or false for dense). */
function weight(be: GpuBackend, w: Tensor | QuantizedMatrix) {
  return w instanceof QuantizedMatrix
    ? { QUANT: w.type, buffer: be.buf(w.data) }
    : { QUANT: false as const, buffer: be.buf(w) };
}

function epilogueBuffers(be: GpuBackend, o: MatmulOptions) {
  return [o.bias && be.buf(o.bias), o.gate && be.buf(o.gate), o.residual && be.buf(o.residual)];
}

export function matmulSimt(
  be: GpuBackend,
  x: Tensor,
  w: Tensor | QuantizedMatrix,
  o: MatmulOptions,
  M: number,
  N: number,
  K: number,
  outShape: Shape,
): Tensor {
  const y = be.alloc(outShape, x.dtype);
  const wb = weight(be, w);
  be.rt.launch({
    shader: 'matmul_simt',
    params: { T: x.dtype, F16: x.dtype === 'f16', QUANT: wb.QUANT, ...epilogueParams(o) },
    uniforms: [M, N, K, o.gate ? M / o.gate.dim(0) : 1, o.gate ? o.gate.dim(1) : N, o.gateColumn ?? 0],
    buffers: [be.buf(x), wb.buffer, be.buf(y), ...epilogueBuffers(be, o)],
    grid: [Math.ceil(N / 64), Math.ceil(M / 64)],
    category: 'linear',
  });
  return y;
}

/**
 * The tensor-core kernel (f16 only). `cfg` is the tile configuration (default SGM_MATMUL_DEFAULT, which
 * Backend.matmul uses; benchmarks and tests pass others).
 */
export function matmulSubgroupMatrix(
  be: GpuBackend,
  x: Tensor,
  w: Tensor | QuantizedMatrix,
  o: MatmulOptions,
  M: number,
  N: number,
  K: number,
  outShape: Shape,
  cfg: SgmMatmulConfig = SGM_MATMUL_DEFAULT,
): Tensor {
  if (x.dtype !== 'f16') throw new TypeError(`matmul_sgm: needs f16 tensors, got ${x.dtype}`);
  checkSgmConfig(be, cfg);
  const y = be.alloc(outShape, 'f16');
  const tilesM = Math.ceil(M / cfg.BM);
  const tilesN = Math.ceil(N / cfg.BN);
  const wb = weight(be, w);
  if (wb.QUANT && K % 8 !== 0) throw new RangeError(`matmul_sgm: a ${wb.QUANT} weight needs K % 8 == 0`);
  be.rt.launch({
    shader: 'matmul_sgm',
    params: {
      QUANT: wb.QUANT,
      ...epilogueParams(o),
      BM: cfg.BM,
      BN: cfg.BN,
      BK: cfg.BK,
      STAGES: cfg.STAGES,
      PREFETCH: cfg.PREFETCH,
      GROUP: cfg.GROUP,
      // 16-byte loads straight from x and w need every row to start 16-byte aligned.
      VEC: K % 8 === 0,
    },
    uniforms: [
      M,
      N,
      K,
      o.gate ? M / o.gate.dim(0) : 1,
      tilesM,
      tilesN,
      o.gate ? o.gate.dim(1) : N,
      o.gateColumn ?? 0,
    ],
    buffers: [be.buf(x), wb.buffer, be.buf(y), ...epilogueBuffers(be, o)],
    grid: grid1d(tilesM * tilesN, be.caps.limits.maxComputeWorkgroupsPerDimension ?? 65535),
    category: 'linear',
  });
  return y;
}
