// What a Flux transformer checkpoint of a given config holds in either key layout (key -> shape), and
// the diffusers transformer/config.json, for writing random-weight model folders.
import { type FluxConfig, headDim } from './config.js';
import { canonicalShapes, type KeyLayout, sourcesFor, storedShapes } from './layouts.js';

export function fluxStoredShapes(c: FluxConfig, layout: KeyLayout): Map<string, number[]> {
  const canon = canonicalShapes(c);
  const m = new Map<string, number[]>();
  for (const [k, src] of sourcesFor(c, layout))
    for (const { key, shape } of storedShapes(src, canon.get(k)!)) m.set(key, shape);
  return m;
}

/** transformer/config.json as diffusers writes it for FluxTransformer2DModel (mlp_ratio 4, theta 10000 and qkv biases are fixed there). */
export function fluxDiffusersConfigJson(c: FluxConfig): Record<string, unknown> {
  if (c.mlp_ratio !== 4 || c.theta !== 10000 || !c.qkv_bias)
    throw new RangeError(
      'the diffusers Flux config fixes mlp_ratio 4, theta 10000 and qkv biases; this config differs',
    );
  return {
    _class_name: 'FluxTransformer2DModel',
    attention_head_dim: headDim(c),
    axes_dims_rope: c.axes_dim,
    guidance_embeds: c.guidance_embed,
    in_channels: c.in_channels,
    out_channels: c.out_channels,
    joint_attention_dim: c.context_in_dim,
    num_attention_heads: c.num_heads,
    num_layers: c.depth,
    num_single_layers: c.depth_single_blocks,
    patch_size: 1,
    pooled_projection_dim: c.vec_in_dim,
  };
}
