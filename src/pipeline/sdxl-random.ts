// Random-weight SDXL: folders in both layouts users have, and components built in memory.
//   diffusers:   unet/, text_encoder/ (CLIP-L), text_encoder_2/ (CLIP-G with text_projection), vae/
//                (decoder and post_quant_conv), tokenizer/ + tokenizer_2/ (one synthetic CLIP BPE
//                vocabulary; the second pads with "!" as SDXL's does), scheduler/ (SDXL base's Euler
//                config), model_index.json (StableDiffusionXLPipeline, force_zeros_for_empty_prompt)
//   single-file: sd_xl_base_1.0.safetensors with the release's own naming (model.diffusion_model.* SGM
//                UNet, conditioner.embedders.0.transformer.* CLIP-L, conditioner.embedders.1.model.*
//                OpenCLIP bigG, first_stage_model.* VAE decoder) and the two tokenizer folders beside it
// Key names and shapes come from the model code's own shape maps (models/unet, clip, ae), so the loaders
// read these folders like real ones. Values follow the shared initialisation rule
// (models/random-weights.ts) per key and seed: randomSdxlComponents(preset, { seed, onDevice: false })
// gives exactly the models a diffusers folder written with that seed loads to.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from '../backend.js';
import { AeDecoder } from '../models/ae/decoder.js';
import { aeConfigJson, aeDecoderShapes } from '../models/ae/shapes.js';
import type { ClipTextConfig } from '../models/clip/config.js';
import { clipConfigJson, clipTextShapes } from '../models/clip/shapes.js';
import { ClipTextModel } from '../models/clip/text-model.js';
import { countingSource } from '../models/counting-source.js';
import { RandomWeightSource } from '../models/random-weights.js';
import { SDXL_SINGLE_FILE_PREFIX } from '../models/sdxl-single-file.js';
import { UnetModel } from '../models/unet/model.js';
import { unetConfigJson, unetShapes } from '../models/unet/shapes.js';
import type { ComputeDType, WeightSource } from '../models/weights.js';
import { SDXL_SCHEDULER_CONFIG } from '../schedulers/discrete.js';
import { clipTokenizerJson } from '../text/load-tokenizer.js';
import { syntheticClipTokenizer } from '../text/synthetic-tokenizers.js';
import { PromptTokenizer } from '../text/tokenizer.js';
import { type RandomFolderResult, writeRandomFolder } from './random-folder.js';
import {
  checkSdxlFit,
  checkSdxlTokenizer,
  type LoadProgress,
  type SdxlComponents,
  type SdxlSizes,
} from './sdxl-components.js';
import type { SdxlPipelinePreset } from './sdxl-presets.js';

/** SDXL's prompt length (both tokenizers). */
export const SDXL_MAX_LENGTH = 77;

/** The single-file release's name, as the layout finds it. */
export const SDXL_SINGLE_FILE_NAME = 'sd_xl_base_1.0.safetensors';

/** scheduler/scheduler_config.json as SDXL base 1.0 ships it. */
export const SDXL_SCHEDULER_JSON = {
  _class_name: SDXL_SCHEDULER_CONFIG.class_name,
  _diffusers_version: '0.19.0.dev0',
  beta_end: SDXL_SCHEDULER_CONFIG.beta_end,
  beta_schedule: SDXL_SCHEDULER_CONFIG.beta_schedule,
  beta_start: SDXL_SCHEDULER_CONFIG.beta_start,
  clip_sample: false,
  interpolation_type: 'linear',
  num_train_timesteps: SDXL_SCHEDULER_CONFIG.num_train_timesteps,
  prediction_type: SDXL_SCHEDULER_CONFIG.prediction_type,
  sample_max_value: 1.0,
  set_alpha_to_one: false,
  skip_prk_steps: true,
  steps_offset: SDXL_SCHEDULER_CONFIG.steps_offset,
  timestep_spacing: SDXL_SCHEDULER_CONFIG.timestep_spacing,
  trained_betas: null,
  use_karras_sigmas: false,
};

/** The sizes the pipeline checks, from a preset. */
export function presetSizes(p: SdxlPipelinePreset): SdxlSizes {
  const u = p.unet;
  return {
    unet: {
      inChannels: u.in_channels,
      outChannels: u.out_channels,
      contextWidth: u.cross_attention_dim,
      pooledWidth: u.projection_class_embeddings_input_dim - 6 * u.addition_time_embed_dim,
      sampleSize: 128,
      downsamplings: u.block_out_channels.length - 1,
    },
    clipL: { hidden: p.clipL.hidden_size, vocab: p.clipL.vocab_size },
    clipG: {
      hidden: p.clipG.hidden_size,
      pooled: p.clipG.projection_dim ?? p.clipG.hidden_size,
      vocab: p.clipG.vocab_size,
    },
    vae: { latentChannels: p.vae.z_channels, scale: 2 ** (p.vae.level_channels.length - 1) },
  };
}

