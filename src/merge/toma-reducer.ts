// ToMA as a TokenReducer: at the first reduced block of each group (double-stream, single-stream) the
// destinations and merge weights are computed from that block's normalised image tokens (one fused
// kernel) and shared by every later block of the group; merge / unmerge / RoPE rows use them.
import type { Tensor } from '../tensor.js';
import type { ForwardInfo, TokenMergePlan } from './hooks.js';
import { type BlockKind, type GroupState, ScheduledReducer } from './scheduled-reducer.js';
import { TileLayout } from './tile-layout.js';
import { tomaMerge, tomaRope, tomaSelectAndWeigh, tomaUnmerge, tomaWeights } from './toma.js';

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
  kind: BlockKind;
  /** Sampling step and block index of the group's first reduced block, where the set was chosen. */
  step: number;
  block: number;
  /** u32 [B, tokens]: raster index of each merged token's destination (tile-major, pick order). */
  dst: Tensor;
  layout: TileLayout;
}

export class TomaReducer extends ScheduledReducer<TomaGroup> {
  readonly name = 'toma';
  private layout: TileLayout | null = null;
  /**
   * Called whenever a group chooses destinations, for inspection (e.g. drawing which tokens were kept).
   * `dst` is owned by the reducer and freed when the group is: to read it later, keep a view of it
   * (`be.keep(be.reshape(e.dst, e.dst.shape))`) and dispose that when done. Unset: no cost.
   */
  onDestinations?: (e: DestinationEvent) => void;

  /** The tile layout for a grid under these options (token counts, tiles). */
  layoutFor(grid: readonly [number, number]): TileLayout {
    const l = this.layout;
    if (l && l.height === grid[0] && l.width === grid[1]) return l;
    this.layout = new TileLayout(grid[0], grid[1], this.o.tile, this.o.ratio);
    return this.layout;
  }

  protected plan(kind: BlockKind, x: Tensor, info: ForwardInfo, index: number): TokenMergePlan {
    const { be, o } = this;
    const layout = this.layoutFor(info.grid);
    let g = this.group(kind);
    if (!g) {
      const s = tomaSelectAndWeigh(be, x, layout, o.temperature);
      g = new TomaGroup(info.step, layout, s.dst, s.p, s.m, info.step);
      this.setGroup(kind, g, [s.dst, s.p, s.m]);
      this.onDestinations?.({ kind, step: info.step, block: index, dst: s.dst, layout });
    } else if (g.weighedAt !== info.step && !o.reuseWeights) {
      // Destinations from an earlier step, weights from this step's features.
      const w = tomaWeights(be, x, g.dst, layout, o.temperature);
      be.keep(w.p);
      be.keep(w.m);
      g.p.dispose();
      g.m.dispose();
      g.p = w.p;
      g.m = w.m;
      g.weighedAt = info.step;
    }
    const { dst, p, m } = g;
    return {
      kind: 'merge',
      tokens: layout.tokens,
      merge: (t) => tomaMerge(be, t, m, layout),
      unmerge: (y) => tomaUnmerge(be, y, p, layout),
      rope: (table) => tomaRope(be, table, dst, layout),
    };
  }
}
