// The autoencoder's decoder configuration and checkpoint key layouts, for Flux's autoencoder (16 latent
// channels) and SDXL's VAE (4 latent channels, a 1x1 post_quant_conv before the decoder). Two layouts
// exist for the same weights: the original release (ae.safetensors, SDXL's single file under
// first_stage_model.: decoder.up.N.block.M...) and diffusers (vae/diffusion_pytorch_model.safetensors:
// decoder.up_blocks.K.resnets.M..., up_blocks in reverse order, Linear attention projections). Code
// uses the original names; layoutKey maps them.
import { AE_LIMITS, checkField, checkLimits } from '../limits.js';
import { WeightError, type WeightSource } from '../weights.js';

export interface AeDecoderConfig {
  z_channels: number;
  out_ch: number;
  /** Channels of each resolution level, level 0 = full resolution (ch * ch_mult[i]). */
  level_channels: number[];
  num_res_blocks: number;
  /** decode(z) runs the decoder on z / scale_factor + shift_factor. */
  scale_factor: number;
  shift_factor: number;
  /** GroupNorm groups (diffusers' norm_num_groups; 32 in both real releases). */
  groups: number;
  eps: number;
  /** A 1x1 convolution of the latent before the decoder (SDXL's VAE; Flux has none). */
  post_quant_conv: boolean;
}

/** Flux.1's latent scaling (the same for dev and schnell). */
export const FLUX_AE_SCALE = { scale_factor: 0.3611, shift_factor: 0.1159 } as const;
/** SDXL's VAE latent scaling (vae/config.json scaling_factor; no shift). */
export const SDXL_VAE_SCALE = { scale_factor: 0.13025, shift_factor: 0 } as const;

/** Where the VAE's latent-space conv is kept (the same in both layouts). */
export const POST_QUANT_CONV = 'post_quant_conv';

export type AeLayout = 'original' | 'diffusers';

export function aeLayout(src: WeightSource): AeLayout {
  if (src.has('decoder.up.0.block.0.conv1.weight')) return 'original';
  if (src.has('decoder.up_blocks.0.resnets.0.conv1.weight')) return 'diffusers';
  throw new WeightError(
    `${src.path}: tensor "decoder.up.0.block.0.conv1.weight" is missing (an autoencoder checkpoint needs it)`,
  );
}

/** The stored key for an original-layout key. */
export function layoutKey(key: string, layout: AeLayout, levels: number): string {
  if (layout === 'original') return key;
  // the mid block and the output norm are named alike in the decoder and the encoder
  let m = /^(decoder|encoder)\.mid\.block_(\d)\.(.*)$/.exec(key);
  if (m) return `${m[1]}.mid_block.resnets.${Number(m[2]) - 1}.${m[3]}`;
  m = /^(decoder|encoder)\.mid\.attn_1\.(norm|q|k|v|proj_out)\.(.*)$/.exec(key);
  if (m) {
    const name = { norm: 'group_norm', q: 'to_q', k: 'to_k', v: 'to_v', proj_out: 'to_out.0' }[m[2]!]!;
    return `${m[1]}.mid_block.attentions.0.${name}.${m[3]}`;
  }
  m = /^decoder\.up\.(\d+)\.block\.(\d+)\.(.*)$/.exec(key);
  if (m) {
    const rest = m[3]!.replace(/^nin_shortcut\./, 'conv_shortcut.');
    return `decoder.up_blocks.${levels - 1 - Number(m[1])}.resnets.${m[2]}.${rest}`;
  }
  m = /^decoder\.up\.(\d+)\.upsample\.conv\.(.*)$/.exec(key);
  if (m) return `decoder.up_blocks.${levels - 1 - Number(m[1])}.upsamplers.0.conv.${m[2]}`;
  // the encoder's down blocks keep their order in both layouts
  m = /^encoder\.down\.(\d+)\.block\.(\d+)\.(.*)$/.exec(key);
  if (m) {
    const rest = m[3]!.replace(/^nin_shortcut\./, 'conv_shortcut.');
    return `encoder.down_blocks.${m[1]}.resnets.${m[2]}.${rest}`;
  }
  m = /^encoder\.down\.(\d+)\.downsample\.conv\.(.*)$/.exec(key);
  if (m) return `encoder.down_blocks.${m[1]}.downsamplers.0.conv.${m[2]}`;
  m = /^(decoder|encoder)\.norm_out\.(.*)$/.exec(key);
  if (m) return `${m[1]}.conv_norm_out.${m[2]}`;
  return key;
}

