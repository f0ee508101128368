// The UNet's building blocks on channels-last tensors, as diffusers computes them:
//   ResnetBlock2D:      h = conv1(silu(GN(x))) + time_emb_proj(silu(temb)); out = conv2(silu(GN(h))) + shortcut(x)
//   Transformer2DModel: x + proj_out(blocks(proj_in(GN(x)))) over the h·w tokens (GN eps 1e-6)
//   BasicTransformerBlock (LayerNorms eps 1e-5):
//     x += attn1(norm1(x)); x += attn2(norm2(x), text); x += ff(norm3(x)), ff = net.2(GEGLU(net.0.proj(·)))
//   Downsample2D: conv 3x3 stride 2 padding 1;  Upsample2D: nearest 2x (or to the skip's size), conv 3x3.
// Fused where the backend allows: GroupNorm + SiLU, conv + bias + residual, matmul + bias + residual,
// q|k|v in one matmul and one heads launch. The time projection is added with modulate() (x·1 + shift,
// a per-batch, per-channel shift).
import type { Backend } from '../../backend.js';
import type { UnetBlockSite, UnetForwardInfo, UnetTokenReducer } from '../../merge/hooks.js';
import { reducedTransformerBlock, type UnetBlockParts } from '../../merge/unet-block.js';
import type { Tensor } from '../../tensor.js';
import type { UnetConfig } from './config.js';
import type { Conv, ResnetWeights, Transformer2DWeights, TransformerBlockWeights } from './weights.js';

/** diffusers' BasicTransformerBlock LayerNorms (Transformer2DModel's norm_eps default; the UNet does not set it). */
export const LAYER_NORM_EPS = 1e-5;
/** Transformer2DModel's GroupNorm. */
export const TRANSFORMER_GROUP_NORM_EPS = 1e-6;

export interface UnetContext {
  be: Backend;
  config: UnetConfig;
  info: UnetForwardInfo;
  reducer: UnetTokenReducer;
  /** [B, Σ Cout]: every resnet's time_emb_proj(silu(temb)), and zeros of the same shape (modulate's scale). */
  temb: Tensor;
  zeros: Tensor;
  /** encoder_hidden_states [B, Lt, cross_attention_dim]. */
  text: Tensor;
  /** Index tables for resampling, cached by the model. */
  indices(key: string, make: () => Uint32Array, rows: number): Tensor;
}

export function resnet(ctx: UnetContext, w: ResnetWeights, x: Tensor): Tensor {
  const { be, config: c } = ctx;
  const [B, H, W] = x.shape as [number, number, number, number];
  const groups = c.norm_num_groups;
  const eps = c.norm_eps;
  const h1 = be.conv2d(be.groupNorm(x, { groups, eps, ...w.norm1, silu: true }), w.conv1.weight, {
    bias: w.conv1.bias,
  });
  const withTime = be.modulate(be.reshape(h1, [B, H * W, w.cout]), ctx.temb, ctx.zeros, undefined, {
    shift: w.tembColumn,
    scale: 0,
  });
  const h2 = be.groupNorm(be.reshape(withTime, [B, H, W, w.cout]), { groups, eps, ...w.norm2, silu: true });
  const shortcut = w.shortcut ? be.matmul(x, w.shortcut.weight, { bias: w.shortcut.bias }) : x;
  return be.conv2d(h2, w.conv2.weight, { bias: w.conv2.bias, residual: shortcut });
}

/** Transformer2DModel on x [B, H, W, C]; `sites` are its blocks' hook sites, in order. */
export function transformer2d(
  ctx: UnetContext,
  w: Transformer2DWeights,
  x: Tensor,
  sites: readonly UnetBlockSite[],
): Tensor {
  const { be, config: c } = ctx;
  const [B, H, W, C] = x.shape as [number, number, number, number];
  const n = be.groupNorm(x, { groups: c.norm_num_groups, eps: TRANSFORMER_GROUP_NORM_EPS, ...w.norm });
  let h = be.matmul(be.reshape(n, [B, H * W, C]), w.projIn.weight, { bias: w.projIn.bias });
  n.dispose();
  w.blocks.forEach((bw, i) => {
    const next = be.tidy(() => transformerBlock(ctx, w, bw, h, sites[i]!));
    h.dispose();
    h = next;
  });
  const out = be.matmul(h, w.projOut.weight, {
    bias: w.projOut.bias,
    residual: be.reshape(x, [B, H * W, C]),
  });
  return be.reshape(out, [B, H, W, C]);
}

/**
 * One BasicTransformerBlock on x [B, N, C] with the token-reduction hook at its self-attention input
 * (src/merge/hooks.ts): reducedTransformerBlock (src/merge/unet-block.ts) asks the reducer for a plan
 * and runs the pieces below on full, merged or key/value-reduced tokens.
 */
