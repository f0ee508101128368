// Launchers for layout kernels: axis copies (concat / slice / split) and row gather / scatter.
import type { GpuBackend } from '../gpu/backend.js';
import { grid1d } from '../gpu/runtime.js';
import type { Tensor } from '../tensor.js';
import { numel } from '../util/shape.js';

const typeParams = (t: Tensor) => ({ T: t.dtype, F16: t.dtype === 'f16' });

export function copyAxis(
  be: GpuBackend,
  src: Tensor,
  dst: Tensor,
  axis: number,
  srcStart: number,
  dstStart: number,
  count: number,
): void {
  const outer = numel(src.shape.slice(0, axis));
  const inner = numel(src.shape.slice(axis + 1));
  const n = outer * count * inner;
  if (n === 0) return;
  be.rt.launch({
    shader: 'copy_axis',
    params: typeParams(src),
    uniforms: [
      n,
      count * inner,
      src.shape[axis]! * inner,
      dst.shape[axis]! * inner,
      srcStart * inner,
      dstStart * inner,
    ],
    buffers: [be.buf(src), be.buf(dst)],
    grid: grid1d(Math.ceil(n / 256)),
  });
}

export function gather(be: GpuBackend, x: Tensor, idx: Tensor): Tensor {
  const [B, N, C] = x.shape as [number, number, number];
  const M = idx.dim(1);
  const y = be.alloc([B, M, C], x.dtype);
  be.rt.launch({
    shader: 'gather_rows',
    params: typeParams(x),
    uniforms: [B * M * C, N, M, C],
    buffers: [be.buf(x), be.buf(idx), be.buf(y)],
    grid: grid1d(Math.ceil((B * M * C) / 256)),
  });
  return y;
}

export function scatter(be: GpuBackend, src: Tensor, idx: Tensor, dst: Tensor): void {
  const [B, M, C] = src.shape as [number, number, number];
  be.rt.launch({
    shader: 'scatter_rows',
    params: typeParams(src),
    uniforms: [B * M * C, dst.dim(1), M, C],
    buffers: [be.buf(src), be.buf(idx), be.buf(dst)],
    grid: grid1d(Math.ceil((B * M * C) / 256)),
  });
}
