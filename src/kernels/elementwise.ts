// Launchers for elementwise kernels: unary activation/scale, add/mul, casts, seeded random fill.
import type { Activation } from '../backend.js';
import type { GpuBackend } from '../gpu/backend.js';
import { grid1d } from '../gpu/runtime.js';
import type { DType, Tensor } from '../tensor.js';
import type { Shape } from '../util/shape.js';

const ACT = { none: 0, gelu_tanh: 1, silu: 2, gelu: 3 } as const;

export function unary(be: GpuBackend, x: Tensor, act: Activation, s: number): Tensor {
  const y = be.alloc(x.shape, x.dtype);
  be.rt.launch({
    shader: 'unary',
    params: { T: x.dtype, F16: x.dtype === 'f16', ACT: ACT[act] },
    uniforms: [x.size, { f: s }],
    buffers: [be.buf(x), be.buf(y)],
    grid: grid1d(Math.ceil(x.size / 256)),
  });
  return y;
}

export function binary(be: GpuBackend, op: 'add' | 'mul', a: Tensor, b: Tensor): Tensor {
  const y = be.alloc(a.shape, a.dtype);
  be.rt.launch({
    shader: 'binary',
    params: { T: a.dtype, F16: a.dtype === 'f16', MUL: op === 'mul' },
    uniforms: [a.size],
    buffers: [be.buf(a), be.buf(b), be.buf(y)],
    grid: grid1d(Math.ceil(a.size / 256)),
  });
  return y;
}

export function cast(be: GpuBackend, x: Tensor, dtype: DType): Tensor {
  const y = be.alloc(x.shape, dtype);
  if (x.dtype === dtype) {
    be.rt.copy(be.buf(x), 0, be.buf(y), 0, be.rt.byteSize(be.buf(x)));
    return y;
  }
  be.rt.launch({
    shader: 'cast',
    params: { SRC: x.dtype, DST: dtype, F16: true },
    uniforms: [x.size],
    buffers: [be.buf(x), be.buf(y)],
    grid: grid1d(Math.ceil(x.size / 256)),
  });
  return y;
}

export function random(
  be: GpuBackend,
  shape: Shape,
  dtype: DType,
  seed: number,
  mean: number,
  std: number,
): Tensor {
  const y = be.alloc(shape, dtype);
  be.rt.launch({
    shader: 'random',
    params: { T: dtype, F16: dtype === 'f16' },
    uniforms: [y.size, seed, { f: mean }, { f: std }],
    buffers: [be.buf(y)],
    grid: grid1d(Math.ceil(y.size / 256)),
  });
  return y;
}
