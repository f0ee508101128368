// Launcher for y = act(x · wᵀ + bias) * gate + residual.
import type { MatmulOptions } from '../backend.js';
import type { GpuBackend } from '../gpu/backend.js';
import type { Tensor } from '../tensor.js';
import type { Shape } from '../util/shape.js';

const ACT = { none: 0, gelu_tanh: 1, silu: 2 } as const;

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
  const y = be.alloc(outShape, x.dtype);
  const params = {
    T: x.dtype,
    F16: x.dtype === 'f16',
    ACT: ACT[o.activation ?? 'none'],
    BIAS: !!o.bias,
    GATE: !!o.gate,
    RESIDUAL: !!o.residual,
  };
  be.rt.launch({
    shader: 'matmul_simt',
    params,
    uniforms: [M, N, K, o.gate ? M / o.gate.dim(0) : 1],
    buffers: [
      be.buf(x),
      be.buf(w),
      be.buf(y),
      o.bias && be.buf(o.bias),
      o.gate && be.buf(o.gate),
      o.residual && be.buf(o.residual),
    ],
    grid: [Math.ceil(N / 64), Math.ceil(M / 64)],
    category: 'linear',
  });
  return y;
}
