// ToMeSD operations on any backend (baseline for ToMA): matching, the merge plan, merge, unmerge and
// RoPE rows. Each validates its arguments once, then runs the WGSL kernels (GpuBackend) or the CPU
// reference (src/cpu/tomesd.ts, which also describes the method).
//
// Where the GPU cost goes: the cosine scores are a dense [Nsrc, Ndst] matmul per batch element
// (Nsrc·Ndst·C MACs: 3072 x 1024 x 3072 at a 64x64 grid), which ToMA's per-tile similarity avoids; the
// sort is replaced by O(Nsrc²) rank counting (two passes), and the scatter-reduce by a grouped gather.
import type { Backend } from '../backend.js';
import {
  type TomesdPartition,
  type TomesdPlanData,
  tomesdMatchRef,
  tomesdMergeRef,
  tomesdPlanRef,
} from '../cpu/tomesd.js';
import type { GpuBackend } from '../gpu/backend.js';
import { type TomesdPlanTensors, tomesdMatchGpu, tomesdMergeGpu, tomesdPlanGpu } from '../kernels/tomesd.js';
import type { Tensor } from '../tensor.js';
import { checkTensor, cpuData, cpuU32, implFor } from './check.js';
import { gatherRopeRows } from './rope-rows.js';

/** The partition as u32 tensors on a backend: src [Nsrc] and dst [Ndst] raster indices. */
export interface TomesdPartitionTensors {
  src: Tensor;
  dst: Tensor;
}

export interface TomesdMatch {
  /** f32 [B, Nsrc]: cosine of each source with its best destination. */
  nodeMax: Tensor;
  /** u32 [B, Nsrc]: that destination (index into dst). */
  nodeIdx: Tensor;
}

export interface TomesdPlan extends TomesdPlanTensors {
  /** Sources merged; the merged sequence has tokens = N − r rows. */
  r: number;
  tokens: number;
}

/** Uploads a partition (the caller owns the tensors). */
export function uploadPartition(be: Backend, part: TomesdPartition): TomesdPartitionTensors {
  return {
    src: be.tensor(part.src, [part.src.length], 'u32'),
    dst: be.tensor(part.dst, [part.dst.length], 'u32'),
  };
}

function partitionSizes(be: Backend, part: TomesdPartitionTensors, op: string): [number, number] {
  checkTensor(be, part?.src, op, 'partition src', ['u32'], [null]);
  checkTensor(be, part.dst, op, 'partition dst', ['u32'], [null]);
  if (part.dst.size === 0)
    throw new RangeError(`${op}(): the partition has no destinations (grid smaller than 2x2)`);
  return [part.src.size, part.dst.size];
}

function checkPartition(be: Backend, part: TomesdPartitionTensors, N: number, op: string): [number, number] {
  const [ns, nd] = partitionSizes(be, part, op);
  if (ns + nd !== N)
    throw new RangeError(
      `${op}(): the partition has ${ns} sources + ${nd} destinations, but x has ${N} tokens`,
    );
  return [ns, nd];
}

function hostPartition(be: Backend, part: TomesdPartitionTensors): TomesdPartition {
  const src = cpuU32(be, part.src);
  const dst = cpuU32(be, part.dst);
  return { n: src.length + dst.length, src, dst };
}

/** Each source's most cosine-similar destination (x [B, N, C] f32|f16, the block's normalised tokens). */
export function tomesdMatch(be: Backend, x: Tensor, part: TomesdPartitionTensors): TomesdMatch {
  checkTensor(be, x, 'tomesdMatch', 'x', ['f32', 'f16'], [null, null, null]);
  const [B, N, C] = x.shape as [number, number, number];
  checkPartition(be, part, N, 'tomesdMatch');
  if (implFor(be, 'tomesdMatch') === 'gpu') return tomesdMatchGpu(be as GpuBackend, x, part.src, part.dst);
  const { nodeMax, nodeIdx } = tomesdMatchRef(cpuData(be, x), B, C, hostPartition(be, part));
  const ns = part.src.size;
  return { nodeMax: be.tensor(nodeMax, [B, ns]), nodeIdx: be.tensor(nodeIdx, [B, ns], 'u32') };
}

