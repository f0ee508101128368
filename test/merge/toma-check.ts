// Test helpers for ToMA selection: tiles whose greedy is decided by rounding (near-ties) cannot be
// compared index for index between implementations, so picks there are checked by replaying the greedy.
import { greedyRef, localDestinations, tileCosinesRef } from '../../src/cpu/toma.js';
import type { TileLayout } from '../../src/merge/tile-layout.js';

/**
 * Replays the greedy (f64) with the given picks of one tile: each pick must be new and its gain within
 * eps of the best gain given the earlier picks. Returns a description of the first violation, or null.
 */
export function replayGreedy(S: Float64Array, n: number, picks: number[], eps: number): string | null {
  const cover = new Float64Array(n);
  const chosen = new Set<number>();
  for (const [step, pick] of picks.entries()) {
    if (chosen.has(pick)) return `step ${step} picks ${pick} again`;
    const gain = (i: number) => {
      let g = 0;
      for (let j = 0; j < n; j++) g += step === 0 ? S[i * n + j]! : Math.max(0, S[i * n + j]! - cover[j]!);
      return g;
    };
    let best = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < n; i++) if (!chosen.has(i)) best = Math.max(best, gain(i));
    if (gain(pick) < best - eps) return `step ${step} picks ${pick} with gain ${gain(pick)} < best ${best}`;
    chosen.add(pick);
    for (let j = 0; j < n; j++)
      cover[j] = step === 0 ? S[pick * n + j]! : Math.max(cover[j]!, S[pick * n + j]!);
  }
  return null;
}

export interface SelectionComparison {
  /** Tiles (b * tiles + t) compared index for index. */
  exact: number;
  /** Near-tie tiles checked by replay. */
  replayed: number;
  /** Near-tie tiles where the picks differ from the reference. */
  differing: number;
  errors: string[];
}

/**
 * Compares destinations `got` with the f64 reference greedy on x: tiles where every step's gap exceeds
 * tieEps must match exactly; the others must be a valid greedy run within tieEps.
 */
export function compareSelection(
  x: Float32Array,
  B: number,
  C: number,
  layout: TileLayout,
  got: Uint32Array,
  tieEps: number,
): SelectionComparison {
  const r: SelectionComparison = { exact: 0, replayed: 0, differing: 0, errors: [] };
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < layout.tiles; t++) {
      const tile = layout.tileInfo(t);
      const S = tileCosinesRef(x, C, layout, tile, b);
      const want = greedyRef(S, tile.n, tile.k);
      let picks: number[];
      try {
        picks = localDestinations(got, b, layout, tile);
      } catch (e) {
        r.errors.push((e as Error).message);
        continue;
      }
      const same = picks.every((p, j) => p === want.picks[j]);
      if (want.gaps.every((g) => g > tieEps)) {
        r.exact++;
        if (!same) r.errors.push(`b${b} tile ${t}: picks ${picks} != reference ${want.picks} (no near-tie)`);
      } else {
        r.replayed++;
        if (!same) r.differing++;
        const err = replayGreedy(S, tile.n, picks, tieEps);
        if (err) r.errors.push(`b${b} tile ${t}: ${err}`);
      }
    }
  }
  return r;
}
