// ToDo operation on any backend (baseline): downsample image keys/values by averaging f x f cells.
// Validates once, then runs the WGSL kernel (GpuBackend) or the CPU reference (src/cpu/todo.ts).
import type { Backend } from '../backend.js';
import { todoCells, todoPoolRef } from '../cpu/todo.js';
import type { GpuBackend } from '../gpu/backend.js';
import { todoPoolGpu } from '../kernels/todo.js';
import type { Tensor } from '../tensor.js';
import { checkTensor, cpuData, implFor } from './check.js';

/** x [B, heads, H*W, D] (image keys or values, raster order) -> [B, heads, ceil(H/f)*ceil(W/f), D]. */
export function todoDownsample(be: Backend, x: Tensor, grid: readonly [number, number], factor = 2): Tensor {
  const [height, width] = grid;
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 1 || width < 1)
    throw new RangeError(`todoDownsample(): grid must be two positive integers, got ${JSON.stringify(grid)}`);
  if (!Number.isInteger(factor) || factor < 1)
    throw new RangeError(`todoDownsample(): factor must be a positive integer, got ${factor}`);
  checkTensor(be, x, 'todoDownsample', 'x', ['f32', 'f16'], [null, null, height * width, null]);
  const [B, heads, , D] = x.shape as [number, number, number, number];
  if (implFor(be, 'todoDownsample') === 'gpu') return todoPoolGpu(be as GpuBackend, x, height, width, factor);
  const [ch, cw] = todoCells(height, width, factor);
  const y = todoPoolRef(cpuData(be, x), B * heads, height, width, D, factor);
  return be.tensor(y, [B, heads, ch * cw, D], x.dtype);
}