/** Merges the r most similar sources (0 <= r <= Nsrc). */
export function tomesdPlan(
  be: Backend,
  match: TomesdMatch,
  part: TomesdPartitionTensors,
  r: number,
): TomesdPlan {
  const [ns, nd] = partitionSizes(be, part, 'tomesdPlan');
  checkTensor(be, match.nodeMax, 'tomesdPlan', 'nodeMax', ['f32'], [null, ns]);
  const [B] = match.nodeMax.shape as [number, number];
  checkTensor(be, match.nodeIdx, 'tomesdPlan', 'nodeIdx', ['u32'], [B, ns]);
  if (!Number.isInteger(r) || r < 0 || r > ns)
    throw new RangeError(`tomesdPlan(): r (sources merged) must be an integer in [0, ${ns}], got ${r}`);
  const tokens = ns + nd - r;
  if (implFor(be, 'tomesdPlan') === 'gpu') {
    const t = tomesdPlanGpu(be as GpuBackend, match.nodeMax, match.nodeIdx, part.src, part.dst, r);
    return { ...t, r, tokens };
  }
  const d = tomesdPlanRef(
    cpuData(be, match.nodeMax),
    cpuU32(be, match.nodeIdx),
    B,
    hostPartition(be, part),
    r,
  );
  return planTensors(be, d, B, ns, nd);
}

function planTensors(be: Backend, d: TomesdPlanData, B: number, ns: number, nd: number): TomesdPlan {
  const u = (a: Uint32Array, cols: number) => be.tensor(a, [B, cols], 'u32');
  return {
    r: d.r,
    tokens: d.tokens,
    order: u(d.order, ns),
    rowOf: u(d.rowOf, ns + nd),
    repIdx: u(d.repIdx, d.tokens),
    list: u(d.list, Math.max(d.r, 1)),
    groupStart: u(d.groupStart, nd),
    groupCount: u(d.groupCount, nd),
  };
}

function checkPlan(be: Backend, plan: TomesdPlan, B: number, ns: number, nd: number, op: string): void {
  const N = ns + nd;
  if (!Number.isInteger(plan.r) || plan.r < 0 || plan.r > ns || plan.tokens !== N - plan.r)
    throw new RangeError(`${op}(): plan (r ${plan.r}, tokens ${plan.tokens}) does not fit ${N} tokens`);
  const cols: [keyof TomesdPlanTensors, number][] = [
    ['order', ns],
    ['rowOf', N],
    ['repIdx', plan.tokens],
    ['list', Math.max(plan.r, 1)],
    ['groupStart', nd],
    ['groupCount', nd],
  ];
  for (const [k, n] of cols) checkTensor(be, plan[k], op, `plan.${k}`, ['u32'], [B, n]);
}

/** Merged tokens [B, N − r, C]: unmerged sources (most similar first), then the averaged destinations. */
export function tomesdMerge(be: Backend, x: Tensor, part: TomesdPartitionTensors, plan: TomesdPlan): Tensor {
  checkTensor(be, x, 'tomesdMerge', 'x', ['f32', 'f16'], [null, null, null]);
  const [B, N, C] = x.shape as [number, number, number];
  const [ns, nd] = checkPartition(be, part, N, 'tomesdMerge');
  checkPlan(be, plan, B, ns, nd, 'tomesdMerge');
  if (implFor(be, 'tomesdMerge') === 'gpu')
    return tomesdMergeGpu(be as GpuBackend, x, part.src, part.dst, plan, plan.r);
  const d: TomesdPlanData = {
    r: plan.r,
    tokens: plan.tokens,
    order: cpuU32(be, plan.order),
    rowOf: cpuU32(be, plan.rowOf),
    repIdx: cpuU32(be, plan.repIdx),
    list: cpuU32(be, plan.list),
    groupStart: cpuU32(be, plan.groupStart),
    groupCount: cpuU32(be, plan.groupCount),
  };
  return be.tensor(
    tomesdMergeRef(cpuData(be, x), B, C, hostPartition(be, part), d),
    [B, plan.tokens, C],
    x.dtype,
  );
}

/** Unmerged tokens [B, N, C]: every token takes the merged row it went into (a row gather). */
export function tomesdUnmerge(be: Backend, y: Tensor, plan: TomesdPlan): Tensor {
  checkTensor(be, y, 'tomesdUnmerge', 'y', ['f32', 'f16'], [null, plan.tokens, null]);
  const [B, , C] = y.shape as [number, number, number];
  checkTensor(be, plan.rowOf, 'tomesdUnmerge', 'plan.rowOf', ['u32'], [B, null]);
  if (C < 1) throw new RangeError(`tomesdUnmerge(): y ${y} has no channels`);
  return be.gather(y, plan.rowOf); // the CPU backend's gather is the reference
}

/** RoPE rows of the merged tokens: unmerged sources keep theirs, destinations keep theirs. */
export function tomesdRope(be: Backend, table: Tensor, plan: TomesdPlan): Tensor {
  return gatherRopeRows(be, table, plan.repIdx, 'tomesdRope');
}
