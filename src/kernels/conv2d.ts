// Launcher for the implicit-GEMM 2-D convolution (conv2d.wgsl), channels-last.
import { type Conv2dOptions, convPadding, convPadRows } from '../backend.js';
import type { GpuBackend } from '../gpu/backend.js';
import type { Tensor } from '../tensor.js';
import type { Shape } from '../util/shape.js';

export function conv2d(be: GpuBackend, x: Tensor, w: Tensor, o: Conv2dOptions, outShape: Shape): Tensor {
  const [B, H, W, Cin] = x.shape as [number, number, number, number];
  const [Cout, KH, KW] = w.shape as [number, number, number, number];
  const up = o.upsample ? 2 : 1;
  const [, Ho, Wo] = outShape as [number, number, number, number];
  const pad = convPadding(KH, KW, o.padding);
  const M = B * Ho * Wo;
  const K = KH * KW * Cin;
  const y = be.alloc(outShape, x.dtype);
  be.rt.launch({
    shader: 'conv2d',
    params: {
      T: x.dtype,
      F16: x.dtype === 'f16',
      UP: up,
      STRIDE: o.stride ?? 1,
      BIAS: !!o.bias,
      RESIDUAL: !!o.residual,
      RELU: !!o.relu,
      TOP: !!o.top,
      BOTTOM: !!o.bottom,
    },
    uniforms: [
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
    ],
    buffers: [
      be.buf(x),
      be.buf(w),
      be.buf(y),
      o.bias && be.buf(o.bias),
      o.residual && be.buf(o.residual),
      o.top && be.buf(o.top),
      o.bottom && be.buf(o.bottom),
    ],
    grid: [Math.ceil(Cout / 64), Math.ceil(M / 64)],
    category: 'linear',
  });
  return y;
}