/**
 * OpenCLIP's text tower names and shapes (what SDXL's single file keeps under conditioner.embedders.1.model.):
 * q, k, v fused into attn.in_proj_*, fc1 / fc2 as mlp.c_fc / c_proj, text_projection stored [hidden, P].
 */
export function openClipTextShapes(c: ClipTextConfig): Map<string, number[]> {
  const C = c.hidden_size;
  const I = c.intermediate_size;
  const m = new Map<string, number[]>();
  m.set('token_embedding.weight', [c.vocab_size, C]);
  m.set('positional_embedding', [c.max_position_embeddings, C]);
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = `transformer.resblocks.${i}.`;
    m.set(`${p}ln_1.weight`, [C]);
    m.set(`${p}ln_1.bias`, [C]);
    m.set(`${p}attn.in_proj_weight`, [3 * C, C]);
    m.set(`${p}attn.in_proj_bias`, [3 * C]);
    m.set(`${p}attn.out_proj.weight`, [C, C]);
    m.set(`${p}attn.out_proj.bias`, [C]);
    m.set(`${p}ln_2.weight`, [C]);
    m.set(`${p}ln_2.bias`, [C]);
    m.set(`${p}mlp.c_fc.weight`, [I, C]);
    m.set(`${p}mlp.c_fc.bias`, [I]);
    m.set(`${p}mlp.c_proj.weight`, [C, I]);
    m.set(`${p}mlp.c_proj.bias`, [C]);
  }
  m.set('ln_final.weight', [C]);
  m.set('ln_final.bias', [C]);
  if (c.projection_dim !== undefined) m.set('text_projection', [C, c.projection_dim]);
  return m;
}

const prefixed = (prefix: string, m: Map<string, number[]>) =>
  new Map([...m].map(([k, s]) => [prefix.length && !k.startsWith(prefix) ? prefix + k : k, s]));

/** Every tensor of the single-file release's layout (the VAE's decoder side only). */
export function sdxlSingleFileShapes(p: SdxlPipelinePreset): Map<string, number[]> {
  const P = SDXL_SINGLE_FILE_PREFIX;
  return new Map([
    ...unetShapes(p.unet, 'sgm'), // already under model.diffusion_model.
    ...prefixed(P.clipL, clipTextShapes(p.clipL)),
    ...prefixed(P.clipG, openClipTextShapes(p.clipG)),
    ...prefixed(P.vae, aeDecoderShapes(p.vae, 'original')),
  ]);
}

/** Bytes of weights (f16) a folder of this preset holds: what writing it needs on disk, within a few MB. */
export function randomSdxlFolderBytes(p: SdxlPipelinePreset): number {
  let n = 0;
  for (const s of sdxlSingleFileShapes(p).values()) n += s.reduce((a, b) => a * b, 1) * 2;
  return n;
}

export interface RandomSdxlFolderOptions {
  preset: SdxlPipelinePreset;
  /** 'diffusers' (default) or 'single-file'. */
  layout?: 'diffusers' | 'single-file';
  seed?: number;
  /** Largest shard of a diffusers component, in bytes (default 2 GiB; the single file is never split). */
  shardBytes?: number;
  threads?: number;
  force?: boolean;
  onProgress?: (written: number, total: number) => void;
}

/** The tokenizer files: the same synthetic vocabulary twice, the second padding with "!" (SDXL's tokenizer_2). */
function writeTokenizers(sub: (name: string) => string, p: SdxlPipelinePreset, seed: number): void {
  const tok = syntheticClipTokenizer(p.clipTokenizerVocab, { seed: seed + 7 });
  const json = (path: string, v: unknown) => writeFileSync(path, `${JSON.stringify(v, null, 2)}\n`);
  for (const [name, pad] of [
    ['tokenizer', '<|endoftext|>'],
    ['tokenizer_2', '!'],
  ] as const) {
    const d = sub(name);
    json(join(d, 'vocab.json'), tok.vocab);
    writeFileSync(join(d, 'merges.txt'), tok.merges);
    json(join(d, 'tokenizer_config.json'), { ...tok.config, pad_token: pad });
  }
}

