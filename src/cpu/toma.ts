// ToMA reference (plain TypeScript, f64 math): per-tile greedy facility-location destination selection,
// attention-like merge weights, merge and unmerge. The WGSL kernels in src/kernels/toma_*.wgsl are
// tested against these. Layout conventions: src/merge/tile-layout.ts.
import type { TileInfo, TileLayout } from '../merge/tile-layout.js';

/** Cosines below this norm treat the token as the zero vector (like F.normalize's eps). */
export const NORM_EPS = 1e-12;

/** n x n cosine similarity of one tile's tokens (batch element b of x [B, N, C]), row-major, f64. */
export function tileCosinesRef(
  x: Float32Array,
  C: number,
  layout: TileLayout,
  tile: TileInfo,
  b: number,
): Float64Array {
  const { n } = tile;
  const xh = new Float64Array(n * C);
  for (let i = 0; i < n; i++) {
    const base = (b * layout.n + layout.raster(tile, i)) * C;
    let ss = 0;
    for (let c = 0; c < C; c++) ss += x[base + c]! * x[base + c]!;
    const inv = 1 / Math.max(Math.sqrt(ss), NORM_EPS);
    for (let c = 0; c < C; c++) xh[i * C + c] = x[base + c]! * inv;
  }
  const S = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let d = 0;
      for (let c = 0; c < C; c++) d += xh[i * C + c]! * xh[j * C + c]!;
      S[i * n + j] = d;
      S[j * n + i] = d;
    }
  }
  return S;
}

export interface GreedyResult {
  /** Local indices in pick order. */
  picks: number[];
  /** At each step, best gain minus the best gain among the other candidates (Infinity if none). */
  gaps: number[];
}

/**
 * Greedy facility location on a similarity matrix S (n x n): step 0 picks argmax_i Σ_j S_ij; each
 * later step picks argmax_i Σ_j max(0, S_ij − m_j) with m the running coverage. Already-chosen tokens
 * are masked (the official code does not mask and can pick a token twice); ties go to the first index.
 */
export function greedyRef(S: ArrayLike<number>, n: number, k: number): GreedyResult {
  const m = new Float64Array(n);
  const chosen = new Uint8Array(n);
  const picks: number[] = [];
  const gaps: number[] = [];
  for (let step = 0; step < k; step++) {
    let best = -1;
    let bestGain = Number.NEGATIVE_INFINITY;
    let second = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < n; i++) {
      if (chosen[i]) continue;
      let g = 0;
      for (let j = 0; j < n; j++) {
        const s = S[i * n + j]!;
        g += step === 0 ? s : Math.max(0, s - m[j]!);
      }
      // a NaN gain (from NaN tokens) ranks below every number, and a pick is always made, so the
      // destination stays inside the tile instead of being index -1
      if (Number.isNaN(g)) g = Number.NEGATIVE_INFINITY;
      if (best < 0 || g > bestGain) {
        second = bestGain;
        bestGain = g;
        best = i;
      } else if (g > second) {
        second = g;
      }
    }
    picks.push(best);
    gaps.push(bestGain - second);
    chosen[best] = 1;
    for (let j = 0; j < n; j++) m[j] = step === 0 ? S[best * n + j]! : Math.max(m[j]!, S[best * n + j]!);
  }
  return { picks, gaps };
}

/** Destination selection for every tile and batch element: raster indices [B, tokens] in merged order. */
export function tomaSelectRef(x: Float32Array, B: number, C: number, layout: TileLayout): Uint32Array {
  const dst = new Uint32Array(B * layout.tokens);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < layout.tiles; t++) {
      const tile = layout.tileInfo(t);
      const { picks } = greedyRef(tileCosinesRef(x, C, layout, tile, b), tile.n, tile.k);
      picks.forEach((i, j) => {
        dst[b * layout.tokens + tile.offset + j] = layout.raster(tile, i);
      });
    }
  }
  return dst;
}

/** Local indices of one tile's destinations, checking that each lies in the tile. */
export function localDestinations(dst: Uint32Array, b: number, layout: TileLayout, tile: TileInfo): number[] {
  const out: number[] = [];
  for (let j = 0; j < tile.k; j++) {
    const r = dst[b * layout.tokens + tile.offset + j]!;
    const loc = r < layout.n ? layout.locate(r) : null;
    if (!loc || loc.tile !== tile.index) {
      throw new RangeError(
        `ToMA: destination ${j} of tile ${tile.index} (batch ${b}) is raster token ${r}, which is not in that tile`,
      );
    }
    out.push(loc.local);
  }
  return out;
}

/**
 * Merge weights [B, T, kMax, nMax] (f32, zero outside each tile's k x n block): L = cosine of each
 * destination with each token of its tile, P = softmax over the destinations of tau * L (each token's
 * column sums to 1; the unmerge map is Pᵀ), M = P with each destination row scaled to sum to 1.
 */
