// Launcher for nearest-neighbour 2x upsampling, channels-last (upsample_nearest2x.wgsl).
import type { GpuBackend } from '../gpu/backend.js';
import { grid1d } from '../gpu/runtime.js';
import type { Tensor } from '../tensor.js';

export function upsampleNearest2x(be: GpuBackend, x: Tensor): Tensor {
  const [B, H, W, C] = x.shape as [number, number, number, number];
  const y = be.alloc([B, 2 * H, 2 * W, C], x.dtype);
  be.rt.launch({
    shader: 'upsample_nearest2x',
    params: { T: x.dtype, F16: x.dtype === 'f16' },
    uniforms: [y.size, H, W, C],
    buffers: [be.buf(x), be.buf(y)],
    grid: grid1d(Math.ceil(y.size / 256)),
  });
  return y;
}
