// The two key layouts of the same UNet weights: diffusers (unet/diffusion_pytorch_model.safetensors:
// down_blocks.1.attentions.0...., the names the model code uses) and the original Stability "SGM" layout
// of single-file releases (sd_xl_base_1.0.safetensors: model.diffusion_model.input_blocks.4.1....; the
// prefix may be stripped). The mapping follows from the structure: the SGM UNet numbers its input
// blocks consecutively (conv_in, then per level its resnets (+ transformer) and a downsampler) and its
// output blocks likewise (per up level, layers_per_block + 1 resnets, the last with the upsampler).
// Inside a transformer both layouts use the same names.
import { WeightError, type WeightSource } from '../weights.js';

export type UnetLayout = 'diffusers' | 'sgm';

/** Maps the model's (diffusers) key to the key stored in the checkpoint. */
export interface UnetKeys {
  layout: UnetLayout;
  /** Prefix of every stored key ("model.diffusion_model." in single-file SGM releases, else ""). */
  prefix: string;
  stored(key: string): string;
}

export const SGM_PREFIX = 'model.diffusion_model.';

/** The layout and key prefix of a UNet checkpoint. */
export function detectUnetLayout(src: WeightSource): { layout: UnetLayout; prefix: string } {
  if (src.has('conv_in.weight')) return { layout: 'diffusers', prefix: '' };
  if (src.has(`${SGM_PREFIX}input_blocks.0.0.weight`)) return { layout: 'sgm', prefix: SGM_PREFIX };
  if (src.has('input_blocks.0.0.weight')) return { layout: 'sgm', prefix: '' };
  throw new WeightError(
    `${src.path}: tensor "conv_in.weight" (diffusers layout) or "${SGM_PREFIX}input_blocks.0.0.weight" (single-file layout) is missing (a UNet checkpoint needs one of them)`,
  );
}

// resnet sub-module names: diffusers -> SGM
const RESNET: Record<string, string> = {
  norm1: 'in_layers.0',
  conv1: 'in_layers.2',
  time_emb_proj: 'emb_layers.1',
  norm2: 'out_layers.0',
  conv2: 'out_layers.3',
  conv_shortcut: 'skip_connection',
};

/**
 * The SGM name (without prefix) of a diffusers key, for a UNet with `layersPerBlock` resnets per down
 * level. `has` tells whether an SGM key (without prefix) exists: it decides where an up block's
 * upsampler sits (index 1 without a transformer, 2 with one).
 */
export function sgmName(key: string, layersPerBlock: number, has: (sgmKey: string) => boolean): string {
  const per = layersPerBlock + 1; // SGM blocks per level: down = resnets + downsampler, up = resnets
  const resnet = (rest: string) => {
    const m = /^([a-z_0-9]+)\.(.*)$/.exec(rest);
    const sub = m && RESNET[m[1]!];
    return sub ? `${sub}.${m![2]}` : rest;
  };
  let m = /^conv_in\.(.*)$/.exec(key);
  if (m) return `input_blocks.0.0.${m[1]}`;
  m = /^time_embedding\.linear_([12])\.(.*)$/.exec(key);
  if (m) return `time_embed.${m[1] === '1' ? 0 : 2}.${m[2]}`;
  m = /^add_embedding\.linear_([12])\.(.*)$/.exec(key);
  if (m) return `label_emb.0.${m[1] === '1' ? 0 : 2}.${m[2]}`;
  m = /^down_blocks\.(\d+)\.resnets\.(\d+)\.(.*)$/.exec(key);
  if (m) return `input_blocks.${per * Number(m[1]) + Number(m[2]) + 1}.0.${resnet(m[3]!)}`;
  m = /^down_blocks\.(\d+)\.attentions\.(\d+)\.(.*)$/.exec(key);
  if (m) return `input_blocks.${per * Number(m[1]) + Number(m[2]) + 1}.1.${m[3]}`;
  m = /^down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)$/.exec(key);
  if (m) return `input_blocks.${per * (Number(m[1]) + 1)}.0.op.${m[2]}`;
  m = /^mid_block\.resnets\.([01])\.(.*)$/.exec(key);
  if (m) return `middle_block.${m[1] === '0' ? 0 : 2}.${resnet(m[2]!)}`;
  m = /^mid_block\.attentions\.0\.(.*)$/.exec(key);
  if (m) return `middle_block.1.${m[1]}`;
  m = /^up_blocks\.(\d+)\.resnets\.(\d+)\.(.*)$/.exec(key);
  if (m) return `output_blocks.${per * Number(m[1]) + Number(m[2])}.0.${resnet(m[3]!)}`;
  m = /^up_blocks\.(\d+)\.attentions\.(\d+)\.(.*)$/.exec(key);
  if (m) return `output_blocks.${per * Number(m[1]) + Number(m[2])}.1.${m[3]}`;
  m = /^up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.*)$/.exec(key);
  if (m) {
    const block = per * Number(m[1]) + layersPerBlock;
    const slot = has(`output_blocks.${block}.1.norm.weight`) ? 2 : 1;
    return `output_blocks.${block}.${slot}.conv.${m[2]}`;
  }
  m = /^conv_norm_out\.(.*)$/.exec(key);
  if (m) return `out.0.${m[1]}`;
  m = /^conv_out\.(.*)$/.exec(key);
  if (m) return `out.2.${m[1]}`;
  return key;
}

/**
 * layers_per_block of an SGM checkpoint: the first downsampler ("input_blocks.N.0.op") sits at
 * N = layers_per_block + 1. A UNet of one level has none: then the resnets are counted.
 */
export function sgmLayersPerBlock(src: WeightSource, prefix: string): number {
  const re = new RegExp(`^${escapeRegExp(prefix)}input_blocks\\.(\\d+)\\.0\\.op\\.weight$`);
  let first = Number.POSITIVE_INFINITY;
  for (const k of src.keys()) {
    const m = re.exec(k);
    if (m) first = Math.min(first, Number(m[1]));
  }
  if (Number.isFinite(first)) return first - 1;
  let n = 0;
  while (src.has(`${prefix}input_blocks.${n + 1}.0.in_layers.0.weight`)) n++;
  return n;
}

export function unetKeys(src: WeightSource): UnetKeys {
  const { layout, prefix } = detectUnetLayout(src);
  if (layout === 'diffusers') return { layout, prefix, stored: (k) => prefix + k };
  const lpb = sgmLayersPerBlock(src, prefix);
  const has = (k: string) => src.has(prefix + k);
  return { layout, prefix, stored: (k) => prefix + sgmName(k, lpb, has) };
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
