// ToMeSD as a TokenReducer (baseline), at the same hook points and on the same schedule as ToMA: the
// random 2x2-cell partition and the matching are computed at the first reduced block of each group and
// shared by the group (matchEveryBlock: in every block, like the original). It removes as many tokens
// as ToMA would at the same ratio and tile (capped at all sources).
import { tomesdPartition } from '../cpu/tomesd.js';
import type { Tensor } from '../tensor.js';
import type { ForwardInfo, TokenMergePlan } from './hooks.js';
import { type BlockKind, type GroupState, ScheduledReducer } from './scheduled-reducer.js';
import { TileLayout } from './tile-layout.js';
import {
  type TomesdPartitionTensors,
  type TomesdPlan,
  tomesdMatch,
  tomesdMerge,
  tomesdPlan,
  tomesdRope,
  tomesdUnmerge,
  uploadPartition,
} from './tomesd.js';

const PLAN_KEYS = ['order', 'rowOf', 'repIdx', 'list', 'groupStart', 'groupCount'] as const;

class TomesdGroup implements GroupState {
  constructor(
    readonly chosenAt: number,
    readonly part: TomesdPartitionTensors,
    public plan: TomesdPlan,
    public matchedAt: number,
  ) {}
  dispose(): void {
    this.part.src.dispose();
    this.part.dst.dispose();
    for (const k of PLAN_KEYS) this.plan[k].dispose();
  }
}

/** Sources ToMeSD merges to keep ToMA's token count for this grid, tile and ratio. */
export function tomesdMergeCount(height: number, width: number, tile: number, ratio: number): number {
  const sources = height * width - Math.floor(height / 2) * Math.floor(width / 2);
  const removed = height * width - new TileLayout(height, width, tile, ratio).tokens;
  return Math.min(sources, removed);
}

function mixSeed(seed: number, step: number): number {
  return (seed ^ Math.imul(step + 1, 0x9e3779b1)) >>> 0;
}

export class TomesdReducer extends ScheduledReducer<TomesdGroup> {
  readonly name = 'tomesd';

  protected plan(kind: BlockKind, x: Tensor, info: ForwardInfo): TokenMergePlan | null {
    const { be, o } = this;
    const [H, W] = info.grid;
    if (H < 2 || W < 2) return null; // no 2x2 cell, no destination
    const r = tomesdMergeCount(H, W, o.tile, o.ratio);
    if (r === 0) return null; // nothing to merge: the block runs dense, exactly
    const match = (part: TomesdPartitionTensors) =>
      be.tidy(() => {
        const p = tomesdPlan(be, tomesdMatch(be, x, part), part, r);
        for (const k of PLAN_KEYS) be.keep(p[k]);
        return p;
      });
    let g = this.group(kind);
    if (!g) {
      const part = uploadPartition(be, tomesdPartition(H, W, mixSeed(o.seed, info.step)));
      const plan = match(part);
      g = new TomesdGroup(info.step, part, plan, info.step);
      this.setGroup(kind, g, [part.src, part.dst]);
    } else if (o.matchEveryBlock || (g.matchedAt !== info.step && !o.reuseWeights)) {
      const plan = match(g.part);
      for (const k of PLAN_KEYS) g.plan[k].dispose();
      g.plan = plan;
      g.matchedAt = info.step;
    }
    const { part, plan } = g;
    return {
      kind: 'merge',
      tokens: plan.tokens,
      merge: (t) => tomesdMerge(be, t, part, plan),
      unmerge: (y) => tomesdUnmerge(be, y, plan),
      rope: (table) => tomesdRope(be, table, plan),
    };
  }
}
