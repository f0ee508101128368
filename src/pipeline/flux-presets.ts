// Whole-pipeline configurations for random-weight FLUX.1 setups: the released sizes (transformer, T5-XXL,
// CLIP-L, autoencoder) and tiny ones for tests, with the tokenizer vocabulary sizes that go with them.
import type { AeDecoderConfig } from '../models/ae/config.js';
import { FLUX_AE_SCALE } from '../models/ae/config.js';
import type { ClipTextConfig } from '../models/clip/config.js';
import { FLUX_PRESETS, type FluxConfig } from '../models/flux/config.js';
import type { T5Config } from '../models/t5/config.js';

export interface FluxPipelinePreset {
  transformer: FluxConfig;
  t5: T5Config;
  clip: ClipTextConfig;
  ae: AeDecoderConfig;
  /** Ids of the T5 tokenizer (T5: 32100, under the 32128 embedding rows). */
  t5TokenizerVocab: number;
  /** Ids of the CLIP tokenizer (CLIP: 49408, the embedding rows). */
  clipTokenizerVocab: number;
}

const T5_XXL: T5Config = {
  vocab_size: 32128,
  d_model: 4096,
  d_kv: 64,
  d_ff: 10240,
  num_layers: 24,
  num_heads: 64,
  relative_attention_num_buckets: 32,
  relative_attention_max_distance: 128,
  layer_norm_epsilon: 1e-6,
};

const CLIP_L: ClipTextConfig = {
  vocab_size: 49408,
  hidden_size: 768,
  intermediate_size: 3072,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  max_position_embeddings: 77,
  layer_norm_eps: 1e-5,
  eos_token_id: 2, // Flux's text_encoder/config.json: the legacy rule (argmax of the ids)
  hidden_act: 'quick_gelu',
};

const FLUX_AE: AeDecoderConfig = {
  z_channels: 16,
  out_ch: 3,
  level_channels: [128, 256, 512, 512],
  num_res_blocks: 2,
  ...FLUX_AE_SCALE,
  groups: 32,
  eps: 1e-6,
  post_quant_conv: false,
};

const TINY_TRANSFORMER: FluxConfig = {
  in_channels: 64,
  out_channels: 64,
  vec_in_dim: 32,
  context_in_dim: 48,
  hidden_size: 64,
  mlp_ratio: 4,
  num_heads: 2,
  depth: 2,
  depth_single_blocks: 2,
  axes_dim: [8, 12, 12],
  theta: 10000,
  qkv_bias: true,
  guidance_embed: false,
};

const TINY: FluxPipelinePreset = {
  transformer: TINY_TRANSFORMER,
  t5: {
    vocab_size: 384,
    d_model: 48,
    d_kv: 8,
    d_ff: 64,
    num_layers: 2,
    num_heads: 4,
    relative_attention_num_buckets: 32,
    relative_attention_max_distance: 128,
    layer_norm_epsilon: 1e-6,
  },
  clip: {
    vocab_size: 250,
    hidden_size: 32,
    intermediate_size: 64,
    num_hidden_layers: 2,
    num_attention_heads: 2,
    max_position_embeddings: 77,
    layer_norm_eps: 1e-5,
    eos_token_id: 2,
    hidden_act: 'quick_gelu',
  },
  ae: { ...FLUX_AE, level_channels: [32, 32, 64, 64], num_res_blocks: 1 },
  t5TokenizerVocab: 356,
  clipTokenizerVocab: 250,
};

const SCHNELL_FULL: FluxPipelinePreset = {
  transformer: FLUX_PRESETS['flux-schnell']!,
  t5: T5_XXL,
  clip: CLIP_L,
  ae: FLUX_AE,
  t5TokenizerVocab: 32100,
  clipTokenizerVocab: 49408,
};

export const PIPELINE_PRESETS: Record<string, FluxPipelinePreset> = {
  /** Small dims, FLUX.1-schnell style (no guidance embedder): tests, SwiftShader. */
  tiny: TINY,
  /** The same with a guidance embedder (FLUX.1-dev style). */
  'tiny-dev': { ...TINY, transformer: { ...TINY_TRANSFORMER, guidance_embed: true } },
  /** FLUX.1-schnell's sizes: transformer 19 + 38 blocks of 3072, T5-XXL, CLIP-L, the 16-channel autoencoder. */
  'schnell-full': SCHNELL_FULL,
  /** FLUX.1-dev's sizes (the schnell ones plus the guidance embedder). */
  'dev-full': { ...SCHNELL_FULL, transformer: FLUX_PRESETS['flux-dev']! },
};

export function pipelinePreset(name: string): FluxPipelinePreset {
  // an own property only: "constructor" must not find Object's
  const p = Object.hasOwn(PIPELINE_PRESETS, name) ? PIPELINE_PRESETS[name] : undefined;
  if (!p) throw new RangeError(`unknown preset "${name}" (${Object.keys(PIPELINE_PRESETS).join(', ')})`);
  return structuredClone(p);
}
