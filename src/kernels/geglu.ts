// Launcher for GEGLU (geglu.wgsl): [..., 2n] -> [..., n].
import type { GpuBackend } from '../gpu/backend.js';
import { grid1d } from '../gpu/runtime.js';
import type { Tensor } from '../tensor.js';

export function geglu(be: GpuBackend, x: Tensor): Tensor {
  const n = x.dim(-1) / 2;
  const y = be.alloc([...x.shape.slice(0, -1), n], x.dtype);
  if (y.size === 0) return y;
  be.rt.launch({
    shader: 'geglu',
    params: { T: x.dtype, F16: x.dtype === 'f16' },
    uniforms: [y.size, n],
    buffers: [be.buf(x), be.buf(y)],
    grid: grid1d(Math.ceil(y.size / 256)),
  });
  return y;
}
