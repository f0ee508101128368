// DoubleStreamBlock: image and text keep their own weights and meet only in the joint attention.
//   per stream: (shift1, scale1, gate1, shift2, scale2, gate2) = lin(silu(vec))
//               x = LN(stream)·(1 + scale1) + shift1 -> qkv -> heads, QK RMSNorm, RoPE
//   attention of each stream's queries over keys/values [text | image]
//   per stream: stream += gate1 · proj(attn);  stream += gate2 · mlp(LN(stream)·(1 + scale2) + shift2)
// Token reduction (src/merge/hooks.ts): the plan sees the modulated image stream; a merge plan shortens
// the image queries/keys/values and the image attention output is unmerged before the projection; a kv
// plan shortens only the image keys/values (after RoPE).
import type { Tensor } from '../../tensor.js';
import { blockRanges, jointAttention, toHeads } from './attention.js';
import type { ForwardContext } from './context.js';
import { gateOf, type ModulationOut, modulated, modulation } from './modulation.js';
import type { DoubleBlockWeights, Linear } from './weights.js';

/** stream + gate2 · mlp(modulated LN(stream)), with both the gate and the residual in the last matmul. */
function mlpResidual(
  ctx: ForwardContext,
  x: Tensor,
  mlp: { 0: Linear; 2: Linear },
  m: ModulationOut,
): Tensor {
  const { be } = ctx;
  const h = be.matmul(modulated(ctx, x, m), mlp[0].weight, {
    bias: mlp[0].bias,
    activation: 'gelu_tanh',
  });
  return be.matmul(h, mlp[2].weight, { bias: mlp[2].bias, ...gateOf(m), residual: x });
}

export function doubleBlock(
  ctx: ForwardContext,
  w: DoubleBlockWeights,
  index: number,
  img: Tensor,
  txt: Tensor,
): { img: Tensor; txt: Tensor } {
  const { be } = ctx;
  const [im1, im2] = modulation(ctx, w.img_mod.lin, 2) as [ModulationOut, ModulationOut];
  const [tm1, tm2] = modulation(ctx, w.txt_mod.lin, 2) as [ModulationOut, ModulationOut];
  const imgMod = modulated(ctx, img, im1);
  const txtMod = modulated(ctx, txt, tm1);

  const plan = ctx.reducer.block('double', index, imgMod);
  const merge = plan?.kind === 'merge' ? plan : null;
  const imgIn = merge ? merge.merge(imgMod) : imgMod;
  const imgTable = merge ? merge.rope(ctx.tables.img) : ctx.tables.img;

  const txtQkv = linear(ctx, txtMod, w.txt_attn.qkv);
  const imgQkv = linear(ctx, imgIn, w.img_attn.qkv);
  let t: ReturnType<typeof toHeads>;
  let k: Tensor;
  let v: Tensor;
  let qImg: Tensor;
  if (plan?.kind === 'kv') {
    // the image keys/values shrink after RoPE, so they cannot be written into the joint buffer directly
    t = toHeads(ctx, txtQkv, w.txt_attn.norm, ctx.tables.txt);
    const i = toHeads(ctx, imgQkv, w.img_attn.norm, imgTable);
    const small = plan.downsampleKV(i.k, i.v);
    k = be.concat([t.k, small.k], 2);
    v = be.concat([t.v, small.v], 2);
    qImg = i.q;
  } else {
    const B = txtMod.dim(0);
    const Lt = txtMod.dim(1);
    const H = ctx.config.num_heads;
    const D = ctx.config.hidden_size / H;
    k = be.empty([B, H, Lt + imgIn.dim(1), D], txtMod.dtype);
    v = be.empty([B, H, Lt + imgIn.dim(1), D], txtMod.dtype);
    t = toHeads(ctx, txtQkv, w.txt_attn.norm, ctx.tables.txt, { k, v, offset: 0 });
    qImg = toHeads(ctx, imgQkv, w.img_attn.norm, imgTable, { k, v, offset: Lt }).q;
  }
  const ranges = blockRanges(ctx, 'double', index, imgIn.dim(1), plan?.kind === 'kv');
  const attn = jointAttention(ctx, ranges, t.q, qImg, k, v);
  const imgAttn = merge ? merge.unmerge(attn.img) : attn.img;

  const p = w.img_attn.proj;
  img = be.matmul(imgAttn, p.weight, { bias: p.bias, ...gateOf(im1), residual: img });
  img = mlpResidual(ctx, img, w.img_mlp, im2);
  const tp = w.txt_attn.proj;
  txt = be.matmul(attn.txt, tp.weight, { bias: tp.bias, ...gateOf(tm1), residual: txt });
  txt = mlpResidual(ctx, txt, w.txt_mlp, tm2);
  return { img, txt };
}

function linear(ctx: ForwardContext, x: Tensor, l: Linear): Tensor {
  return ctx.be.matmul(x, l.weight, { bias: l.bias });
}
