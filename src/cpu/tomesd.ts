// ToMeSD reference (Bolya & Hoffman 2023, bipartite soft matching on a 2x2-stride grid), plain
// TypeScript with f64 math. The WGSL kernels in src/kernels/tomesd_*.wgsl are tested against these.
//
// Partition: in every full 2x2 cell of the H x W grid one token, chosen at random (seeded), is a
// destination (cell order, row-major); all other tokens, odd edge rows/columns included, are sources
// (raster order). Each source is matched to its most cosine-similar destination; the r sources with
// the highest similarity are merged (averaged into their destination together with the destination
// itself), the others stay. Merged sequence: the unmerged sources (most similar first), then every
// destination. Unmerging copies each row back to every token it stands for (rowOf).
import { Rng } from '../util/random.js';
import { NORM_EPS } from './toma.js';

export interface TomesdPartition {
  /** Image tokens (H * W). */
  n: number;
  /** Raster indices of the destinations, one per full 2x2 cell, cells row-major. */
  dst: Uint32Array;
  /** Raster indices of the sources, ascending. */
  src: Uint32Array;
}

/** The random destination per 2x2 cell (seeded; shared by the batch). */
export function tomesdPartition(height: number, width: number, seed: number): TomesdPartition {
  const rng = new Rng(seed);
  const cellsH = Math.floor(height / 2);
  const cellsW = Math.floor(width / 2);
  const dst = new Uint32Array(cellsH * cellsW);
  const isDst = new Uint8Array(height * width);
  for (let cy = 0; cy < cellsH; cy++) {
    for (let cx = 0; cx < cellsW; cx++) {
      const q = rng.int(4);
      const r = (2 * cy + (q >> 1)) * width + 2 * cx + (q & 1);
      dst[cy * cellsW + cx] = r;
      isDst[r] = 1;
    }
  }
  const src = new Uint32Array(height * width - dst.length);
  let s = 0;
  for (let r = 0; r < height * width; r++) if (!isDst[r]) src[s++] = r;
  return { n: height * width, dst, src };
}

function normalisedRows(x: Float32Array, b: number, N: number, C: number, rows: Uint32Array): Float64Array {
  const out = new Float64Array(rows.length * C);
  rows.forEach((r, m) => {
    const base = (b * N + r) * C;
    let ss = 0;
    for (let c = 0; c < C; c++) ss += x[base + c]! * x[base + c]!;
    const inv = 1 / Math.max(Math.sqrt(ss), NORM_EPS);
    for (let c = 0; c < C; c++) out[m * C + c] = x[base + c]! * inv;
  });
  return out;
}

/** For each source: the cosine with its most similar destination and that destination (first on ties). */
export function tomesdMatchRef(
  x: Float32Array,
  B: number,
  C: number,
  part: TomesdPartition,
): { nodeMax: Float32Array; nodeIdx: Uint32Array } {
  const N = part.n;
  const ns = part.src.length;
  const nd = part.dst.length;
  const nodeMax = new Float32Array(B * ns);
  const nodeIdx = new Uint32Array(B * ns);
  for (let b = 0; b < B; b++) {
    const a = normalisedRows(x, b, N, C, part.src);
    const d = normalisedRows(x, b, N, C, part.dst);
    for (let i = 0; i < ns; i++) {
      let best = Number.NEGATIVE_INFINITY;
      let arg = 0;
      for (let j = 0; j < nd; j++) {
        let s = 0;
        for (let c = 0; c < C; c++) s += a[i * C + c]! * d[j * C + c]!;
        if (s > best) {
          best = s;
          arg = j;
        }
      }
      nodeMax[b * ns + i] = best;
      nodeIdx[b * ns + i] = arg;
    }
  }
  return { nodeMax, nodeIdx };
}

/** Everything the merge, unmerge and RoPE steps need; per batch element. */
export interface TomesdPlanData {
  /** Sources merged and tokens kept (N − r). */
  r: number;
  tokens: number;
  /** [B, Nsrc] source indices by descending similarity (ties: lower index first). */
  order: Uint32Array;
  /** [B, N] the merged row each raster token is restored from. */
  rowOf: Uint32Array;
  /** [B, tokens] the raster token whose position (RoPE) each merged row takes. */
  repIdx: Uint32Array;
  /** [B, r] merged sources grouped by destination (destination, then source index ascending). */
  list: Uint32Array;
  /** [B, Ndst] where each destination's group starts in list, and its size (0, 0 when empty). */
  groupStart: Uint32Array;
  groupCount: Uint32Array;
}

