// ToMA operations on any backend: destination selection, merge weights, merge, unmerge and RoPE rows.
// Each validates its arguments once, then runs the WGSL kernels (GpuBackend) or the CPU reference.
//
// Shapes (B batch, N = H*W image tokens in raster order, C channels, T tiles, see TileLayout):
//   x [B, N, C] f32|f16   dst u32 [B, tokens] (raster index of each merged token's destination,
//   tile-major, greedy pick order)   p, m f32 [B, T, kMax, nMax] (tile blocks, zero-padded)
//   merged [B, tokens, C]   unmerged [B, N, C]
import type { Backend } from '../backend.js';
import {
  localDestinations,
  tomaMergeRef,
  tomaSelectRef,
  tomaUnmergeRef,
  tomaWeightsRef,
} from '../cpu/toma.js';
import type { GpuBackend } from '../gpu/backend.js';
import { tomaMergeGpu, tomaSelectGpu, tomaUnmergeGpu } from '../kernels/toma.js';
import type { Tensor } from '../tensor.js';
import { checkPositiveFinite, checkTensor, cpuData, cpuU32, implFor } from './check.js';
import { gatherRopeRows } from './rope-rows.js';
import type { TileLayout } from './tile-layout.js';

export interface TomaWeights {
  /** Softmax over destinations, per tile [B, T, kMax, nMax]; the unmerge map is its transpose. */
  p: Tensor;
  /** p with each destination row scaled to sum to 1: the merge map. */
  m: Tensor;
}

export interface TomaSelection extends TomaWeights {
  dst: Tensor;
}

function checkX(be: Backend, x: Tensor, layout: TileLayout, op: string): [number, number] {
  checkTensor(be, x, op, 'x', ['f32', 'f16'], [null, layout.n, null]);
  const [B, , C] = x.shape as [number, number, number];
  if (B < 1 || C < 1) throw new RangeError(`${op}(): x ${x} has an empty batch or channel dimension`);
  return [B, C];
}

function checkWeights(be: Backend, t: Tensor, B: number, layout: TileLayout, op: string, what: string): void {
  checkTensor(be, t, op, what, ['f32'], [B, layout.tiles, layout.kMax, layout.nMax]);
}

/** Greedy facility-location destinations per tile and batch element: u32 [B, tokens]. */
export function tomaSelect(be: Backend, x: Tensor, layout: TileLayout): Tensor {
  const [B, C] = checkX(be, x, layout, 'tomaSelect');
  if (implFor(be, 'tomaSelect') === 'gpu')
    return tomaSelectGpu(be as GpuBackend, x, layout, { select: true, weights: false, tau: 1 }).dst;
  return be.tensor(tomaSelectRef(cpuData(be, x), B, C, layout), [B, layout.tokens], 'u32');
}

/** Merge weights for given destinations (x is the similarity input: the block's normalised image tokens). */
export function tomaWeights(
  be: Backend,
  x: Tensor,
  dst: Tensor,
  layout: TileLayout,
  temperature: number,
): TomaWeights {
  const [B, C] = checkX(be, x, layout, 'tomaWeights');
  checkTensor(be, dst, 'tomaWeights', 'dst', ['u32'], [B, layout.tokens]);
  checkPositiveFinite(temperature, 'tomaWeights', 'temperature');
  if (implFor(be, 'tomaWeights') === 'gpu') {
    const r = tomaSelectGpu(be as GpuBackend, x, layout, {
      select: false,
      weights: true,
      tau: temperature,
      dst,
    });
    return { p: r.p!, m: r.m! };
  }
  const { p, m } = tomaWeightsRef(cpuData(be, x), B, C, layout, cpuU32(be, dst), temperature);
  const shape = [B, layout.tiles, layout.kMax, layout.nMax];
  return { p: be.tensor(p, shape), m: be.tensor(m, shape) };
}

/** Selection and weights together (one pass over x on the GPU). */
export function tomaSelectAndWeigh(
  be: Backend,
  x: Tensor,
  layout: TileLayout,
  temperature: number,
): TomaSelection {
  const [B, C] = checkX(be, x, layout, 'tomaSelectAndWeigh');
  checkPositiveFinite(temperature, 'tomaSelectAndWeigh', 'temperature');
  if (implFor(be, 'tomaSelectAndWeigh') === 'gpu') {
    const r = tomaSelectGpu(be as GpuBackend, x, layout, { select: true, weights: true, tau: temperature });
    return { dst: r.dst, p: r.p!, m: r.m! };
  }
  const data = cpuData(be, x);
  const dst = tomaSelectRef(data, B, C, layout);
  const { p, m } = tomaWeightsRef(data, B, C, layout, dst, temperature);
  const shape = [B, layout.tiles, layout.kMax, layout.nMax];
  return {
    dst: be.tensor(dst, [B, layout.tokens], 'u32'),
    p: be.tensor(p, shape),
    m: be.tensor(m, shape),
  };
}

/** Merged tokens [B, tokens, C] = M · x per tile, tile-major, in x's dtype (f32 math). */
export function tomaMerge(be: Backend, x: Tensor, m: Tensor, layout: TileLayout): Tensor {
  const [B, C] = checkX(be, x, layout, 'tomaMerge');
  checkWeights(be, m, B, layout, 'tomaMerge', 'm');
  if (implFor(be, 'tomaMerge') === 'gpu') return tomaMergeGpu(be as GpuBackend, x, m, layout);
  return be.tensor(
    tomaMergeRef(cpuData(be, x), B, C, layout, cpuData(be, m)),
    [B, layout.tokens, C],
    x.dtype,
  );
}

