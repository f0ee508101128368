// Launchers for the ToMeSD kernels (tomesd_normalize, tomesd_match, tomesd_rank, tomesd_group,
// tomesd_merge). The cosine scores between sources and destinations are a plain matmul on the
// backend's fastest path. Arguments are validated by the ops in src/merge/tomesd.ts.
import type { GpuBackend } from '../gpu/backend.js';
import { grid1d } from '../gpu/runtime.js';
import type { Tensor } from '../tensor.js';

const WG = 256;

function normalizeRows(be: GpuBackend, x: Tensor, idx: Tensor): Tensor {
  const [B, N, C] = x.shape as [number, number, number];
  const M = idx.size;
  const y = be.empty([B, M, C], x.dtype);
  be.rt.launch({
    shader: 'tomesd_normalize',
    params: { T: x.dtype, F16: x.dtype === 'f16' },
    uniforms: [N, M, C],
    buffers: [be.buf(x), be.buf(idx), be.buf(y)],
    grid: [M, B],
    category: 'merge',
  });
  return y;
}

/** Best destination per source: cosine scores by matmul (per batch element), then a row argmax. */
export function tomesdMatchGpu(
  be: GpuBackend,
  x: Tensor,
  src: Tensor,
  dst: Tensor,
): { nodeMax: Tensor; nodeIdx: Tensor } {
  const [B, , C] = x.shape as [number, number, number];
  const ns = src.size;
  const nd = dst.size;
  const nodeMax = be.empty([B, ns], 'f32');
  const nodeIdx = be.empty([B, ns], 'u32');
  be.tidy(() => {
    const a = normalizeRows(be, x, src);
    const d = normalizeRows(be, x, dst);
    for (let b = 0; b < B; b++) {
      const ab = B === 1 ? a : be.slice(a, 0, b, 1);
      const db = be.reshape(B === 1 ? d : be.slice(d, 0, b, 1), [nd, C]);
      const scores = be.matmul(ab, db); // [1, ns, nd] cosines
      be.rt.launch({
        shader: 'tomesd_match',
        params: { T: x.dtype, F16: x.dtype === 'f16' },
        uniforms: [ns, nd, b * ns],
        buffers: [be.buf(scores), be.buf(nodeMax), be.buf(nodeIdx)],
        grid: grid1d(ns),
        category: 'merge',
      });
    }
  });
  return { nodeMax, nodeIdx };
}

export interface TomesdPlanTensors {
  order: Tensor;
  rowOf: Tensor;
  repIdx: Tensor;
  list: Tensor;
  groupStart: Tensor;
  groupCount: Tensor;
}

export function tomesdPlanGpu(
  be: GpuBackend,
  nodeMax: Tensor,
  nodeIdx: Tensor,
  src: Tensor,
  dst: Tensor,
  r: number,
): TomesdPlanTensors {
  const [B, ns] = nodeMax.shape as [number, number];
  const nd = dst.size;
  const N = ns + nd;
  const tokens = N - r;
  const listStride = Math.max(r, 1);
  const order = be.empty([B, ns], 'u32');
  const rowOf = be.empty([B, N], 'u32');
  const repIdx = be.empty([B, tokens], 'u32');
  const list = be.empty([B, listStride], 'u32');
  const groupStart = be.empty([B, nd], 'u32');
  const groupCount = be.empty([B, nd], 'u32');
  if (r === 0) be.rt.fill(be.buf(list), 0); // nothing merged: the list is a placeholder
  be.rt.fill(be.buf(groupStart), 0);
  be.rt.fill(be.buf(groupCount), 0);
  be.tidy(() => {
    const rank = be.empty([B, ns], 'u32');
    const grid = [Math.ceil(ns / WG), B] as const;
    be.rt.launch({
      shader: 'tomesd_rank',
      uniforms: [ns, nd, N, r, tokens],
      buffers: [
        be.buf(nodeMax),
        be.buf(nodeIdx),
        be.buf(src),
        be.buf(dst),
        be.buf(rank),
        be.buf(order),
        be.buf(rowOf),
        be.buf(repIdx),
      ],
      // Thread i also writes destination i's rows: enough threads for both (a caller's partition may
      // have more destinations than sources).
      grid: [Math.ceil(Math.max(ns, nd) / WG), B],
      category: 'merge',
    });
    be.rt.launch({
      shader: 'tomesd_group',
      uniforms: [ns, nd, r, listStride],
      buffers: [be.buf(nodeIdx), be.buf(rank), be.buf(list), be.buf(groupStart), be.buf(groupCount)],
      grid,
      category: 'merge',
    });
  });
  return { order, rowOf, repIdx, list, groupStart, groupCount };
}

export function tomesdMergeGpu(
  be: GpuBackend,
  x: Tensor,
  src: Tensor,
  dst: Tensor,
  plan: TomesdPlanTensors,
  r: number,
): Tensor {
  const [B, N, C] = x.shape as [number, number, number];
  const ns = src.size;
  const nd = dst.size;
  const tokens = N - r;
  const vec = C % 4 === 0 ? 4 : 1;
  const cv = C / vec;
  const y = be.empty([B, tokens, C], x.dtype);
  be.rt.launch({
    shader: 'tomesd_merge',
    params: {
      F16: x.dtype === 'f16',
      VT: vec === 4 ? `vec4<${x.dtype}>` : x.dtype,
      VF: vec === 4 ? 'vec4<f32>' : 'f32',
    },
    uniforms: [N, ns, nd, r, tokens, cv, Math.max(r, 1)],
    buffers: [
      be.buf(x),
      be.buf(src),
      be.buf(dst),
      be.buf(plan.order),
      be.buf(plan.list),
      be.buf(plan.groupStart),
      be.buf(plan.groupCount),
      be.buf(y),
    ],
    grid: [Math.ceil(cv / WG), tokens, B],
    category: 'merge',
  });
  return y;
}
