// ToMA + HilbertA combined: ToMA shortens the sequence, HilbertA sparsifies attention over what is left.
//
// Layout: blocks that ToMA merges see the merged image tokens reordered tile by tile along a Hilbert
// curve over ToMA's tile grid (centre tiles first), so every HilbertA tile of the merged sequence is a
// compact patch of the image and one contiguous key range. Each tile's merged tokens stay together (in
// ToMA's pick order). Blocks that run on all tokens (ToMA's exempt blocks, non-merging steps) keep raster
// order and dense attention: ToMA's tiles are defined on the raster grid, and exempt blocks are exempt
// because they are sensitive.
//
// The reorder is two row gathers of the merged sequence per merged block (after merge, before unmerge)
// and one of the merged RoPE rows: a few MB each at Flux-dev scale.
import type { Backend } from '../backend.js';
import type { AttentionPattern, ForwardInfo, TokenMergePlan, TokenReducer } from '../merge/hooks.js';
import { resolveReducerOptions } from '../merge/options.js';
import { createReducer } from '../merge/reducers.js';
import { destinationsFor, TileLayout } from '../merge/tile-layout.js';
import type { Tensor } from '../tensor.js';
import { createHilbertPattern, type HilbertConfig, type HilbertPattern } from './hilbert-pattern.js';
import type { HilbertOptions } from './options.js';

export interface TomaHilbert {
  reducer: TokenReducer;
  pattern: AttentionPattern;
  dispose(): void;
}

/** Merged-token permutation: curve[m] = ToMA's merged position of the token placed at m, and its inverse. */
export function mergedCurvePermutation(
  tileLayout: TileLayout,
  tileOrder: Uint32Array,
): { curve: Uint32Array; inverse: Uint32Array } {
  const curve = new Uint32Array(tileLayout.tokens);
  let m = 0;
  for (const t of tileOrder) {
    const info = tileLayout.tileInfo(t);
    for (let i = 0; i < info.k; i++) curve[m++] = info.offset + i;
  }
  if (m !== tileLayout.tokens)
    throw new Error(`toma+hilbert: tile order covers ${m} of ${tileLayout.tokens} merged tokens`);
  const inverse = new Uint32Array(curve.length);
  curve.forEach((p, i) => {
    inverse[p] = i;
  });
  return { curve, inverse };
}

export function createTomaHilbert(
  be: Backend,
  reducerOptions: { ratio?: number; tile?: number } & Record<string, unknown>,
  hilbertOptions: Partial<HilbertOptions> = {},
  doubleBlocks = 19,
  patternConfig: Pick<HilbertConfig, 'outerTables'> = {},
): TomaHilbert {
  const o = resolveReducerOptions({ ...reducerOptions, method: 'toma' });
  const inner = createReducer(be, { ...reducerOptions, method: 'toma' });
  const hilbert: HilbertPattern = createHilbertPattern(be, hilbertOptions, {
    ...patternConfig,
    doubleBlocks,
    merge: { tileSize: o.tile, destinations: (n) => destinationsFor(n, o.ratio) },
  });
  const perms = new Map<string, { curve: Tensor; inverse: Tensor }>();
  const permsFor = (info: ForwardInfo) => {
    const key = `${info.batch}:${info.grid[0]}x${info.grid[1]}`;
    let p = perms.get(key);
    if (!p) {
      const tl = new TileLayout(info.grid[0], info.grid[1], o.tile, o.ratio);
      const { curve, inverse } = mergedCurvePermutation(tl, hilbert.layout(info.grid).tileOrder);
      const rep = (a: Uint32Array) => {
        const all = new Uint32Array(a.length * info.batch);
        for (let b = 0; b < info.batch; b++) all.set(a, b * a.length);
        return be.keep(be.tensor(all, [info.batch, a.length], 'u32'));
      };
      p = { curve: rep(curve), inverse: rep(inverse) };
      perms.set(key, p);
    }
    return p;
  };

  let info: ForwardInfo | null = null;
  const reducer: TokenReducer = {
    name: 'toma+hilbert',
    beginForward(i) {
      info = i;
      inner.beginForward(i);
    },
    block(kind, index, xImg) {
      const plan = inner.block(kind, index, xImg);
      if (plan?.kind !== 'merge' || !info) return plan;
      const { curve, inverse } = permsFor(info);
      const wrapped: TokenMergePlan = {
        kind: 'merge',
        tokens: plan.tokens,
        merge: (x) => be.gather(plan.merge(x), curve),
        unmerge: (y) => plan.unmerge(be.gather(y, inverse)),
        rope: (table) => {
          const t = plan.rope(table); // [B, M, P, 2]
          const [B, M, P] = t.shape as [number, number, number, number];
          return be.reshape(be.gather(be.reshape(t, [B, M, P * 2]), curve), [B, M, P, 2]);
        },
      };
      return wrapped;
    },
    endForward() {
      inner.endForward();
      info = null;
    },
    dispose() {
      inner.dispose();
      for (const p of perms.values()) {
        p.curve.dispose();
        p.inverse.dispose();
      }
      perms.clear();
    },
  };

  const pattern: AttentionPattern = {
    name: 'toma+hilbert',
    imageOrder: () => null,
    keyRanges(kind, index, i, imageTokens) {
      // full-length blocks (exempt, or a step that does not merge) stay dense and in raster order
      if (imageTokens === i.grid[0] * i.grid[1]) return null;
      return hilbert.keyRanges(kind, index, i, imageTokens);
    },
    dispose: () => hilbert.dispose(),
  };

  return {
    reducer,
    pattern,
    dispose() {
      reducer.dispose();
      pattern.dispose();
    },
  };
}
