// How token-reduction methods plug into a transformer forward pass. The model calls these hooks at the
// reference hook points (see shared/docs/toma.md); methods (ToMA, ToMeSD, ToDo) implement them.
//
// FLUX (TokenReducer):
// Double-stream block:  x = modulate(norm(img))  ->  plan = hooks.block('double', i, x)
//   merge:   x' = plan.merge(x)  -> QKV of x' ; image RoPE rows = plan.rope(table)
//            attention over [txt | merged img] ; img_attn = plan.unmerge(img_attn) before the output projection
//   kv:      q, k, v of the full sequence (after RoPE); image keys/values replaced by plan.downsampleKV(k_img, v_img)
// Single-stream block:  x = modulate(norm([txt | img]))  ->  plan = hooks.block('single', i, x_img)
//   merge:   the whole block runs on [txt | plan.merge(x_img)]; the image part of its output is unmerged
//            before the gate and the residual
//   kv:      as above
//
// UNet, SD / SDXL (UnetTokenReducer): each BasicTransformerBlock of the Transformer2D models,
//   x the block's tokens [B, N, C] (N = the level's h·w grid, raster order), n1 = norm1(x),
//   plan = reducer.block(site, n1, x); src/merge/unet-block.ts applies it (reducedTransformerBlock):
//   scope 'self-attention' (ToMeSD's default, ToDo):
//     merge: x += unmerge(attn1(merge(n1))); attn1's output projection runs on the merged tokens (equal to
//            running it after the unmerge: the unmerge is linear and each token's weights sum to 1, so the
//            bias passes through; ToMeSD projects after the unmerge, at N/(N-r) times the cost)
//     kv:    attn1's queries from n1, its keys/values reduced by plan.downsampleKV (ToDo)
//     then cross-attention and feed-forward at full length, as dense.
//   scope 'block' (ToMA's default for UNets): xm = merge(x) (the residual stream); the whole block
//     (norm1, attn1, attn2 with the full text context, FF) runs on xm giving ym; x += unmerge(ym - xm).
//     Selection similarity still comes from n1 = norm1(x), the block's normalised input, as in Flux.
// Text tokens are never merged (in a UNet they are only cross-attention keys/values).
import type { KeyRanges } from '../backend.js';
import type { Tensor } from '../tensor.js';

export interface ForwardInfo {
  /** Sampling step index (0-based) and total steps; a single forward outside sampling is step 0 of 1. */
  step: number;
  steps: number;
  batch: number;
  /** Image token grid (rows, cols); image tokens are in raster order. */
  grid: readonly [number, number];
  textTokens: number;
}

/** Shorter token sequence for a block: merge, run, unmerge (what a UNet block needs). */
export interface TokenMerge {
  kind: 'merge';
  /** Image tokens after merging. */
  tokens: number;
  /** [B, N, C] -> [B, tokens, C] */
  merge(x: Tensor): Tensor;
  /** [B, tokens, C] -> [B, N, C] */
  unmerge(y: Tensor): Tensor;
  /** Optional fused form of residual + unmerge(z) (residual [B, N, C]); methods without it get the composition. */
  unmergeAdd?(z: Tensor, residual: Tensor): Tensor;
}

/** A merge plan for a Flux block: the UNet form plus RoPE rows and the joint [text | image] forms. */
export interface TokenMergePlan extends TokenMerge {
  /** RoPE table rows for the merged tokens: [B, N, P, 2] -> [B, tokens, P, 2]. */
  rope(table: Tensor): Tensor;
  /**
   * Optional fused forms for a joint [text | image] sequence (single-stream blocks), each equal to its
   * composition: mergeJoint(h, T) = [h's first T rows | merge(the rest)], and unmergeJointAdd(z, T, r) =
   * r + [z's first T rows | unmerge(the rest)]. Methods without them get the composition.
   */
  mergeJoint?(h: Tensor, textRows: number): Tensor;
  unmergeJointAdd?(z: Tensor, textRows: number, residual: Tensor): Tensor;
}

/** Fewer image keys/values only (queries stay full length), e.g. ToDo. */
export interface KVReducePlan {
  kind: 'kv';
  /** k, v [B, H, N, D] (image part, RoPE applied) -> [B, H, N', D] each. */
  downsampleKV(k: Tensor, v: Tensor): { k: Tensor; v: Tensor };
}

