// How token-reduction methods plug into a UNet forward pass (SD / SDXL). The hook point is each
// BasicTransformerBlock's self-attention input, where ToMeSD, ToDo and ToMA act on UNets:
//
//   n1 = norm1(x)                       x: the block's tokens [B, N, C], N = h·w of the level's grid
//   plan = reducer.block(site, n1)      site: the block's level, grid and stable index
//   merge:  the whole block runs on merged tokens: xm = plan.merge(x), attn1 on plan.merge(n1),
//           then attn2 (cross-attention to the text) and the feed-forward on the merged stream ym;
//           x_out = x + plan.unmerge(ym - xm)  (the block's residual delta, unmerged)
//   kv:     attn1's keys and values [B, H, N, D] are replaced by plan.downsampleKV(k, v); queries,
//           attn2 and the feed-forward stay full length
// Text tokens (the cross-attention keys) are never reduced. Tokens are in raster order of the grid.
import type { Tensor } from '../tensor.js';
import type { KVReducePlan } from './hooks.js';

/** One BasicTransformerBlock of the UNet, as the hooks see it. */
export interface UnetBlockSite {
  /** Stable index of the block in forward order (down blocks, mid block, up blocks), 0-based. */
  index: number;
  /** Resolution level: 0 is the full latent resolution; each level halves the grid. */
  level: number;
  /** The token grid [rows, cols] of the level, for the latent size of this forward. */
  grid: readonly [number, number];
  stage: 'down' | 'mid' | 'up';
  /** The Transformer2DModel holding the block (its diffusers key prefix) and the block's place in it. */
  module: string;
  layer: number;
  channels: number;
  heads: number;
}

export interface UnetForwardInfo {
  /** Sampling step index (0-based) and total steps; a single forward outside sampling is step 0 of 1. */
  step: number;
  steps: number;
  batch: number;
  /** The latent grid [rows, cols] (level 0). */
  latent: readonly [number, number];
  /** Cross-attention (text) tokens. */
  textTokens: number;
}

/** The block on fewer tokens: merge, run, unmerge the block's delta. */
export interface UnetMergePlan {
  kind: 'merge';
  /** Tokens after merging. */
  tokens: number;
  /** [B, N, C] -> [B, tokens, C] */
  merge(x: Tensor): Tensor;
  /** [B, tokens, C] -> [B, N, C] */
  unmerge(y: Tensor): Tensor;
}

export type UnetBlockPlan = UnetMergePlan | KVReducePlan;

export interface UnetTokenReducer {
  readonly name: string;
  beginForward(info: UnetForwardInfo): void;
  /** The plan for one block, or null to run it dense. n1 is the block's normalised input [B, N, C]. */
  block(site: UnetBlockSite, n1: Tensor): UnetBlockPlan | null;
  endForward(): void;
  dispose(): void;
}

/** No reduction: every block dense. */
export const denseUnet: UnetTokenReducer = {
  name: 'dense',
  beginForward() {},
  block() {
    return null;
  },
  endForward() {},
  dispose() {},
};