export function aeDecoderConfig(src: WeightSource, given: Record<string, unknown> = {}): AeDecoderConfig {
  const layout = aeLayout(src);
  const stem = layout === 'original' ? 'decoder.up.' : 'decoder.up_blocks.';
  let levels = 0;
  while (src.has(`${stem}${levels}.${layout === 'original' ? 'block' : 'resnets'}.0.conv1.weight`)) levels++;
  const key = (k: string) => layoutKey(k, layout, levels);
  const shape = (k: string) => {
    const s = key(k);
    if (!src.has(s))
      throw new WeightError(`${src.path}: tensor "${s}" is missing (an autoencoder checkpoint needs it)`);
    return src.info(s).shape;
  };
  let blocks = 0;
  while (src.has(key(`decoder.up.0.block.${blocks}.conv1.weight`))) blocks++;
  const num = (names: string[], fallback: number) => {
    for (const n of names) if (typeof given[n] === 'number') return given[n] as number;
    return fallback;
  };
  // without a config: SDXL's scaling for a VAE with post_quant_conv (Flux's autoencoder has none), else
  // Flux's (null in a config counts as absent)
  const postQuant = src.has(`${POST_QUANT_CONV}.weight`);
  const scaling = postQuant ? SDXL_VAE_SCALE : FLUX_AE_SCALE;
  const c: AeDecoderConfig = {
    z_channels: shape('decoder.conv_in.weight')[1]!,
    out_ch: shape('decoder.conv_out.weight')[0]!,
    level_channels: Array.from(
      { length: levels },
      (_, i) => shape(`decoder.up.${i}.block.0.conv1.weight`)[0]!,
    ),
    num_res_blocks: blocks - 1,
    scale_factor: num(['scale_factor', 'scaling_factor'], scaling.scale_factor),
    shift_factor: num(['shift_factor'], scaling.shift_factor),
    groups: num(['norm_num_groups', 'groups'], 32),
    eps: 1e-6,
    post_quant_conv: postQuant,
  };
  const where = `${src.path}: autoencoder config`;
  const error = (m: string) => new WeightError(m);
  checkLimits(where, { ...c, levels }, AE_LIMITS, error);
  for (const ch of c.level_channels) {
    checkField(where, 'level channels', ch, AE_LIMITS.level_channel!, error);
    if (ch % c.groups !== 0)
      throw new WeightError(
        `${where}: ${ch} channels do not split into ${c.groups} GroupNorm groups (norm_num_groups)`,
      );
  }
  if (given.use_post_quant_conv === true && !c.post_quant_conv)
    throw new WeightError(
      `${src.path}: tensor "${POST_QUANT_CONV}.weight" is missing (the config says use_post_quant_conv)`,
    );
  for (const k of ['scale_factor', 'shift_factor'] as const)
    if (!Number.isFinite(c[k])) throw new WeightError(`${where}: ${k} must be a finite number, got ${c[k]}`);
  if (c.scale_factor === 0)
    throw new WeightError(`${where}: scale_factor must not be 0 (latents are divided by it)`);
  return c;
}

