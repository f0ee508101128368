// How much of dense attention a sparse pattern does: attention FLOPs are proportional to the number of
// (query, key) pairs a kernel visits, so dense pairs / visited pairs bounds the attention speedup.
import { SHARED } from './pattern.js';

export interface PatternCost {
  /** Query-key pairs visited. */
  visited: number;
  /** Lq * Lk. */
  dense: number;
  /** visited / dense. */
  fraction: number;
  /** dense / visited: the attention speedup upper bound. */
  speedupBound: number;
}

function cost(visited: number, dense: number): PatternCost {
  return { visited, dense, fraction: visited / dense, speedupBound: dense / visited };
}

/** Pairs a kernel visits with a key-range table ([ceil(Lq / blockSize), maxRanges, 2]) over Lk keys. */
export function keyRangeCost(
  ranges: Uint32Array,
  maxRanges: number,
  blockSize: number,
  Lq: number,
  Lk: number,
): PatternCost {
  const nb = Math.ceil(Lq / blockSize);
  if (ranges.length !== nb * maxRanges * 2) {
    throw new RangeError(`keyRangeCost(): ${ranges.length} values for ${nb} blocks of ${maxRanges} ranges`);
  }
  let visited = 0;
  for (let b = 0; b < nb; b++) {
    const rows = Math.min(Lq, (b + 1) * blockSize) - b * blockSize;
    let keys = 0;
    for (let r = 0; r < maxRanges; r++) {
      const s = Math.min(ranges[(b * maxRanges + r) * 2]!, Lk);
      const e = Math.min(ranges[(b * maxRanges + r) * 2 + 1]!, Lk);
      if (e > s) keys += e - s;
    }
    visited += rows * keys;
  }
  return cost(visited, Lq * Lk);
}

/** Pairs allowed by the exact pattern given the class of every position (see pattern.ts). */
export function exactPatternCost(cls: Int32Array): PatternCost {
  const L = cls.length;
  let shared = 0;
  const tileSize = new Map<number, number>();
  for (const c of cls) {
    if (c === SHARED) shared++;
    else tileSize.set(c, (tileSize.get(c) ?? 0) + 1);
  }
  let visited = shared * L;
  for (const n of tileSize.values()) visited += n * (shared + n);
  return cost(visited, L * L);
}
