// A toy UNet BasicTransformerBlock (LayerNorms, self-attention, cross-attention to a short text, GELU
// feed-forward) with random weights, split into the pieces src/merge/unet-block.ts applies plans to.
// The same weights on any backend, so CPU and WebGPU runs can be compared. And ToMA with given
// destinations, to compare a backend's run with another's choice of destinations.
import type { Backend } from '../../src/backend.js';
import type { KVReducePlan, UnetScope, UnetTokenReducer } from '../../src/merge/hooks.js';
import { TileLayout } from '../../src/merge/tile-layout.js';
import { tomaMerge, tomaUnmerge, tomaWeights } from '../../src/merge/toma.js';
import type { UnetBlockParts } from '../../src/merge/unet-block.js';
import type { Tensor } from '../../src/tensor.js';
import { Rng } from '../../src/util/random.js';

export interface ToyBlockSpec {
  C: number;
  heads: number;
  /** Text tokens (cross-attention keys/values). */
  text: number;
  batch: number;
  seed: number;
}

export interface ToyBlock {
  parts: UnetBlockParts;
  /** attn1's key and value projections and the split into heads, for hand computations. */
  k1: Tensor;
  v1: Tensor;
  toHeads(x: Tensor): Tensor;
}

/** Weight values for a spec (shared by every backend). */
function weights(s: ToyBlockSpec) {
  const r = new Rng(s.seed);
  const { C } = s;
  const lin = (out: number, inp: number) => r.normals(out * inp, 1 / Math.sqrt(inp));
  return {
    ln: [0, 1, 2].map(() => ({ w: r.normals(C, 0.1, 1), b: r.normals(C, 0.1) })),
    q1: lin(C, C),
    k1: lin(C, C),
    v1: lin(C, C),
    o1: lin(C, C),
    o1b: r.normals(C, 0.1),
    q2: lin(C, C),
    k2: lin(C, C),
    v2: lin(C, C),
    o2: lin(C, C),
    ff1: lin(2 * C, C),
    ff1b: r.normals(2 * C, 0.1),
    ff2: lin(C, 2 * C),
    text: r.normals(s.batch * s.text * C),
  };
}

export function toyBlock(be: Backend, s: ToyBlockSpec): ToyBlock {
  const w = weights(s);
  const { C, heads } = s;
  const headDim = C / heads;
  const t = (d: Float32Array, shape: number[]) => be.keep(be.tensor(d, shape));
  const ln = w.ln.map((l) => ({ weight: t(l.w, [C]), bias: t(l.b, [C]), eps: 1e-5 }));
  const W = {
    q1: t(w.q1, [C, C]),
    k1: t(w.k1, [C, C]),
    v1: t(w.v1, [C, C]),
    o1: t(w.o1, [C, C]),
    o1b: t(w.o1b, [C]),
    q2: t(w.q2, [C, C]),
    k2: t(w.k2, [C, C]),
    v2: t(w.v2, [C, C]),
    o2: t(w.o2, [C, C]),
    ff1: t(w.ff1, [2 * C, C]),
    ff1b: t(w.ff1b, [2 * C]),
    ff2: t(w.ff2, [C, 2 * C]),
  };
  const text = t(w.text, [s.batch, s.text, C]);
  const toHeads = (x: Tensor) => be.heads(x, { heads, headDim, column: 0 });
  const parts: UnetBlockParts = {
    norm1: (x) => be.layerNorm(x, ln[0]),
    selfAttention(n: Tensor, residual: Tensor | null, kv: KVReducePlan | null) {
      let k = toHeads(be.matmul(n, W.k1));
      let v = toHeads(be.matmul(n, W.v1));
      if (kv) ({ k, v } = kv.downsampleKV(k, v));
      const a = be.attention(toHeads(be.matmul(n, W.q1)), k, v);
      return be.matmul(a, W.o1, { bias: W.o1b, ...(residual ? { residual } : {}) });
    },
    rest(h: Tensor) {
      const n2 = be.layerNorm(h, ln[1]);
      const a = be.attention(
        toHeads(be.matmul(n2, W.q2)),
        toHeads(be.matmul(text, W.k2)),
        toHeads(be.matmul(text, W.v2)),
      );
      const h2 = be.matmul(a, W.o2, { residual: h });
      const f = be.matmul(be.layerNorm(h2, ln[2]), W.ff1, { bias: W.ff1b, activation: 'gelu' });
      return be.matmul(f, W.ff2, { residual: h2 });
    },
  };
  return { parts, k1: W.k1, v1: W.v1, toHeads };
}

/**
 * ToMA with given destinations per block group ('down:1', ...: u32 [B, tokens] each), weights computed
 * from each group head's n1 like the real reducer: what a run on another backend must equal once that
 * run's choice of destinations is fixed (selection ties are decided by rounding, docs/merging.md).
 */
export function tomaWithDestinations(
  be: Backend,
  dst: ReadonlyMap<string, Uint32Array>,
  scope: UnetScope,
  o: { tile?: number; ratio?: number; temperature?: number } = {},
): UnetTokenReducer {
  const groups = new Map<string, ReturnType<typeof tomaWeights>>();
  return {
    name: 'toma-fixed',
    scope,
    beginForward() {
      this.dispose();
      groups.clear();
    },
    block(site, n1) {
      const d = dst.get(`${site.path}:${site.level}`);
      if (!d) return null;
      const L = new TileLayout(site.grid[0], site.grid[1], o.tile ?? 4, o.ratio ?? 0.5);
      const g = `${site.path}:${site.level}`;
      let w = groups.get(g);
      if (!w) {
        w = tomaWeights(be, n1, be.tensor(d, [n1.dim(0), L.tokens], 'u32'), L, o.temperature ?? 1000);
        be.keep(w.p);
        be.keep(w.m);
        groups.set(g, w);
      }
      const { p, m } = w;
      return {
        kind: 'merge',
        tokens: L.tokens,
        merge: (t) => tomaMerge(be, t, m, L),
        unmerge: (y) => tomaUnmerge(be, y, p, L),
      };
    },
    endForward() {},
    dispose() {
      for (const w of groups.values()) {
        w.p.dispose();
        w.m.dispose();
      }
    },
  };
}