/** The encoder of the same autoencoder (img2img): image -> latent distribution (mean, log-variance). */
export interface AeEncoderConfig {
  in_ch: number;
  /** Latent channels (conv_out makes 2 x z_channels: mean and log-variance). */
  z_channels: number;
  /** Channels of each level, level 0 = full resolution; each level but the last halves the size. */
  level_channels: number[];
  /** ResNet blocks per level (diffusers' layers_per_block). */
  num_res_blocks: number;
  groups: number;
  eps: number;
  /** A 1x1 convolution of the moments after the encoder (SDXL's VAE; Flux has none). */
  quant_conv: boolean;
  /** latents = (mean - shift_factor) * scale_factor, what the sampler starts from. */
  scale_factor: number;
  shift_factor: number;
}

export const QUANT_CONV = 'quant_conv';

export function aeEncoderLayout(src: WeightSource): AeLayout {
  if (src.has('encoder.down.0.block.0.conv1.weight')) return 'original';
  if (src.has('encoder.down_blocks.0.resnets.0.conv1.weight')) return 'diffusers';
  throw new WeightError(
    `${src.path}: tensor "encoder.down.0.block.0.conv1.weight" is missing (an autoencoder's encoder needs it)`,
  );
}

export function aeEncoderConfig(src: WeightSource, given: Record<string, unknown> = {}): AeEncoderConfig {
  const layout = aeEncoderLayout(src);
  let levels = 0;
  const first = (i: number) => layoutKey(`encoder.down.${i}.block.0.conv1.weight`, layout, 0);
  while (src.has(first(levels))) levels++;
  const shape = (k: string) => {
    const s = layoutKey(k, layout, levels);
    if (!src.has(s))
      throw new WeightError(`${src.path}: tensor "${s}" is missing (an autoencoder's encoder needs it)`);
    return src.info(s).shape;
  };
  let blocks = 0;
  while (src.has(layoutKey(`encoder.down.0.block.${blocks}.conv1.weight`, layout, levels))) blocks++;
  const num = (names: string[], fallback: number) => {
    for (const n of names) if (typeof given[n] === 'number') return given[n] as number;
    return fallback;
  };
  const quant = src.has(`${QUANT_CONV}.weight`);
  const scaling = quant ? SDXL_VAE_SCALE : FLUX_AE_SCALE;
  const moments = shape('encoder.conv_out.weight')[0]!;
  const where = `${src.path}: autoencoder encoder config`;
  if (moments % 2 !== 0)
    throw new WeightError(
      `${where}: encoder.conv_out makes ${moments} channels, expected 2 x the latent channels`,
    );
  const c: AeEncoderConfig = {
    in_ch: shape('encoder.conv_in.weight')[1]!,
    z_channels: moments / 2,
    level_channels: Array.from(
      { length: levels },
      (_, i) => shape(`encoder.down.${i}.block.0.conv1.weight`)[0]!,
    ),
    num_res_blocks: blocks,
    groups: num(['norm_num_groups', 'groups'], 32),
    eps: 1e-6,
    quant_conv: quant,
    scale_factor: num(['scale_factor', 'scaling_factor'], scaling.scale_factor),
    shift_factor: num(['shift_factor'], scaling.shift_factor),
  };
  const error = (m: string) => new WeightError(m);
  checkLimits(
    where,
    { z_channels: c.z_channels, levels, num_res_blocks: c.num_res_blocks, groups: c.groups },
    AE_LIMITS,
    error,
  );
  for (const ch of c.level_channels) {
    checkField(where, 'level channels', ch, AE_LIMITS.level_channel!, error);
    if (ch % c.groups !== 0)
      throw new WeightError(
        `${where}: ${ch} channels do not split into ${c.groups} GroupNorm groups (norm_num_groups)`,
      );
  }
  if (!Number.isFinite(c.scale_factor) || c.scale_factor === 0 || !Number.isFinite(c.shift_factor))
    throw new WeightError(`${where}: scale_factor must be finite and non-zero, shift_factor finite`);
  if (given.use_quant_conv === true && !quant)
    throw new WeightError(
      `${src.path}: tensor "${QUANT_CONV}.weight" is missing (the config says use_quant_conv)`,
    );
  return c;
}