export function transformerBlock(
  ctx: UnetContext,
  t: Transformer2DWeights,
  w: TransformerBlockWeights,
  x: Tensor,
  site: UnetBlockSite,
): Tensor {
  return reducedTransformerBlock(ctx.be, ctx.reducer, site, x, blockParts(ctx, t, w));
}

/** The block's pieces, each on any number of tokens. */
function blockParts(ctx: UnetContext, t: Transformer2DWeights, w: TransformerBlockWeights): UnetBlockParts {
  const { be } = ctx;
  const heads = t.heads;
  const headDim = t.channels / heads;
  return {
    norm1: (x) => be.layerNorm(x, { ...w.norm1, eps: LAYER_NORM_EPS }),
    selfAttention(n1, residual, kv) {
      // one q|k|v matmul: with a kv plan the projected key/value heads are pooled (projecting pooled
      // tokens apart would cost more than the fused projection saves)
      const self = be.qkvHeads(be.matmul(n1, w.qkv), { heads, headDim });
      const { k, v } = kv ? kv.downsampleKV(self.k, self.v) : self;
      const o = w.attn1Out;
      return be.matmul(be.attention(self.q, k, v), o.weight, {
        bias: o.bias,
        ...(residual ? { residual } : {}),
      });
    },
    rest(h) {
      // cross-attention to the text (never reduced)
      const n2 = be.layerNorm(h, { ...w.norm2, eps: LAYER_NORM_EPS });
      const q2 = be.heads(be.matmul(n2, w.q2), { heads, headDim, column: 0 });
      const kv2 = be.matmul(ctx.text, w.kv2);
      const k2 = be.heads(kv2, { heads, headDim, column: 0 });
      const v2 = be.heads(kv2, { heads, headDim, column: t.channels });
      const h2 = be.matmul(be.attention(q2, k2, v2), w.attn2Out.weight, {
        bias: w.attn2Out.bias,
        residual: h,
      });
      // GEGLU feed-forward
      const n3 = be.layerNorm(h2, { ...w.norm3, eps: LAYER_NORM_EPS });
      const g = be.geglu(be.matmul(n3, w.ffProj.weight, { bias: w.ffProj.bias }));
      return be.matmul(g, w.ffOut.weight, { bias: w.ffOut.bias, residual: h2 });
    },
  };
}

/** Downsample2D: 3x3 convolution, stride 2, padding 1 -> [B, ceil(H/2), ceil(W/2), C]. */
export function downsample(ctx: UnetContext, conv: Conv, x: Tensor): Tensor {
  return ctx.be.conv2d(x, conv.weight, { bias: conv.bias, stride: 2 });
}

/**
 * Upsample2D to [B, Ht, Wt, C]: nearest-neighbour, then the 3x3 convolution. Ht, Wt are the next skip's
 * size: exactly 2H, 2W for latents that are multiples of 2^(levels-1) (fused into the convolution),
 * else PyTorch's nearest rule for an explicit size (source index floor(i · in/out) in f32).
 */
export function upsample(ctx: UnetContext, conv: Conv, x: Tensor, Ht: number, Wt: number): Tensor {
  const { be } = ctx;
  const [B, H, W, C] = x.shape as [number, number, number, number];
  if (Ht === 2 * H && Wt === 2 * W) return be.conv2d(x, conv.weight, { bias: conv.bias, upsample: true });
  const idx = ctx.indices(
    `up:${B}x${H}x${W}->${Ht}x${Wt}`,
    () => {
      const rows = nearestSource(H, Ht);
      const cols = nearestSource(W, Wt);
      const one = new Uint32Array(Ht * Wt);
      for (let y = 0; y < Ht; y++)
        for (let xx = 0; xx < Wt; xx++) one[y * Wt + xx] = rows[y]! * W + cols[xx]!;
      return one;
    },
    B,
  );
  const resized = be.reshape(be.gather(be.reshape(x, [B, H * W, C]), idx), [B, Ht, Wt, C]);
  const out = be.conv2d(resized, conv.weight, { bias: conv.bias });
  resized.dispose();
  return out;
}

/** PyTorch's nearest source index for each of `out` positions from `size` (upsample_nearest with a size). */
export function nearestSource(size: number, out: number): Uint32Array {
  const src = new Uint32Array(out);
  const scale = Math.fround(size / out);
  for (let i = 0; i < out; i++) {
    if (out === size) src[i] = i;
    else if (out === 2 * size) src[i] = i >> 1;
    else src[i] = Math.min(Math.floor(Math.fround(i * scale)), size - 1);
  }
  return src;
}
