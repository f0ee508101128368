// ToMA as a TokenReducer: at the first reduced block of each group (Flux: double-stream, single-stream;
// UNet: one path at one level) the destinations and merge weights are computed from that block's
// normalised image tokens (one fused kernel) and shared by every later block of the group; merge /
// unmerge / RoPE rows use them.
import type { Tensor } from '../tensor.js';
import type { TokenMergePlan } from './hooks.js';
import { type BlockRequest, type GroupName, type GroupState, ScheduledReducer } from './scheduled-reducer.js';
import { TileLayout } from './tile-layout.js';
import {
  tomaMerge,
  tomaMergeJoint,
  tomaRope,
  tomaSelectAndWeigh,
  tomaUnmerge,
  tomaUnmergeJointAdd,
  tomaWeights,
} from './toma.js';

class TomaGroup implements GroupState {
  constructor(
    readonly chosenAt: number,
    readonly layout: TileLayout,
    readonly dst: Tensor,
    public p: Tensor,
    public m: Tensor,
    public weighedAt: number,
  ) {}
  dispose(): void {
    this.dst.dispose();
    this.p.dispose();
    this.m.dispose();
  }
}

/** A destination set just chosen (see TomaReducer.onDestinations). */
export interface DestinationEvent {
  /** The block group ('double' / 'single' in Flux, 'down:1', 'mid:2', ... in a UNet). */
  kind: GroupName;
  /** Sampling step and block index of the group's first reduced block, where the set was chosen. */
  step: number;
  block: number;
  /** u32 [B, tokens]: raster index of each merged token's destination (tile-major, pick order). */
  dst: Tensor;
  layout: TileLayout;
}

/** Destinations as lastDestinations() returns them. */
export interface ChosenDestinations {
  /** u32 [batch, layout.tokens]: the raster index of each merged token's destination (tile-major). */
  indices: Uint32Array;
  batch: number;
  layout: TileLayout;
  /** The sampling step and block group they were chosen at. */
  step: number;
  kind: GroupName;
}

interface Remembered {
  dst: Tensor;
  layout: TileLayout;
  step: number;
}

export class TomaReducer extends ScheduledReducer<TomaGroup> {
  readonly name = 'toma';
  /** Layouts by grid (a UNet has one grid per level). */
  private layouts = new Map<string, TileLayout>();
  /**
   * Keep each group's latest destinations past endForward() for lastDestinations() (e.g. the browser
   * demo's destination map). Off by default, so that no state outlives a forward unless reused.
   */
  keepDestinations = false;
  /** The latest destinations per group, held by a second handle (a reshape shares the storage). */
  private latest = new Map<GroupName, Remembered>();

  /**
   * With keepDestinations on: the destinations chosen most recently by a block group (default: the
   * Flux double-stream one, else the single-stream one); null before any was chosen. Kept until the next
   * choice or dispose(), so they may be read after sampling ends.
   */
  async lastDestinations(kind?: GroupName): Promise<ChosenDestinations | null> {
    const k = kind ?? (this.latest.has('double') ? 'double' : 'single');
    const r = this.latest.get(k);
    if (!r) return null;
    const indices = await this.be.readU32(r.dst);
    return { indices, batch: r.dst.shape[0]!, layout: r.layout, step: r.step, kind: k };
  }

  override dispose(): void {
    for (const r of this.latest.values()) r.dst.dispose();
    this.latest.clear();
    super.dispose();
  }

  /**
   * Called whenever a group chooses destinations, for inspection (e.g. drawing which tokens were kept).
   * `dst` is owned by the reducer and freed when the group is: to read it later, keep a view of it
   * (`be.keep(be.reshape(e.dst, e.dst.shape))`) and dispose that when done. Unset: no cost.
   */
  onDestinations?: (e: DestinationEvent) => void;

  /** The tile layout for a grid under these options (token counts, tiles). */
  layoutFor(grid: readonly [number, number]): TileLayout {
    const key = `${grid[0]}x${grid[1]}`;
    let l = this.layouts.get(key);
    if (!l) {
      l = new TileLayout(grid[0], grid[1], this.o.tile, this.o.ratio);
      this.layouts.set(key, l);
    }
    return l;
  }

  protected plan(req: BlockRequest): TokenMergePlan | null {
    const { be, o } = this;
    const { group: kind, x, step, index } = req;
    const layout = this.layoutFor(req.grid);
    // A ratio that keeps every token (ratio -> 0) merges nothing: the block runs dense, exactly. The soft
    // assignment at such a ratio would still mix near-duplicate tokens (docs/merging.md), which is not
    // what a user asking for no reduction expects.
    if (layout.tokens === layout.n) return null;
    let g = this.group(kind);
    if (!g) {
      const s = tomaSelectAndWeigh(be, x, layout, o.temperature);
      g = new TomaGroup(step, layout, s.dst, s.p, s.m, step);
      this.setGroup(kind, g, [s.dst, s.p, s.m]);
      this.onDestinations?.({ kind, step, block: index, dst: s.dst, layout });
      if (this.keepDestinations) {
        this.latest.get(kind)?.dst.dispose();
        this.latest.set(kind, { dst: be.keep(be.reshape(s.dst, s.dst.shape)), layout, step });
      }
    } else if (g.weighedAt !== step && !o.reuseWeights) {
      // Destinations from an earlier step, weights from this step's features.
      const w = tomaWeights(be, x, g.dst, layout, o.temperature);
      be.keep(w.p);
      be.keep(w.m);
      g.p.dispose();
      g.m.dispose();
      g.p = w.p;
      g.m = w.m;
      g.weighedAt = step;
    }
    const { dst, p, m } = g;
    return {
      kind: 'merge',
      tokens: layout.tokens,
      merge: (t) => tomaMerge(be, t, m, layout),
      unmerge: (y) => tomaUnmerge(be, y, p, layout),
      unmergeAdd: (z, residual) => tomaUnmergeJointAdd(be, z, p, layout, 0, residual),
      rope: (table) => tomaRope(be, table, dst, layout),
      mergeJoint: (h, textRows) => tomaMergeJoint(be, h, m, layout, textRows),
      unmergeJointAdd: (z, textRows, residual) => tomaUnmergeJointAdd(be, z, p, layout, textRows, residual),
    };
  }
}