export function tomaWeightsRef(
  x: Float32Array,
  B: number,
  C: number,
  layout: TileLayout,
  dst: Uint32Array,
  tau: number,
): { p: Float32Array; m: Float32Array } {
  const { kMax, nMax } = layout;
  const p = new Float32Array(B * layout.tiles * kMax * nMax);
  const m = new Float32Array(p.length);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < layout.tiles; t++) {
      const tile = layout.tileInfo(t);
      const S = tileCosinesRef(x, C, layout, tile, b);
      const d = localDestinations(dst, b, layout, tile);
      const { n, k } = tile;
      const P = new Float64Array(k * n);
      for (let i = 0; i < n; i++) {
        let mx = Number.NEGATIVE_INFINITY;
        for (let j = 0; j < k; j++) mx = Math.max(mx, tau * S[d[j]! * n + i]!);
        let sum = 0;
        for (let j = 0; j < k; j++) {
          const e = Math.exp(tau * S[d[j]! * n + i]! - mx);
          P[j * n + i] = e;
          sum += e;
        }
        for (let j = 0; j < k; j++) P[j * n + i]! /= sum;
      }
      const base = (b * layout.tiles + t) * kMax * nMax;
      for (let j = 0; j < k; j++) {
        let rs = 0;
        for (let i = 0; i < n; i++) rs += P[j * n + i]!;
        for (let i = 0; i < n; i++) {
          p[base + j * nMax + i] = P[j * n + i]!;
          m[base + j * nMax + i] = P[j * n + i]! / rs;
        }
      }
    }
  }
  return { p, m };
}

/** Merged tokens y [B, tokens, C] (tile-major) = M · x per tile. */
export function tomaMergeRef(
  x: Float32Array,
  B: number,
  C: number,
  layout: TileLayout,
  m: Float32Array,
): Float32Array {
  const { kMax, nMax } = layout;
  const y = new Float32Array(B * layout.tokens * C);
  const acc = new Float64Array(C);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < layout.tiles; t++) {
      const tile = layout.tileInfo(t);
      const base = (b * layout.tiles + t) * kMax * nMax;
      for (let j = 0; j < tile.k; j++) {
        acc.fill(0);
        for (let i = 0; i < tile.n; i++) {
          const w = m[base + j * nMax + i]!;
          const xo = (b * layout.n + layout.raster(tile, i)) * C;
          for (let c = 0; c < C; c++) acc[c]! += w * x[xo + c]!;
        }
        y.set(acc, (b * layout.tokens + tile.offset + j) * C);
      }
    }
  }
  return y;
}

/** Unmerged tokens x' [B, N, C] in raster order = Pᵀ · z per tile, z [B, tokens, C] tile-major. */
export function tomaUnmergeRef(
  z: Float32Array,
  B: number,
  C: number,
  layout: TileLayout,
  p: Float32Array,
): Float32Array {
  const { kMax, nMax } = layout;
  const out = new Float32Array(B * layout.n * C);
  const acc = new Float64Array(C);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < layout.tiles; t++) {
      const tile = layout.tileInfo(t);
      const base = (b * layout.tiles + t) * kMax * nMax;
      for (let i = 0; i < tile.n; i++) {
        acc.fill(0);
        for (let j = 0; j < tile.k; j++) {
          const w = p[base + j * nMax + i]!;
          const zo = (b * layout.tokens + tile.offset + j) * C;
          for (let c = 0; c < C; c++) acc[c]! += w * z[zo + c]!;
        }
        out.set(acc, (b * layout.n + layout.raster(tile, i)) * C);
      }
    }
  }
  return out;
}

/**
 * The same maps as dense matrices in raster order: merge [B, tokens, N] (merged = merge · x) and
 * unmerge [B, N, tokens] (unmerged = unmerge · merged).
 */
export function tomaDenseRef(
  layout: TileLayout,
  B: number,
  p: Float32Array,
  m: Float32Array,
): { merge: Float32Array; unmerge: Float32Array } {
  const { kMax, nMax, tokens, n: N } = layout;
  const merge = new Float32Array(B * tokens * N);
  const unmerge = new Float32Array(B * N * tokens);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < layout.tiles; t++) {
      const tile = layout.tileInfo(t);
      const base = (b * layout.tiles + t) * kMax * nMax;
      for (let j = 0; j < tile.k; j++) {
        const row = tile.offset + j;
        for (let i = 0; i < tile.n; i++) {
          const r = layout.raster(tile, i);
          merge[(b * tokens + row) * N + r] = m[base + j * nMax + i]!;
          unmerge[(b * N + r) * tokens + row] = p[base + j * nMax + i]!;
        }
      }
    }
  }
  return { merge, unmerge };
}
