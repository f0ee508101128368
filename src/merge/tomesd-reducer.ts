// ToMeSD as a TokenReducer (baseline), at the same hook points and on the same schedule as ToMA: the
// random 2x2-cell partition and the matching are computed at the first reduced block of each group and
// shared by the group (matchEveryBlock: in every block, like the original). It removes as many tokens
// as ToMA would at the same ratio and tile (capped at all sources). In a UNet it matches on the block's
// input x, as ToMeSD does (its compute_merge takes the block's hidden states), and merges what the scope
// says (by default norm1(x), attn1's input).
import { tomesdPartition } from '../cpu/tomesd.js';
import type { TokenMergePlan } from './hooks.js';
import { type BlockRequest, type GroupName, type GroupState, ScheduledReducer } from './scheduled-reducer.js';
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

/**
 * The partition's seed for a step and group. Flux's two groups share one partition per step (as before
 * UNets came); UNet groups each draw their own, as ToMeSD draws fresh random destinations in every block.
 */
function mixSeed(seed: number, step: number, group: GroupName): number {
  let s = (seed ^ Math.imul(step + 1, 0x9e3779b1)) >>> 0;
  if (group !== 'double' && group !== 'single')
    for (let i = 0; i < group.length; i++) s = Math.imul(s ^ group.charCodeAt(i), 0x01000193) >>> 0;
  return s;
}

export class TomesdReducer extends ScheduledReducer<TomesdGroup> {
  readonly name = 'tomesd';

  protected plan(req: BlockRequest): TokenMergePlan | null {
    const { be, o } = this;
    const { group: kind, step } = req;
    const x = req.input ?? req.x;
    const [H, W] = req.grid;
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
      const part = uploadPartition(be, tomesdPartition(H, W, mixSeed(o.seed, step, kind)));
      const plan = match(part);
      g = new TomesdGroup(step, part, plan, step);
      this.setGroup(kind, g, [part.src, part.dst]);
    } else if (o.matchEveryBlock || (g.matchedAt !== step && !o.reuseWeights)) {
      const plan = match(g.part);
      for (const k of PLAN_KEYS) g.plan[k].dispose();
      g.plan = plan;
      g.matchedAt = step;
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
