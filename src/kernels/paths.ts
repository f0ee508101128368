// Which kernel variant runs on which adapter: decided here, once, from the capabilities.
import type { Capabilities } from '../gpu/device.js';
import { QUANT_MATMUL_DEFAULT } from './matmul-quant.js';

export interface KernelPaths {
  /** Tensor-core matmul through subgroup matrices (f16 inputs), else SIMT. */
  matmul: 'subgroup-matrix' | 'simt';
  /** Flash attention on subgroup matrices (f16 inputs), else SIMT. */
  attention: 'subgroup-matrix' | 'simt';
  /**
   * Implicit-GEMM convolution on subgroup matrices (f16 inputs; shapes conv2d.ts accepts), else SIMT.
   */
  conv2d: 'subgroup-matrix' | 'simt';
  /**
   * A matmul with a block-quantized weight: decode the blocks while staging the tiles ('fused'), or
   * decode the whole matrix into a scratch buffer and run the dense kernel ('dequantize').
   * docs/kernels/matmul-quant.md has the measurements behind the default.
   */
  quantMatmul: 'fused' | 'dequantize';
}

export interface PathOverrides {
  matmul?: KernelPaths['matmul'];
  attention?: KernelPaths['attention'];
  conv2d?: KernelPaths['conv2d'];
  quantMatmul?: KernelPaths['quantMatmul'];
}

export function choosePaths(caps: Capabilities, overrides: PathOverrides = {}): KernelPaths {
  // The tensor-core kernels map query rows and epilogue elements onto 32 lanes per subgroup.
  const sgm16 =
    caps.subgroupMatrix &&
    caps.subgroupMinSize === 32 &&
    caps.subgroupMaxSize === 32 &&
    caps.subgroupMatrixConfigs.some(
      (c) =>
        c.componentType === 'f16' &&
        c.resultComponentType === 'f32' &&
        c.M === 16 &&
        c.N === 16 &&
        c.K === 16,
    );
  const paths: KernelPaths = {
    matmul: sgm16 ? 'subgroup-matrix' : 'simt',
    attention: sgm16 ? 'subgroup-matrix' : 'simt',
    conv2d: sgm16 ? 'subgroup-matrix' : 'simt',
    quantMatmul: QUANT_MATMUL_DEFAULT,
  };
  if (overrides.quantMatmul) paths.quantMatmul = overrides.quantMatmul;
  for (const k of ['matmul', 'attention', 'conv2d'] as const) {
    const o = overrides[k];
    if (o === 'subgroup-matrix' && !sgm16) {
      throw new Error(
        `${k}: the subgroup-matrix path needs the chromium-experimental-subgroup-matrix feature with an f16 16x16x16 config and subgroups of 32, which this adapter lacks`,
      );
    }
    if (o) paths[k] = o;
  }
  return paths;
}
