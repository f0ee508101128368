// Self-check cases for the token-merging kernels (ToMA, ToMeSD, ToDo), run by `toma doctor` next to the
// core kernels: each runs on the WebGPU backend and on the CPU reference from the same inputs. Inputs are
// built so that results do not depend on how near-ties are broken (see docs/merging.md on ties).
import type { Backend } from '../backend.js';
import { tomaWeightsRef } from '../cpu/toma.js';
import { tomesdPartition } from '../cpu/tomesd.js';
import type { DType, Tensor } from '../tensor.js';
import type { Rng } from '../util/random.js';
import { TileLayout } from './tile-layout.js';
import { todoDownsample } from './todo.js';
import { tomaMerge, tomaSelectAndWeigh, tomaUnmerge, tomaWeights } from './toma.js';
import { tomesdMerge, tomesdPlan, uploadPartition } from './tomesd.js';

type Upload = (data: Float32Array | number[], shape: number[], dt?: DType) => Tensor;

export interface MergeCheckCase {
  kernel: string;
  shape: string;
  run: (be: Backend, up: Upload) => Tensor;
  /** For the CPU backend: an error measure against a known answer. */
  property?: (out: Float32Array) => number;
}

/** Tiles holding k distinct, well-separated vectors each: the greedy picks one token of each. */
function clusteredTokens(L: TileLayout, C: number, rng: Rng): Float32Array {
  const x = new Float32Array(L.n * C);
  for (let t = 0; t < L.tiles; t++) {
    const tile = L.tileInfo(t);
    const values = Array.from({ length: tile.k }, () => rng.normals(C));
    for (let i = 0; i < tile.n; i++) x.set(values[(i * 7 + t) % tile.k]!, L.raster(tile, i) * C);
  }
  return x;
}

export function mergeCheckCases(rng: Rng, lite: boolean): MergeCheckCase[] {
  const [H, W, C] = lite ? [9, 7, 24] : [21, 19, 200];
  const L = new TileLayout(H, W, 4, 0.5);
  const shape = `${H}x${W}x${C}`;
  const x = rng.normals(L.n * C);
  const clustered = clusteredTokens(L, C, rng);
  // A valid destination set (each tile's first k tokens) and reference weights for the merge kernels.
  const dst = new Uint32Array(L.tokens);
  for (let t = 0; t < L.tiles; t++) {
    const tile = L.tileInfo(t);
    for (let j = 0; j < tile.k; j++) dst[tile.offset + j] = L.raster(tile, j);
  }
  const w = tomaWeightsRef(x, 1, C, L, dst, 5);
  const wShape = [1, L.tiles, L.kMax, L.nMax];
  const z = rng.normals(L.tokens * C);
  const part = tomesdPartition(H, W, 1);
  const ns = part.src.length;
  const r = Math.floor(ns / 2);
  const nodeMax = Array.from(rng.uniforms(ns), (v) => Math.round(v * 8) / 8); // ties on purpose
  const nodeIdx = Array.from({ length: ns }, () => rng.int(part.dst.length));
  const tomesd = (be: Backend, up: Upload) => {
    const p = uploadPartition(be, part);
    return {
      p,
      plan: tomesdPlan(
        be,
        { nodeMax: up(nodeMax, [1, ns], 'f32'), nodeIdx: up(nodeIdx, [1, ns], 'u32') },
        p,
        r,
      ),
    };
  };
  const D = 8;
  const kv = rng.normals(3 * L.n * D);
  return [
    {
      // Pick order can differ between roundings (structural ties), the round trip cannot: one destination
      // per cluster, a hard assignment, unmerge(merge(x)) = x.
      kernel: 'toma select+weights, round trip',
      shape,
      run: (be, up) => {
        const xc = up(clustered, [1, L.n, C]);
        const sel = tomaSelectAndWeigh(be, xc, L, 1000);
        return tomaUnmerge(be, tomaMerge(be, xc, sel.m, L), sel.p, L);
      },
      property: (out) => {
        let e = 0;
        let m = 0;
        for (let i = 0; i < out.length; i++) {
          e = Math.max(e, Math.abs(out[i]! - clustered[i]!));
          m = Math.max(m, Math.abs(clustered[i]!));
        }
        return e / m;
      },
    },
    {
      kernel: 'toma weights',
      shape,
      run: (be, up) =>
        tomaWeights(be, up(x, [1, L.n, C]), up(Array.from(dst), [1, L.tokens], 'u32'), L, 100).p,
    },
    {
      kernel: 'toma merge',
      shape,
      run: (be, up) => tomaMerge(be, up(x, [1, L.n, C]), up(w.m, wShape, 'f32'), L),
    },
    {
      kernel: 'toma unmerge',
      shape,
      run: (be, up) => tomaUnmerge(be, up(z, [1, L.tokens, C]), up(w.p, wShape, 'f32'), L),
    },
    {
      kernel: 'tomesd rank+group',
      shape: `${H}x${W}`,
      run: (be, up) => {
        const { plan } = tomesd(be, up);
        return be.concat([plan.rowOf, plan.list], 1);
      },
    },
    {
      kernel: 'tomesd merge',
      shape,
      run: (be, up) => {
        const { p, plan } = tomesd(be, up);
        return tomesdMerge(be, up(x, [1, L.n, C]), p, plan);
      },
    },
    {
      kernel: 'todo pool',
      shape: `1x3x${H}x${W}x${D}`,
      run: (be, up) => todoDownsample(be, up(kv, [1, 3, L.n, D]), [H, W]),
    },
  ];
}
