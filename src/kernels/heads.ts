import type { GpuBackend } from '../gpu/backend.js';
import { grid1d } from '../gpu/runtime.js';
import type { Tensor } from '../tensor.js';

export interface HeadsLaunch {
  heads: number;
  headDim: number;
  column: number;
  norm?: Tensor;
  eps: number;
  rope?: Tensor;
  out: Tensor;
  seqOffset: number;
}

export function heads(be: GpuBackend, src: Tensor, a: HeadsLaunch): void {
  const [B, L, W] = src.shape as [number, number, number];
  const half = a.headDim / 2;
  const rows = B * L * a.heads;
  const maxThreads = be.caps.limits.maxComputeInvocationsPerWorkgroup ?? 256;
  // One thread per rotated pair: a head row must fit one workgroup.
  if (half > maxThreads)
    throw new RangeError(
      `heads: head dim ${a.headDim} needs ${half} threads per workgroup, the adapter allows ${maxThreads}`,
    );
  const perGroup = Math.max(1, Math.floor(Math.min(256, maxThreads) / half));
  be.rt.launch({
    shader: 'heads',
    params: {
      T: src.dtype,
      F16: src.dtype === 'f16',
      HALF: half,
      ROWS: perGroup,
      POW2: (half & (half - 1)) === 0,
      NORM: !!a.norm,
      ROPE: !!a.rope,
    },
    uniforms: [rows, L, a.heads, W, a.column, a.out.dim(2), a.seqOffset, { f: a.eps }],
    buffers: [be.buf(src), be.buf(a.out), a.norm && be.buf(a.norm), a.rope && be.buf(a.rope)],
    grid: grid1d(Math.ceil(rows / perGroup)),
  });
}
