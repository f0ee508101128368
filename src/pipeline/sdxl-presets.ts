// Whole-pipeline configurations for random-weight SDXL setups: SDXL base 1.0's sizes (from the release
// configs in models/configs/stable-diffusion-xl-base-1.0: the UNet, CLIP ViT-L, OpenCLIP ViT-bigG with its
// projection, the 4-channel VAE) and a tiny one for tests, with the tokenizer vocabulary size that goes
// with them. test/pipeline/sdxl-presets.test.ts checks the base preset against the release files.
import { type AeDecoderConfig, SDXL_VAE_SCALE } from '../models/ae/config.js';
import type { ClipTextConfig } from '../models/clip/config.js';
import type { UnetConfig } from '../models/unet/config.js';

export interface SdxlPipelinePreset {
  unet: UnetConfig;
  /** The first text encoder (CLIPTextModel: no projection). */
  clipL: ClipTextConfig;
  /** The second (CLIPTextModelWithProjection: projection_dim set). */
  clipG: ClipTextConfig;
  vae: AeDecoderConfig;
  /** Ids of the CLIP tokenizer both encoders share (CLIP: 49408, the embedding rows). */
  clipTokenizerVocab: number;
}

const SDXL_UNET: UnetConfig = {
  in_channels: 4,
  out_channels: 4,
  conv_in_kernel: 3,
  conv_out_kernel: 3,
  block_out_channels: [320, 640, 1280],
  layers_per_block: 2,
  // transformer_layers_per_block [1, 2, 10] on the CrossAttn levels; DownBlock2D / UpBlock2D at 320
  down_transformer_layers: [
    [0, 0],
    [2, 2],
    [10, 10],
  ],
  up_transformer_layers: [
    [10, 10, 10],
    [2, 2, 2],
    [0, 0, 0],
  ],
  mid_transformer_layers: 10,
  num_attention_heads: [5, 10, 20],
  cross_attention_dim: 2048,
  use_linear_projection: true,
  norm_num_groups: 32,
  norm_eps: 1e-5,
  flip_sin_to_cos: true,
  freq_shift: 0,
  timestep_input_dim: 320,
  time_embed_dim: 1280,
  addition_embed_type: 'text_time',
  addition_time_embed_dim: 256,
  projection_class_embeddings_input_dim: 2816,
};

const CLIP_L: ClipTextConfig = {
  vocab_size: 49408,
  hidden_size: 768,
  intermediate_size: 3072,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  max_position_embeddings: 77,
  layer_norm_eps: 1e-5,
  eos_token_id: 2, // the release's config: the legacy rule (argmax of the ids)
  hidden_act: 'quick_gelu',
};

const CLIP_G: ClipTextConfig = {
  vocab_size: 49408,
  hidden_size: 1280,
  intermediate_size: 5120,
  num_hidden_layers: 32,
  num_attention_heads: 20,
  max_position_embeddings: 77,
  layer_norm_eps: 1e-5,
  eos_token_id: 2,
  hidden_act: 'gelu',
  projection_dim: 1280,
};

const SDXL_VAE: AeDecoderConfig = {
  z_channels: 4,
  out_ch: 3,
  level_channels: [128, 256, 512, 512],
  num_res_blocks: 2,
  ...SDXL_VAE_SCALE,
  groups: 32,
  eps: 1e-6,
  post_quant_conv: true,
};

/**
 * Small dims, SDXL's structure (a DownBlock2D level then a CrossAttn one, text_time, two encoders) and
 * its 64-wide attention heads and 32 norm groups, so that a single file (no configs: those from SDXL's
 * defaults) reads the same.
 */
const TINY: SdxlPipelinePreset = {
  unet: {
    ...SDXL_UNET,
    block_out_channels: [32, 64],
    layers_per_block: 1,
    down_transformer_layers: [[0], [1]],
    up_transformer_layers: [
      [1, 1],
      [0, 0],
    ],
    mid_transformer_layers: 1,
    num_attention_heads: [1, 1],
    cross_attention_dim: 128,
    timestep_input_dim: 32,
    time_embed_dim: 128,
    addition_time_embed_dim: 8,
    projection_class_embeddings_input_dim: 16 + 6 * 8,
  },
  clipL: {
    ...CLIP_L,
    vocab_size: 250,
    hidden_size: 64,
    intermediate_size: 96,
    num_hidden_layers: 2,
    num_attention_heads: 1,
  },
  clipG: {
    ...CLIP_G,
    vocab_size: 250,
    hidden_size: 64,
    intermediate_size: 96,
    num_hidden_layers: 3,
    num_attention_heads: 1,
    projection_dim: 16,
  },
  // four levels: 8 pixels per latent cell, as SDXL's (and TAESDXL's)
  vae: { ...SDXL_VAE, level_channels: [32, 32, 64, 64], num_res_blocks: 1 },
  clipTokenizerVocab: 250,
};

export const SDXL_PRESETS: Record<string, SdxlPipelinePreset> = {
  /** Small dims for tests and SwiftShader. */
  'sdxl-tiny': TINY,
  /** SDXL base 1.0's sizes: UNet 2.57 B parameters, CLIP ViT-L, OpenCLIP ViT-bigG, the VAE's decoder. */
  'sdxl-base': { unet: SDXL_UNET, clipL: CLIP_L, clipG: CLIP_G, vae: SDXL_VAE, clipTokenizerVocab: 49408 },
};

export function sdxlPreset(name: string): SdxlPipelinePreset {
  // an own property only: "constructor" must not find Object's
  const p = Object.hasOwn(SDXL_PRESETS, name) ? SDXL_PRESETS[name] : undefined;
  if (!p) throw new RangeError(`unknown SDXL preset "${name}" (${Object.keys(SDXL_PRESETS).join(', ')})`);
  return structuredClone(p);
}
