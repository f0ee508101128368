// Launchers for matmul() with a weight in a ggml block format (QuantizedMatrix), and for
// dequantizing one on the device. Two ways to multiply (docs/kernels/matmul-quant.md):
//   'fused'       the matmul kernels themselves decode the weight tile as they stage it
//                 (tensor cores for f16 x where the adapter has subgroup matrices, else SIMT);
//   'dequantize'  decode the whole matrix into a dense scratch tensor of x's dtype, then the
//                 ordinary dense matmul (the scratch goes back to the pool at once).
import type { MatmulOptions } from '../backend.js';
import type { GpuBackend } from '../gpu/backend.js';
import { grid1d } from '../gpu/runtime.js';
import type { QuantizedMatrix } from '../quant/quantized-matrix.js';
import type { DType, Tensor } from '../tensor.js';
import type { Shape } from '../util/shape.js';
import { matmul, matmulSimt, matmulSubgroupMatrix } from './matmul.js';

export type QuantMatmulStrategy = 'fused' | 'dequantize';

/**
 * The strategy matmul() uses on a QuantizedMatrix. Measured on the H100 (docs/kernels/matmul-quant.md,
 * 2026-12-06): on FLUX.1-dev's linear shapes at 1024², decoding into a scratch matrix then the
 * tensor-core kernel runs at 0.95-0.96x of dense f16; the fused tile decode at 0.13-0.19x.
 */
export const QUANT_MATMUL_DEFAULT: QuantMatmulStrategy = 'dequantize';

function checkBlocks(w: QuantizedMatrix, K: number, what: string): void {
  if (K % w.blockSize !== 0 || w.shape[1] !== K) {
    throw new RangeError(
      `${what}: a ${w.type} weight needs K a multiple of its ${w.blockSize}-element blocks and equal to the weight's K=${w.shape[1]}; got K=${K}`,
    );
  }
}

export function matmulQuant(
  be: GpuBackend,
  x: Tensor,
  w: QuantizedMatrix,
  o: MatmulOptions,
  M: number,
  N: number,
  K: number,
  outShape: Shape,
  strategy: QuantMatmulStrategy = QUANT_MATMUL_DEFAULT,
): Tensor {
  checkBlocks(w, K, 'matmul');
  if (x.dtype !== 'f32' && x.dtype !== 'f16')
    throw new TypeError(`matmul: x must be f32 or f16, got ${x.dtype}`);
  if (strategy === 'dequantize') {
    const dense = dequantizeOnDevice(be, w, x.dtype);
    const y = matmul(be, x, dense, o, M, N, K, outShape);
    dense.dispose(); // in order on the queue: the pool hands it out again only to later launches
    return y;
  }
  if (be.paths.matmul === 'subgroup-matrix' && x.dtype === 'f16') {
    return matmulSubgroupMatrix(be, x, w, o, M, N, K, outShape);
  }
  return matmulSimt(be, x, w, o, M, N, K, outShape);
}

/**
 * The dense [N, K] matrix of a QuantizedMatrix, decoded on the device: in f32 the same values as the
 * CPU's dequantize() (the reference's arithmetic, in its order), in f16 their rounding.
 */
export function dequantizeOnDevice(be: GpuBackend, w: QuantizedMatrix, dtype: DType): Tensor {
  if (dtype !== 'f32' && dtype !== 'f16')
    throw new TypeError(`dequantize: dtype must be f32 or f16, got ${dtype}`);
  if (w.data.backend !== be) throw new Error(`dequantize: ${w} is not on this backend`);
  const [N, K] = w.shape;
  checkBlocks(w, K, 'dequantize');
  const y = be.alloc([N, K], dtype);
  const groups = (N * K) / 8;
  if (groups === 0) return y;
  be.rt.launch({
    shader: 'dequant',
    params: { T: dtype, F16: dtype === 'f16', QUANT: w.type },
    uniforms: [K, groups],
    buffers: [be.buf(w.data), be.buf(y)],
    grid: grid1d(Math.ceil(groups / 256), be.caps.limits.maxComputeWorkgroupsPerDimension ?? 65535),
    category: 'linear',
  });
  return y;
}
