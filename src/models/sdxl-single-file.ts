// SDXL's single-file release (sd_xl_base_1.0.safetensors, the original SGM key names) holds every model
// under its own prefix. These views give each loader its model's keys:
//   conditioner.embedders.0.transformer.  CLIP ViT-L, transformers names (text_model....)
//   conditioner.embedders.1.model.        OpenCLIP ViT-bigG, OpenCLIP names (clip/openclip.ts)
//   first_stage_model.                    the VAE, original names (ae/config.ts 'original' layout)
//   model.diffusion_model.                the UNet (original SGM names)
import { OPENCLIP_TEXT_CONFIG, openClipTextSource } from './clip/openclip.js';
import { type MappedSource, prefixedSource } from './source-views.js';
import type { WeightSource } from './weights.js';

export const SDXL_SINGLE_FILE_PREFIX = {
  clipL: 'conditioner.embedders.0.transformer.',
  clipG: 'conditioner.embedders.1.model.',
  vae: 'first_stage_model.',
  unet: 'model.diffusion_model.',
} as const;

/** True when the checkpoint looks like SDXL's single-file release (both text encoders inside). */
export function isSdxlSingleFile(src: WeightSource): boolean {
  return (
    src.has(`${SDXL_SINGLE_FILE_PREFIX.clipG}transformer.resblocks.0.attn.in_proj_weight`) &&
    src.has(`${SDXL_SINGLE_FILE_PREFIX.clipL}text_model.embeddings.token_embedding.weight`)
  );
}

/** SDXL's first text encoder (CLIP ViT-L) in a single file; load it with no config (defaults are CLIP-L's). */
export function sdxlClipLSource(src: WeightSource): MappedSource {
  return prefixedSource(src, SDXL_SINGLE_FILE_PREFIX.clipL, 'the first text encoder (CLIP ViT-L)');
}

/** SDXL's second text encoder (OpenCLIP ViT-bigG) in a single file, under transformers names. */
export function sdxlClipGSource(src: WeightSource): MappedSource {
  return openClipTextSource(src, SDXL_SINGLE_FILE_PREFIX.clipG);
}

/** The config to load sdxlClipGSource with (a single file has no config.json). */
export const SDXL_CLIP_G_CONFIG: Record<string, unknown> = { ...OPENCLIP_TEXT_CONFIG };

/** SDXL's VAE in a single file (original layout: decoder.up.N.block.M..., post_quant_conv). */
export function sdxlVaeSource(src: WeightSource): MappedSource {
  return prefixedSource(src, SDXL_SINGLE_FILE_PREFIX.vae, 'the VAE');
}