export type BlockPlan = TokenMergePlan | KVReducePlan;

export interface TokenReducer {
  /** Name for logs and tables ('dense', 'toma', 'tomesd', 'todo', ...). */
  readonly name: string;
  /** Called at the start of each forward pass. */
  beginForward(info: ForwardInfo): void;
  /**
   * The plan for one block, or null to run it dense. xImg is the block's normalised, modulated image
   * stream [B, N, C] (what selection uses for similarity).
   */
  block(kind: 'double' | 'single', index: number, xImg: Tensor): BlockPlan | null;
  /** Called at the end of each forward pass (frees per-pass state). */
  endForward(): void;
  /** Frees everything (state reused across steps too). */
  dispose(): void;
}

/** No reduction: every block dense. */
export const dense: TokenReducer = {
  name: 'dense',
  beginForward() {},
  block() {
    return null;
  },
  endForward() {},
  dispose() {},
};

/**
 * A sparse attention pattern (e.g. HilbertA). The model reorders image tokens once per forward (after the
 * image embedding, RoPE rows along with them) and restores raster order once before the output head;
 * each block's joint attention over [txt | img] may be restricted to per-query-block key ranges.
 */
export interface AttentionPattern {
  readonly name: string;
  /** order[d] = raster index of the image token placed at position d, or null to keep raster order. */
  imageOrder(info: ForwardInfo): Uint32Array | null;
  /**
   * Key ranges for one block's attention over a sequence of textTokens + imageTokens positions (image
   * part in imageOrder), or null for dense attention. imageTokens is smaller than the grid when the
   * block runs on merged tokens.
   */
  keyRanges(
    kind: 'double' | 'single',
    index: number,
    info: ForwardInfo,
    imageTokens: number,
  ): KeyRanges | null;
  dispose(): void;
}

// ---- UNet (SD / SDXL) ----

export type UnetPath = 'down' | 'mid' | 'up';

/** Where a UNet merge plan acts (see the top of this file). */
export type UnetScope = 'self-attention' | 'block';

export interface UnetForwardInfo {
  /** Sampling step index (0-based) and total steps; a single forward outside sampling is step 0 of 1. */
  step: number;
  steps: number;
  batch: number;
  /** The latent token grid [rows, cols] (level 0). */
  latent: readonly [number, number];
  /**
   * The levels that hold transformer blocks, ascending (SD 1.x: 0, 1, 2; SDXL: 1, 2). The methods'
   * default levels are defined in terms of them (e.g. ToMeSD: the highest-resolution one).
   */
  attentionLevels: readonly number[];
}

/** One BasicTransformerBlock of the UNet, as the hooks see it. */
export interface UnetBlockSite {
  /** Resolution level: 0 is the full latent resolution; each level halves the grid (rounding up). */
  level: number;
  /** The level's token grid [rows, cols]; the block's tokens are in raster order over it. */
  grid: readonly [number, number];
  /** Index over all transformer blocks in execution order (down, mid, up), 0-based. */
  index: number;
  path: UnetPath;
}

/** A plan for a UNet block: a merge (no RoPE in a UNet) or fewer self-attention keys/values. */
export type UnetBlockPlan = TokenMerge | KVReducePlan;

export interface UnetTokenReducer {
  /** Name for logs and tables ('dense', 'toma', 'tomesd', 'todo'). */
  readonly name: string;
  /** Where a merge plan acts in the block (a kv plan always acts in self-attention). */
  readonly scope: UnetScope;
  /** Called at the start of each UNet forward pass. */
  beginForward(info: UnetForwardInfo): void;
  /**
   * The plan for one transformer block, or null to run it dense. n1 = norm1(x) [B, N, C] is what ToMA
   * measures similarity on; x is the block's input (its residual stream), what ToMeSD matches on.
   */
  block(site: UnetBlockSite, n1: Tensor, x: Tensor): UnetBlockPlan | null;
  /** Called at the end of each forward pass (frees per-pass state). */
  endForward(): void;
  /** Frees everything (state reused across steps too). */
  dispose(): void;
}

/** No reduction: every UNet block dense. */
export const denseUnet: UnetTokenReducer = {
  name: 'dense',
  scope: 'self-attention',
  beginForward() {},
  block() {
    return null;
  },
  endForward() {},
  dispose() {},
};