export function writeRandomSdxlFolder(dir: string, o: RandomSdxlFolderOptions): Promise<RandomFolderResult> {
  const p = o.preset;
  const seed = o.seed ?? 0;
  return writeRandomFolder(dir, o, (w) => {
    writeTokenizers((name) => w.sub(name), p, seed);
    if (o.layout === 'single-file') {
      w.file(SDXL_SINGLE_FILE_NAME, sdxlSingleFileShapes(p), {
        comment: 'random weights written by toma-webgpu tools/make-random-sdxl-folder.mjs',
      });
      return;
    }
    w.component('unet', 'diffusion_pytorch_model', unetShapes(p.unet, 'diffusers'), unetConfigJson(p.unet));
    w.component('text_encoder', 'model', clipTextShapes(p.clipL), clipConfigJson(p.clipL));
    w.component('text_encoder_2', 'model', clipTextShapes(p.clipG), clipConfigJson(p.clipG));
    w.component('vae', 'diffusion_pytorch_model', aeDecoderShapes(p.vae, 'diffusers'), aeConfigJson(p.vae));
    w.sub('scheduler');
    w.json('scheduler/scheduler_config.json', SDXL_SCHEDULER_JSON);
    w.json('model_index.json', {
      _class_name: 'StableDiffusionXLPipeline',
      _diffusers_version: '0.19.0.dev0',
      _comment: 'random weights written by toma-webgpu tools/make-random-sdxl-folder.mjs',
      force_zeros_for_empty_prompt: true,
      add_watermarker: null,
      scheduler: ['diffusers', 'EulerDiscreteScheduler'],
      text_encoder: ['transformers', 'CLIPTextModel'],
      text_encoder_2: ['transformers', 'CLIPTextModelWithProjection'],
      tokenizer: ['transformers', 'CLIPTokenizer'],
      tokenizer_2: ['transformers', 'CLIPTokenizer'],
      unet: ['diffusers', 'UNet2DConditionModel'],
      vae: ['diffusers', 'AutoencoderKL'],
    });
  });
}

export interface RandomSdxlComponentOptions {
  /** The seed of the weights and tokenizers (a diffusers folder written with the same seed holds the same ones). */
  seed?: number;
  /** Generate weights on the device (default) or on the host. */
  onDevice?: boolean;
  /** For descriptions, e.g. the preset's name. */
  name?: string;
}

/** SDXL components with random weights (the diffusers folder's keys), built when loaded. */
export function randomSdxlComponents(
  p: SdxlPipelinePreset,
  o: RandomSdxlComponentOptions = {},
): SdxlComponents {
  const seed = o.seed ?? 0;
  const onDevice = o.onDevice ?? true;
  const where = `random ${o.name ?? 'preset'}`;
  const sizes = presetSizes(p);
  checkSdxlFit(sizes, { unet: where, clipL: where, clipG: where, vae: where });
  const source = (what: string, shapes: Map<string, number[]>, onProgress?: LoadProgress): WeightSource => {
    const src = new RandomWeightSource(`${where} ${what}`, shapes, { seed, onDevice });
    return onProgress ? countingSource(src, shapes.keys(), onProgress) : src;
  };
  let tokenizers: [PromptTokenizer, PromptTokenizer] | null = null;
  return {
    description: `${where} (${onDevice ? 'generated on the device' : 'generated on the host'}, seed ${seed})`,
    sizes,
    scheduler: SDXL_SCHEDULER_CONFIG,
    forceZerosForEmptyPrompt: true,
    tokenizers() {
      if (!tokenizers) {
        const t = syntheticClipTokenizer(p.clipTokenizerVocab, { seed: seed + 7 });
        const json = clipTokenizerJson(t.vocab, t.merges);
        const make = (pad: string) =>
          new PromptTokenizer(json, { ...t.config, pad_token: pad }, { maxLength: SDXL_MAX_LENGTH });
        tokenizers = [make('<|endoftext|>'), make('!')];
        checkSdxlTokenizer(tokenizers[0], p.clipL.vocab_size, where, 'the first text encoder');
        checkSdxlTokenizer(tokenizers[1], p.clipG.vocab_size, where, 'the second text encoder');
      }
      return tokenizers;
    },
    loadClipL(be: Backend, dtype: ComputeDType, onProgress?: LoadProgress) {
      return ClipTextModel.load(be, source('CLIP-L', clipTextShapes(p.clipL), onProgress), {
        dtype,
        config: clipConfigJson(p.clipL),
      });
    },
    loadClipG(be, dtype, onProgress) {
      return ClipTextModel.load(be, source('CLIP-G', clipTextShapes(p.clipG), onProgress), {
        dtype,
        config: clipConfigJson(p.clipG),
      });
    },
    loadUnet(be, dtype, onProgress) {
      if (onDevice && !onProgress) return UnetModel.random(be, p.unet, { dtype, seed });
      return UnetModel.load(be, source('UNet', unetShapes(p.unet, 'diffusers'), onProgress), {
        dtype,
        config: unetConfigJson(p.unet),
      });
    },
    loadVae(be, dtype, onProgress) {
      return AeDecoder.load(be, source('VAE', aeDecoderShapes(p.vae, 'diffusers'), onProgress), {
        dtype,
        config: aeConfigJson(p.vae),
      });
    },
  };
}
