import type { HeadsLaunchOptions } from '../backend.js';
import type { GpuBackend } from '../gpu/backend.js';
import { grid1d } from '../gpu/runtime.js';
import type { Tensor } from '../tensor.js';

function rowsPerGroup(be: GpuBackend, half: number): number {
  const maxThreads = be.caps.limits.maxComputeInvocationsPerWorkgroup ?? 256;
  // One thread per rotated pair: a head row must fit one workgroup.
  if (half > maxThreads)
    throw new RangeError(
      `heads: head dim ${2 * half} needs ${half} threads per workgroup, the adapter allows ${maxThreads}`,
    );
  return Math.max(1, Math.floor(Math.min(256, maxThreads) / half));
}

/** What both launches share: the head rows, the workgroup layout and the specialization. */
function launchShape(be: GpuBackend, src: Tensor, a: HeadsLaunchOptions, qkv: boolean) {
  const [B, L, W] = src.shape as [number, number, number];
  const half = a.headDim / 2;
  const rows = B * L * a.heads;
  const perGroup = rowsPerGroup(be, half);
  const params = {
    T: src.dtype,
    F16: src.dtype === 'f16',
    HALF: half,
    ROWS: perGroup,
    POW2: (half & (half - 1)) === 0,
    NORM: !!a.norm,
    ROPE: !!a.rope,
    QKV: qkv,
  };
  return { L, W, rows, params, grid: grid1d(Math.ceil(rows / perGroup)) };
}

export function heads(be: GpuBackend, src: Tensor, a: HeadsLaunchOptions): void {
  const { L, W, rows, params, grid } = launchShape(be, src, a, false);
  be.rt.launch({
    shader: 'heads',
    params,
    uniforms: [rows, L, a.heads, W, a.column, a.out.dim(2), a.seqOffset, { f: a.eps }, 0, 0],
    buffers: [be.buf(src), be.buf(a.out), a.norm && be.buf(a.norm), a.rope && be.buf(a.rope)],
    grid,
  });
}

/**
 * q, k and v of a fused qkv projection in one launch (grid z = 3). Falls back to three launches when
 * the slots do not share what the fused kernel assumes: the same RoPE table, both QK norms or none,
 * columns 0 / H·D / 2·H·D, and k and v written at the same row offset of equally long outputs.
 */
export function qkvHeads(
  be: GpuBackend,
  src: Tensor,
  [q, k, v]: [HeadsLaunchOptions, HeadsLaunchOptions, HeadsLaunchOptions],
): boolean {
  const HD = q.heads * q.headDim;
  const fusable =
    q.column === 0 &&
    k.column === HD &&
    v.column === 2 * HD &&
    !!q.norm === !!k.norm &&
    !v.norm &&
    q.rope === k.rope &&
    !v.rope &&
    q.seqOffset === 0 &&
    k.seqOffset === v.seqOffset &&
    k.out.dim(2) === v.out.dim(2) &&
    q.eps === k.eps;
  if (!fusable) return false;
  const { L, W, rows, params, grid } = launchShape(be, src, q, true);
  const [gx, gy] = grid;
  be.rt.launch({
    shader: 'heads',
    params,
    uniforms: [rows, L, q.heads, W, 0, q.out.dim(2), 0, { f: q.eps }, k.out.dim(2), k.seqOffset],
    buffers: [
      be.buf(src),
      be.buf(q.out),
      q.norm && be.buf(q.norm),
      q.rope && be.buf(q.rope),
      be.buf(k.out),
      be.buf(v.out),
      k.norm && be.buf(k.norm),
    ],
    grid: [gx, gy, 3],
  });
  return true;
}