/** Unmerged tokens [B, N, C] in raster order = Pᵀ · z per tile (z [B, tokens, C] tile-major). */
export function tomaUnmerge(be: Backend, z: Tensor, p: Tensor, layout: TileLayout): Tensor {
  checkTensor(be, z, 'tomaUnmerge', 'z', ['f32', 'f16'], [null, layout.tokens, null]);
  const [B, , C] = z.shape as [number, number, number];
  if (B < 1 || C < 1) throw new RangeError(`tomaUnmerge(): z ${z} has an empty batch or channel dimension`);
  checkWeights(be, p, B, layout, 'tomaUnmerge', 'p');
  if (implFor(be, 'tomaUnmerge') === 'gpu') return tomaUnmergeGpu(be as GpuBackend, z, p, layout);
  return be.tensor(tomaUnmergeRef(cpuData(be, z), B, C, layout, cpuData(be, p)), [B, layout.n, C], z.dtype);
}

function checkTextRows(textRows: number, op: string): void {
  if (!Number.isInteger(textRows) || textRows < 0)
    throw new RangeError(`${op}(): textRows must be a non-negative integer, got ${textRows}`);
}

/**
 * The merge of a joint [text | image] sequence: h [B, textRows + N, C] -> [B, textRows + tokens, C] with
 * the text rows unchanged (what a single-stream block runs on). One kernel on the GPU; on the CPU the
 * reference composition slice / merge / concat.
 */
export function tomaMergeJoint(
  be: Backend,
  h: Tensor,
  m: Tensor,
  layout: TileLayout,
  textRows: number,
): Tensor {
  checkTextRows(textRows, 'tomaMergeJoint');
  checkTensor(be, h, 'tomaMergeJoint', 'h', ['f32', 'f16'], [null, textRows + layout.n, null]);
  const [B, , C] = h.shape as [number, number, number];
  if (B < 1 || C < 1)
    throw new RangeError(`tomaMergeJoint(): h ${h} has an empty batch or channel dimension`);
  checkWeights(be, m, B, layout, 'tomaMergeJoint', 'm');
  if (implFor(be, 'tomaMerge') === 'gpu') return tomaMergeGpu(be as GpuBackend, h, m, layout, textRows);
  return be.tidy(() => {
    const img = tomaMerge(be, be.slice(h, 1, textRows, layout.n), m, layout);
    return textRows ? be.concat([be.slice(h, 1, 0, textRows), img], 1) : img;
  });
}

/**
 * The unmerge of a joint sequence added to a residual: residual [B, textRows + N, C] + [z's text rows |
 * Pᵀ · z's merged rows], z [B, textRows + tokens, C] (a single-stream block's gated update and its
 * input). One kernel on the GPU instead of two slices, an unmerge, a concat and an add.
 */
export function tomaUnmergeJointAdd(
  be: Backend,
  z: Tensor,
  p: Tensor,
  layout: TileLayout,
  textRows: number,
  residual: Tensor,
): Tensor {
  checkTextRows(textRows, 'tomaUnmergeJointAdd');
  checkTensor(be, z, 'tomaUnmergeJointAdd', 'z', ['f32', 'f16'], [null, textRows + layout.tokens, null]);
  const [B, , C] = z.shape as [number, number, number];
  if (B < 1 || C < 1)
    throw new RangeError(`tomaUnmergeJointAdd(): z ${z} has an empty batch or channel dimension`);
  checkWeights(be, p, B, layout, 'tomaUnmergeJointAdd', 'p');
  checkTensor(be, residual, 'tomaUnmergeJointAdd', 'residual', [z.dtype], [B, textRows + layout.n, C]);
  if (implFor(be, 'tomaUnmerge') === 'gpu')
    return tomaUnmergeGpu(be as GpuBackend, z, p, layout, textRows, residual);
  return be.tidy(() => {
    const img = tomaUnmerge(be, be.slice(z, 1, textRows, layout.tokens), p, layout);
    const update = textRows ? be.concat([be.slice(z, 1, 0, textRows), img], 1) : img;
    return be.add(residual, update);
  });
}

/** RoPE rows of the merged tokens: each takes its destination's row. table f32 [B, N, P, 2] -> [B, tokens, P, 2]. */
export function tomaRope(be: Backend, table: Tensor, dst: Tensor, layout: TileLayout): Tensor {
  checkTensor(be, table, 'tomaRope', 'RoPE table', ['f32'], [null, layout.n, null, 2]);
  checkTensor(be, dst, 'tomaRope', 'dst', ['u32'], [table.dim(0), layout.tokens]);
  return gatherRopeRows(be, table, dst, 'tomaRope');
}

/** Checks on the CPU that every destination lies in its tile and none repeats (tests, CLI). */
export function checkDestinations(dst: Uint32Array, B: number, layout: TileLayout): void {
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < layout.tiles; t++) {
      const tile = layout.tileInfo(t);
      const local = localDestinations(dst, b, layout, tile);
      if (new Set(local).size !== local.length)
        throw new Error(`ToMA: tile ${t} (batch ${b}) has duplicate destinations ${local.join(', ')}`);
    }
  }
}
