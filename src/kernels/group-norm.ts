// Launchers for group normalisation over channels-last tensors: partial statistics per chunk of
// positions (group_norm_stats), their merge (group_norm_combine), and the normalisation
// (group_norm_apply). The statistics of several tensors (row bands of one image) merge into one.
import type { GroupNormAffine } from '../backend.js';
import type { GpuBackend } from '../gpu/backend.js';
import { grid1d } from '../gpu/runtime.js';
import type { Tensor } from '../tensor.js';

/** Positions per chunk: enough chunks to fill the GPU, enough positions per chunk to keep threads busy. */
function chunkSize(S: number, groups: number): number {
  const lanes = 256 / groups;
  return Math.max(4 * lanes, Math.ceil(S / 1024));
}

export function groupNormStats(be: GpuBackend, xs: Tensor[], groups: number, eps: number): Tensor {
  const B = xs[0]!.dim(0);
  const C = xs[0]!.dim(-1);
  const parts = xs.map((x) => {
    const S = B * C === 0 ? 0 : x.size / (B * C); // positions; 0 (not NaN) for an empty tensor
    const cs = chunkSize(S, groups);
    return { x, S, cs, chunks: Math.ceil(S / cs) };
  });
  const totalChunks = parts.reduce((a, p) => a + p.chunks, 0);
  const partial = be.alloc([B, Math.max(1, totalChunks), groups, 3], 'f32');
  let offset = 0;
  for (const p of parts) {
    be.rt.launch({
      shader: 'group_norm_stats',
      params: { T: p.x.dtype, F16: p.x.dtype === 'f16', G: groups },
      uniforms: [p.S, C, p.cs, offset, totalChunks],
      buffers: [be.buf(p.x), be.buf(partial)],
      grid: [p.chunks, B],
    });
    offset += p.chunks;
  }
  const stats = be.alloc([B, groups, 2], 'f32');
  be.rt.launch({
    shader: 'group_norm_combine',
    uniforms: [totalChunks, groups, { f: eps }],
    buffers: [be.buf(partial), be.buf(stats)],
    grid: [groups, B],
  });
  partial.dispose();
  return stats;
}

export function groupNormApply(be: GpuBackend, x: Tensor, stats: Tensor, o: GroupNormAffine): Tensor {
  const B = x.dim(0);
  const C = x.dim(-1);
  const G = stats.dim(1);
  const y = be.alloc(x.shape, x.dtype);
  be.rt.launch({
    shader: 'group_norm_apply',
    params: {
      T: x.dtype,
      F16: x.dtype === 'f16',
      WEIGHT: !!o.weight,
      BIAS: !!o.bias,
      SILU: !!o.silu,
    },
    uniforms: [x.size, C, C / G, x.size / B, G],
    buffers: [be.buf(x), be.buf(stats), be.buf(y), o.weight && be.buf(o.weight), o.bias && be.buf(o.bias)],
    grid: grid1d(Math.ceil(x.size / 256)),
  });
  return y;
}