export function tomesdPlanRef(
  nodeMax: Float32Array,
  nodeIdx: Uint32Array,
  B: number,
  part: TomesdPartition,
  r: number,
): TomesdPlanData {
  const N = part.n;
  const ns = part.src.length;
  const nd = part.dst.length;
  const unm = ns - r;
  const tokens = N - r;
  const plan: TomesdPlanData = {
    r,
    tokens,
    order: new Uint32Array(B * ns),
    rowOf: new Uint32Array(B * N),
    repIdx: new Uint32Array(B * tokens),
    list: new Uint32Array(B * Math.max(r, 1)),
    groupStart: new Uint32Array(B * nd),
    groupCount: new Uint32Array(B * nd),
  };
  for (let b = 0; b < B; b++) {
    const score = (i: number) => nodeMax[b * ns + i]!;
    const dstOf = (i: number) => nodeIdx[b * ns + i]!;
    const order = Array.from({ length: ns }, (_, i) => i).sort(
      (i, j) => descendingNaNLast(score(i), score(j)) || i - j,
    );
    order.forEach((i, rank) => {
      plan.order[b * ns + rank] = i;
      if (rank >= r) {
        plan.rowOf[b * N + part.src[i]!] = rank - r;
        plan.repIdx[b * tokens + rank - r] = part.src[i]!;
      } else {
        plan.rowOf[b * N + part.src[i]!] = unm + dstOf(i);
      }
    });
    part.dst.forEach((d, j) => {
      plan.rowOf[b * N + d] = unm + j;
      plan.repIdx[b * tokens + unm + j] = d;
    });
    const merged = order.slice(0, r).sort((i, j) => dstOf(i) - dstOf(j) || i - j);
    merged.forEach((i, pos) => {
      plan.list[b * Math.max(r, 1) + pos] = i;
      const d = dstOf(i);
      if (plan.groupCount[b * nd + d] === 0) plan.groupStart[b * nd + d] = pos;
      plan.groupCount[b * nd + d]!++;
    });
  }
  return plan;
}

/**
 * Sort comparator: larger first, NaN after every number (so NaN scores still give a total order, as
 * in tomesd_rank.wgsl); 0 for ties, -0 included (then the caller breaks them by index).
 */
function descendingNaNLast(a: number, b: number): number {
  const na = Number.isNaN(a);
  const nb = Number.isNaN(b);
  if (na || nb) return na === nb ? 0 : na ? 1 : -1;
  return a === b ? 0 : b - a; // a === b first: Infinity - Infinity is NaN
}

/** Merged tokens [B, tokens, C]: unmerged sources, then destinations averaged with their merged sources. */
export function tomesdMergeRef(
  x: Float32Array,
  B: number,
  C: number,
  part: TomesdPartition,
  plan: TomesdPlanData,
): Float32Array {
  const N = part.n;
  const ns = part.src.length;
  const nd = part.dst.length;
  const { r, tokens } = plan;
  const unm = ns - r;
  const y = new Float32Array(B * tokens * C);
  const acc = new Float64Array(C);
  const add = (b: number, raster: number) => {
    const o = (b * N + raster) * C;
    for (let c = 0; c < C; c++) acc[c]! += x[o + c]!;
  };
  for (let b = 0; b < B; b++) {
    for (let u = 0; u < unm; u++) {
      const raster = part.src[plan.order[b * ns + r + u]!]!;
      y.set(x.subarray((b * N + raster) * C, (b * N + raster + 1) * C), (b * tokens + u) * C);
    }
    for (let j = 0; j < nd; j++) {
      acc.fill(0);
      add(b, part.dst[j]!);
      const start = plan.groupStart[b * nd + j]!;
      const count = plan.groupCount[b * nd + j]!;
      for (let q = 0; q < count; q++) add(b, part.src[plan.list[b * Math.max(r, 1) + start + q]!]!);
      const o = (b * tokens + unm + j) * C;
      for (let c = 0; c < C; c++) y[o + c] = acc[c]! / (1 + count);
    }
  }
  return y;
}
