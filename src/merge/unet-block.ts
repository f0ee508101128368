// How a UNet BasicTransformerBlock runs under a UnetTokenReducer (the contract in src/merge/hooks.ts).
// The model supplies the block's three pieces; this file decides where merging happens, so every UNet
// (and the tests' toy blocks) applies plans the same way.
import type { Backend } from '../backend.js';
import type { Tensor } from '../tensor.js';
import type { KVReducePlan, TokenMerge, UnetBlockSite, UnetTokenReducer } from './hooks.js';

/** A BasicTransformerBlock split where the reducers act; each piece works on any number of tokens. */
export interface UnetBlockParts {
  /** norm1(x) (LayerNorm). */
  norm1(x: Tensor): Tensor;
  /**
   * Self-attention (attn1 with its output projection) on its normalised input n [B, n, C]; plus
   * residual when one is given (fused into the projection's epilogue where the model can). With a kv
   * plan, the projected key and value heads go through plan.downsampleKV before the attention.
   */
  selfAttention(n: Tensor, residual: Tensor | null, kv: KVReducePlan | null): Tensor;
  /** Cross-attention to the text and the feed-forward, with their norms and residuals: h -> h'. */
  rest(h: Tensor): Tensor;
}

/** residual + merge.unmerge(z), fused where the method has it. */
export function unmergeAdd(be: Backend, merge: TokenMerge, z: Tensor, residual: Tensor): Tensor {
  if (merge.unmergeAdd) return merge.unmergeAdd(z, residual);
  return be.add(residual, merge.unmerge(z));
}

/**
 * One transformer block on x [B, N, C] (N = site.grid's tokens) with the reducer's plan applied:
 *   dense:                     h = x + attn1(n1);                        out = rest(h)
 *   kv plan:                   h = x + attn1(n1, reduced keys/values);   out = rest(h)
 *   merge, 'self-attention':   h = x + unmerge(attn1(merge(n1)));        out = rest(h)
 *   merge, 'block':            xm = merge(x); ym = rest(xm + attn1(norm1(xm)));  out = x + unmerge(ym - xm)
 * with n1 = norm1(x), the input of the reducer's selection.
 */
export function reducedTransformerBlock(
  be: Backend,
  reducer: UnetTokenReducer,
  site: UnetBlockSite,
  x: Tensor,
  parts: UnetBlockParts,
): Tensor {
  const n1 = parts.norm1(x);
  const plan = reducer.block(site, n1, x);
  if (!plan || plan.kind === 'kv') return parts.rest(parts.selfAttention(n1, x, plan));
  if (reducer.scope === 'self-attention')
    return parts.rest(unmergeAdd(be, plan, parts.selfAttention(plan.merge(n1), null, null), x));
  const xm = plan.merge(x);
  const ym = parts.rest(parts.selfAttention(parts.norm1(xm), xm, null));
  return unmergeAdd(be, plan, be.add(ym, be.scale(xm, -1)), x);
}
