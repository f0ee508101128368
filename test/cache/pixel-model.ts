// A small pixel-space Flux model with random weights and random class conditioning, for the sampler
// (generate()) in step-cache tests: about a tenth of the embedded model's work per token.
import type { Backend } from '../../src/backend.js';
import type { FluxConfig } from '../../src/models/flux/config.js';
import { FluxModel } from '../../src/models/flux/model.js';
import type { ClassConditioning } from '../../src/pipeline/generate.js';
import { Rng } from '../../src/util/random.js';

export const pixelConfig: FluxConfig = {
  in_channels: 12,
  out_channels: 12,
  vec_in_dim: 16,
  context_in_dim: 24,
  hidden_size: 64,
  mlp_ratio: 2.0,
  num_heads: 2,
  depth: 2,
  depth_single_blocks: 3,
  axes_dim: [8, 12, 12],
  theta: 10000,
  qkv_bias: true,
  guidance_embed: false,
};

export function pixelModel(
  be: Backend,
  dtype: 'f32' | 'f16' = 'f32',
): { model: FluxModel; conditioning: ClassConditioning } {
  const model = FluxModel.random(be, pixelConfig, { dtype, seed: 11 });
  const classes = 5;
  const textTokens = 3;
  const r = new Rng(12);
  const conditioning: ClassConditioning = {
    names: ['a', 'b', 'c', 'd', 'null'],
    nullClass: 4,
    txt: r.normals(classes * textTokens * pixelConfig.context_in_dim),
    y: r.normals(classes * pixelConfig.vec_in_dim),
    textTokens,
  };
  return { model, conditioning };
}
