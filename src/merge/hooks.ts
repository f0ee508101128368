// How token-reduction methods plug into a transformer forward pass. The model calls these hooks at the
// reference hook points (see shared/docs/toma.md); methods (ToMA, ToMeSD, ToDo) implement them.
//
// Double-stream block:  x = modulate(norm(img))  ->  plan = hooks.block('double', i, x)
//   merge:   x' = plan.merge(x)  -> QKV of x' ; image RoPE rows = plan.rope(table)
//            attention over [txt | merged img] ; img_attn = plan.unmerge(img_attn) before the output projection
//   kv:      q, k, v of the full sequence (after RoPE); image keys/values replaced by plan.downsampleKV(k_img, v_img)
// Single-stream block:  x = modulate(norm([txt | img]))  ->  plan = hooks.block('single', i, x_img)
//   merge:   the whole block runs on [txt | plan.merge(x_img)]; the image part of its output is unmerged
//            before the gate and the residual
//   kv:      as above
// Text tokens are never merged.
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

/** Shorter image sequence for the block: merge, run, unmerge. */
export interface TokenMergePlan {
  kind: 'merge';
  /** Image tokens after merging. */
  tokens: number;
  /** [B, N, C] -> [B, tokens, C] */
  merge(x: Tensor): Tensor;
  /** [B, tokens, C] -> [B, N, C] */
  unmerge(y: Tensor): Tensor;
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
