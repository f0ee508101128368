// Launcher for the ToDo key/value pooling kernel (todo_pool). Arguments are validated by todoDownsample
// in src/merge/todo.ts.
import type { GpuBackend } from '../gpu/backend.js';
import { grid1d } from '../gpu/runtime.js';
import type { Tensor } from '../tensor.js';

export function todoPoolGpu(
  be: GpuBackend,
  x: Tensor,
  height: number,
  width: number,
  factor: number,
): Tensor {
  const [B, heads, , D] = x.shape as [number, number, number, number];
  const cellsH = Math.ceil(height / factor);
  const cellsW = Math.ceil(width / factor);
  const vec = D % 4 === 0 ? 4 : 1;
  const dv = D / vec;
  const y = be.empty([B, heads, cellsH * cellsW, D], x.dtype);
  const total = B * heads * cellsH * cellsW * dv;
  be.rt.launch({
    shader: 'todo_pool',
    params: {
      F16: x.dtype === 'f16',
      VT: vec === 4 ? `vec4<${x.dtype}>` : x.dtype,
      VF: vec === 4 ? 'vec4<f32>' : 'f32',
    },
    uniforms: [total, height, width, cellsW, cellsH * cellsW, dv, factor],
    buffers: [be.buf(x), be.buf(y)],
    grid: grid1d(Math.ceil(total / 256)),
    category: 'merge',
  });
  return y;
}
