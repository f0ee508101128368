import type { GpuBackend } from '../gpu/backend.js';
import { grid1d } from '../gpu/runtime.js';
import type { Tensor } from '../tensor.js';

export function rope(be: GpuBackend, x: Tensor, table: Tensor): Tensor {
  const [, H, L, D] = x.shape as [number, number, number, number];
  const y = be.alloc(x.shape, x.dtype);
  const pairs = x.size / 2;
  be.rt.launch({
    shader: 'rope',
    params: { T: x.dtype, F16: x.dtype === 'f16' },
    uniforms: [pairs, H, L, D / 2],
    buffers: [be.buf(x), be.buf(table), be.buf(y)],
    grid: grid1d(Math.ceil(pairs / 256)),
  });
  return y;
}
