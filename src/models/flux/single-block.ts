// SingleStreamBlock on the joint sequence x = [text | image]:
//   (shift, scale, gate) = lin(silu(vec));  h = LN(x)·(1 + scale) + shift
//   linear1(h) = qkv | mlp  ->  attention(heads(qkv), QK RMSNorm, RoPE)
//   x += gate · linear2([attn | gelu(mlp)])
// linear1 and linear2 are stored split (weights.ts), so linear2 runs as two matmuls whose epilogues
// carry the bias, the gate and the residual: x + gate·(gelu(mlp)·W2mᵀ + b) + gate·(attn·W2aᵀ).
// Token reduction (src/merge/hooks.ts): the plan sees the image part of h. A merge plan runs the block
// on [text | merged image]; the block output is unmerged and then added to the full-length residual.
// The gate is applied before the unmerge, which is the same thing for any unmerge that maps tokens the
// same way in every channel (ToMA's Pᵀ, ToMeSD's copies). A kv plan shortens the image keys/values.
import { dense } from '../../merge/hooks.js';
import type { Tensor } from '../../tensor.js';
import { blockRanges, toHeads } from './attention.js';
import type { ForwardContext } from './context.js';
import { gateOf, modulated, modulation } from './modulation.js';
import type { SingleBlockWeights } from './weights.js';

export function singleBlock(ctx: ForwardContext, w: SingleBlockWeights, index: number, x: Tensor): Tensor {
  const { be } = ctx;
  const Lt = ctx.info.textTokens;
  const N = x.dim(1) - Lt;
  const [mod] = modulation(ctx, w.modulation.lin, 1);
  const gate = gateOf(mod!);
  const h = modulated(ctx, x, mod!);

  // The dense reducer never plans, so it is spared the copy of the image rows.
  const hImg = ctx.reducer === dense ? null : be.slice(h, 1, Lt, N);
  const plan = hImg ? ctx.reducer.block('single', index, hImg) : null;
  const merge = plan?.kind === 'merge' ? plan : null;

  // [text | merged image]: one fused launch where the method has it (ToMA), else slice/merge/concat.
  const input = !merge
    ? h
    : merge.mergeJoint
      ? merge.mergeJoint(h, Lt)
      : be.concat([be.slice(h, 1, 0, Lt), merge.merge(hImg!)], 1);
  const table = merge ? be.concat([ctx.tables.txt, merge.rope(ctx.tables.img)], 1) : ctx.tables.joint;
  const l1 = w.linear1;
  const heads = toHeads(ctx, be.matmul(input, l1.qkv.weight, { bias: l1.qkv.bias }), w.norm, table);
  const mlp = be.matmul(input, l1.mlp.weight, { bias: l1.mlp.bias, activation: 'gelu_tanh' });

  let { k, v } = heads;
  if (plan?.kind === 'kv') {
    const small = plan.downsampleKV(be.slice(k, 2, Lt, N), be.slice(v, 2, Lt, N));
    k = be.concat([be.slice(k, 2, 0, Lt), small.k], 2);
    v = be.concat([be.slice(v, 2, 0, Lt), small.v], 2);
  }
  const imageTokens = input.dim(1) - Lt;
  const ranges = blockRanges(ctx, 'single', index, imageTokens, plan?.kind === 'kv');
  const attn = be.attention(heads.q, k, v, ranges ? { keyRanges: ranges } : {});

  const l2 = w.linear2;
  if (!merge) {
    const partial = be.matmul(mlp, l2.mlp.weight, { bias: l2.bias, ...gate, residual: x });
    return be.matmul(attn, l2.attn.weight, { ...gate, residual: partial });
  }
  const gated = be.matmul(attn, l2.attn.weight, {
    ...gate,
    residual: be.matmul(mlp, l2.mlp.weight, { bias: l2.bias, ...gate }),
  });
  if (merge.unmergeJointAdd) return merge.unmergeJointAdd(gated, Lt, x);
  const update = be.concat(
    [be.slice(gated, 1, 0, Lt), merge.unmerge(be.slice(gated, 1, Lt, imageTokens))],
    1,
  );
  return be.add(x, update);
}
