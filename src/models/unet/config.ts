// The configuration of a UNet2DConditionModel with SD/SDXL's structure (diffusers' config.json names).
// The structure comes from the tensor shapes, which decide it (levels, channels, resnets per level,
// where transformers sit and how deep, widths of the embeddings). What the shapes cannot tell comes
// from the config.json when given, else SDXL's values: heads (64-wide heads, as SDXL's 5/10/20 heads
// of 320/640/1280 channels are), 32 norm groups, eps 1e-5, 256-wide time-id features, cos|sin order.
// Structural fields a config.json gives are checked against the shapes, and options this engine does
// not implement are refused by name.
import { checkField, checkLimits, UNET_LIMITS } from '../limits.js';
import { WeightError, type WeightSource } from '../weights.js';
import { type UnetKeys, unetKeys } from './layouts.js';

export interface UnetConfig {
  in_channels: number;
  out_channels: number;
  conv_in_kernel: number;
  conv_out_kernel: number;
  /** Channels of each resolution level; level 0 is the full latent resolution. */
  block_out_channels: number[];
  /** Resnets per down level (up levels have one more). */
  layers_per_block: number;
  /** Transformer depth after each down resnet, [level][layer]; 0: none (a DownBlock2D level). */
  down_transformer_layers: number[][];
  /** The same for the up blocks in their order (lowest resolution first), layers_per_block + 1 each. */
  up_transformer_layers: number[][];
  /** Depth of the mid block's transformer (between its two resnets). */
  mid_transformer_layers: number;
  /** Attention heads of each level's transformers (diffusers' attention_head_dim holds these for SD/SDXL). */
  num_attention_heads: number[];
  cross_attention_dim: number;
  /** proj_in / proj_out are Linear layers (SDXL) rather than 1x1 convolutions (SD 1.5). */
  use_linear_projection: boolean;
  norm_num_groups: number;
  norm_eps: number;
  flip_sin_to_cos: boolean;
  freq_shift: number;
  /** Width of the sinusoidal timestep features (block_out_channels[0] in diffusers). */
  timestep_input_dim: number;
  time_embed_dim: number;
  /** 'text_time' (SDXL): the pooled text embedding and sinusoidal features of the size/crop ids. */
  addition_embed_type: 'text_time' | null;
  addition_time_embed_dim: number;
  /** Input width of add_embedding: pooled text width + time ids x addition_time_embed_dim. */
  projection_class_embeddings_input_dim: number;
}

/** Head width assumed when no config gives head counts (SDXL: 320/5 = 640/10 = 1280/20 = 64). */
export const DEFAULT_HEAD_DIM = 64;

/** Options of diffusers' UNet2DConditionModel this engine does not run, with the values it supports. */
const FIXED: [string, unknown[]][] = [
  ['center_input_sample', [false]],
  ['time_embedding_type', ['positional']],
  ['class_embed_type', [null]],
  ['num_class_embeds', [null]],
  ['encoder_hid_dim_type', [null]],
  ['encoder_hid_dim', [null]],
  ['resnet_time_scale_shift', ['default']],
  ['resnet_skip_time_act', [false]],
  ['resnet_out_scale_factor', [1]],
  ['mid_block_scale_factor', [1]],
  ['dual_cross_attention', [false]],
  ['only_cross_attention', [false]],
  ['mid_block_only_cross_attention', [null, false]],
  ['attention_type', ['default']],
  ['act_fn', ['silu']],
  ['time_embedding_act_fn', [null]],
  ['timestep_post_act', [null]],
  ['time_cond_proj_dim', [null]],
  ['cross_attention_norm', [null]],
  ['class_embeddings_concat', [false]],
  ['mid_block_type', ['UNetMidBlock2DCrossAttn']],
  ['addition_embed_type', [null, 'text_time']],
];

/** The stored shape of a model key, or a WeightError naming the stored key. */
function shapeOf(src: WeightSource, keys: UnetKeys, key: string): number[] {
  const s = keys.stored(key);
  if (!src.has(s))
    throw new WeightError(`${src.path}: tensor "${s}" is missing (a UNet checkpoint needs it)`);
  return src.info(s).shape;
}

export function unetConfig(src: WeightSource, given: Record<string, unknown> = {}): UnetConfig {
  const keys = unetKeys(src);
  const where = `${src.path}: UNet config`;
  const error = (m: string) => new WeightError(`${where}: ${m}`);
  const has = (k: string) => src.has(keys.stored(k));
  const shape = (k: string) => shapeOf(src, keys, k);
  const count = (stem: string, suffix: string) => {
    let n = 0;
    while (n <= 1000 && has(`${stem}${n}${suffix}`)) n++;
    return n;
  };

  for (const [field, allowed] of FIXED)
    if (field in given && !allowed.some((a) => a === given[field]))
      throw error(
        `${field} = ${JSON.stringify(given[field])} is not supported (this engine runs ${allowed.map((a) => JSON.stringify(a)).join(' or ')})`,
      );

  // ---- structure, from the shapes ----
  const levels = count('down_blocks.', '.resnets.0.conv1.weight');
  if (levels === 0) shape('down_blocks.0.resnets.0.conv1.weight'); // throws: names the missing key
  const lpb = count('down_blocks.0.resnets.', '.conv1.weight');
  checkField(where, 'levels', levels, UNET_LIMITS.levels!, (m) => new WeightError(m));
  checkField(where, 'layers_per_block', lpb, UNET_LIMITS.layers_per_block!, (m) => new WeightError(m));
  const depth = (module: string) =>
    has(`${module}.norm.weight`) ? Math.max(1, count(`${module}.transformer_blocks.`, '.norm1.weight')) : 0;
  const blockDepths = (block: string, resnets: number, what: string) => {
    // (SGM numbers the up blocks' resnets consecutively: there, later blocks' resnets would count too)
    const n = Math.min(
      count(`${block}.resnets.`, '.conv1.weight'),
      keys.layout === 'sgm' ? resnets : Infinity,
    );
    if (n !== resnets) {
      shape(`${block}.resnets.${Math.min(n, resnets - 1)}.conv1.weight`); // names the first missing resnet
      throw error(`${block} has ${n} resnets; ${what} has ${resnets}`);
    }
    const d = Array.from({ length: resnets }, (_, j) => depth(`${block}.attentions.${j}`));
    if (d.some((x) => x === 0) && d.some((x) => x > 0))
      throw error(`${block} has transformers after some of its resnets only (${d.join(', ')})`);
    return d;
  };
  const block_out_channels = Array.from(
    { length: levels },
    (_, i) => shape(`down_blocks.${i}.resnets.0.conv1.weight`)[0]!,
  );
  const down = block_out_channels.map((_, i) =>
    blockDepths(`down_blocks.${i}`, lpb, 'layers_per_block (from down_blocks.0)'),
  );
  const up = block_out_channels.map((_, i) =>
    blockDepths(`up_blocks.${i}`, lpb + 1, 'an up block (layers_per_block + 1)'),
  );
  if (!has('mid_block.resnets.1.conv1.weight')) shape('mid_block.resnets.1.conv1.weight');
  const mid = depth('mid_block.attentions.0');
  if (mid === 0) shape('mid_block.attentions.0.norm.weight'); // the cross-attention mid block is required
  const convIn = shape('conv_in.weight');
  const convOut = shape('conv_out.weight');
  const time1 = shape('time_embedding.linear_1.weight');
  const crossDim = shape('mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight')[1]!;
  const linearProjection = shape('mid_block.attentions.0.proj_in.weight').length === 2;
  const addition = has('add_embedding.linear_1.weight');

  // ---- what a config.json adds ----
  const num = (field: string, fallback: number) => {
    const v = given[field];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number') throw error(`${field} must be a number, got ${JSON.stringify(v)}`);
    return v;
  };
  const perLevel = (field: string): number[] | undefined => {
    const v = given[field];
    if (v === undefined || v === null) return undefined;
    const list = typeof v === 'number' ? block_out_channels.map(() => v) : v;
    if (!Array.isArray(list) || list.length !== levels || list.some((x) => typeof x !== 'number'))
      throw error(`${field} must be a number or ${levels} numbers (one per level), got ${JSON.stringify(v)}`);
    return list as number[];
  };
  // diffusers: num_attention_heads defaults to attention_head_dim, which SD/SDXL configs fill with head counts
  const heads =
    perLevel('num_attention_heads') ??
    perLevel('attention_head_dim') ??
    block_out_channels.map((c, i) => {
      if (c % DEFAULT_HEAD_DIM !== 0 && down[i]!.some((d) => d > 0))
        throw error(
          `cannot tell the head count of level ${i} (${c} channels, not a multiple of ${DEFAULT_HEAD_DIM}); give attention_head_dim in a config.json`,
        );
      return Math.max(1, c / DEFAULT_HEAD_DIM);
    });
  const additionType =
    given.addition_embed_type === undefined ? (addition ? 'text_time' : null) : given.addition_embed_type;
  if ((additionType === 'text_time') !== addition)
    throw error(
      addition
        ? `addition_embed_type is ${JSON.stringify(additionType)} but the checkpoint has add_embedding weights`
        : `addition_embed_type is "text_time" but the checkpoint has no add_embedding weights`,
    );

  const c: UnetConfig = {
    in_channels: convIn[1]!,
    out_channels: convOut[0]!,
    conv_in_kernel: convIn[2]!,
    conv_out_kernel: convOut[2]!,
    block_out_channels,
    layers_per_block: lpb,
    down_transformer_layers: down,
    up_transformer_layers: up,
    mid_transformer_layers: mid,
    num_attention_heads: heads,
    cross_attention_dim: crossDim,
    use_linear_projection: linearProjection,
    norm_num_groups: num('norm_num_groups', 32),
    norm_eps: num('norm_eps', 1e-5),
    flip_sin_to_cos: given.flip_sin_to_cos === undefined ? true : given.flip_sin_to_cos === true,
    freq_shift: num('freq_shift', 0),
    timestep_input_dim: time1[1]!,
    time_embed_dim: time1[0]!,
    addition_embed_type: addition ? 'text_time' : null,
    addition_time_embed_dim: addition ? num('addition_time_embed_dim', 256) : 0,
    projection_class_embeddings_input_dim: addition ? shape('add_embedding.linear_1.weight')[1]! : 0,
  };

  checkAgainstShapes(c, given, error);
  checkUnetConfig(c, where);
  return c;
}

/** Structural fields of a config.json must describe the checkpoint's shapes. */
function checkAgainstShapes(
  c: UnetConfig,
  given: Record<string, unknown>,
  error: (m: string) => Error,
): void {
  const same = (field: string, want: unknown) => {
    if (!(field in given) || given[field] === null) return;
    if (JSON.stringify(given[field]) !== JSON.stringify(want))
      throw error(`${field} is ${JSON.stringify(given[field])} but the weights have ${JSON.stringify(want)}`);
  };
  same('in_channels', c.in_channels);
  same('out_channels', c.out_channels);
  same('block_out_channels', c.block_out_channels);
  same('cross_attention_dim', c.cross_attention_dim);
  same('use_linear_projection', c.use_linear_projection);
  same('conv_in_kernel', c.conv_in_kernel);
  same('conv_out_kernel', c.conv_out_kernel);
  same(
    'projection_class_embeddings_input_dim',
    c.addition_embed_type ? c.projection_class_embeddings_input_dim : null,
  );
  if (typeof given.layers_per_block === 'number') same('layers_per_block', c.layers_per_block);
  const hasAttn = (d: number[]) => d.some((x) => x > 0);
  same(
    'down_block_types',
    c.down_transformer_layers.map((d) => (hasAttn(d) ? 'CrossAttnDownBlock2D' : 'DownBlock2D')),
  );
  same(
    'up_block_types',
    c.up_transformer_layers.map((d) => (hasAttn(d) ? 'CrossAttnUpBlock2D' : 'UpBlock2D')),
  );
  // transformer_layers_per_block: an int or one int per level (diffusers also allows nested lists)
  const t = given.transformer_layers_per_block;
  if (typeof t === 'number' || (Array.isArray(t) && t.every((x) => typeof x === 'number'))) {
    const perLevel = c.block_out_channels.map((_, i) => (typeof t === 'number' ? t : (t as number[])[i]));
    c.down_transformer_layers.forEach((d, i) => {
      if (hasAttn(d) && d.some((x) => x !== perLevel[i]))
        throw error(
          `transformer_layers_per_block is ${JSON.stringify(t)} but the weights of level ${i} have ${d.join(', ')} transformer blocks`,
        );
    });
  }
}

/** Bounds and the backend's constraints (group sizes, even head widths). */
export function checkUnetConfig(c: UnetConfig, where: string): void {
  const error = (m: string) => new WeightError(m);
  // the text_time widths are 0 (unused) in a UNet without that conditioning
  const unused = c.addition_embed_type
    ? {}
    : { addition_time_embed_dim: undefined, projection_class_embeddings_input_dim: undefined };
  checkLimits(where, { ...c, ...unused }, UNET_LIMITS, error);
  checkField(where, 'conv_in_kernel', c.conv_in_kernel, UNET_LIMITS.conv_kernel!, error);
  checkField(where, 'conv_out_kernel', c.conv_out_kernel, UNET_LIMITS.conv_kernel!, error);
  for (const k of [c.conv_in_kernel, c.conv_out_kernel])
    if (k % 2 !== 1) throw error(`${where}: convolution kernels must have odd sizes, got ${k}`);
  const g = c.norm_num_groups;
  if (!Number.isInteger(g) || g < 1 || 256 % g !== 0)
    throw error(`${where}: norm_num_groups must divide 256, got ${g}`);
  const depths = [
    ...c.down_transformer_layers.flat(),
    ...c.up_transformer_layers.flat(),
    c.mid_transformer_layers,
  ];
  for (const d of depths) checkField(where, 'transformer layers', d, UNET_LIMITS.transformer_layers!, error);
  c.block_out_channels.forEach((ch, i) => {
    checkField(where, 'level channels', ch, UNET_LIMITS.level_channel!, error);
    if (ch % g !== 0) throw error(`${where}: level ${i} has ${ch} channels, not a multiple of ${g} groups`);
    const h = c.num_attention_heads[i]!;
    checkField(where, 'heads', h, UNET_LIMITS.heads!, error);
    const hasAttn =
      c.down_transformer_layers[i]!.some((d) => d > 0) ||
      c.up_transformer_layers[c.block_out_channels.length - 1 - i]!.some((d) => d > 0) ||
      i === c.block_out_channels.length - 1;
    if (hasAttn && (ch % h !== 0 || (ch / h) % 2 !== 0))
      throw error(
        `${where}: level ${i} splits ${ch} channels into ${h} heads; the head width must be an even integer`,
      );
  });
  // concatenated skips: every up resnet's input channels are a sum of two levels' channels, each a
  // multiple of the groups (checked above), so the concatenation is too
  if (c.timestep_input_dim % 2 !== 0 || (c.addition_embed_type && c.addition_time_embed_dim % 2 !== 0))
    throw error(`${where}: sinusoidal embedding widths must be even`);
}

/** Heads and head width of a level's transformers. */
export function levelHeads(c: UnetConfig, level: number): { heads: number; headDim: number } {
  const heads = c.num_attention_heads[level]!;
  return { heads, headDim: c.block_out_channels[level]! / heads };
}

/**
 * The structure a diffusers unet/config.json describes, without weights (random-weight models and
 * folders, benchmarks): the same fields unetConfig() reads from the shapes, from diffusers' rules
 * (time embedding 4 x block_out_channels[0] unless time_embedding_dim; the last down level has no
 * downsampler; up blocks mirror the down blocks).
 */
export function unetConfigFromJson(j: Record<string, unknown>, where = 'UNet config.json'): UnetConfig {
  const error = (m: string) => new WeightError(`${where}: ${m}`);
  for (const [field, allowed] of FIXED)
    if (field in j && !allowed.some((a) => a === j[field]))
      throw error(`${field} = ${JSON.stringify(j[field])} is not supported`);
  const numbers = (v: unknown, what: string): number[] => {
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'number'))
      throw error(`${what} must be a list of numbers, got ${JSON.stringify(v)}`);
    return v as number[];
  };
  const channels = numbers(j.block_out_channels, 'block_out_channels');
  const L = channels.length;
  checkField(where, 'levels', L, UNET_LIMITS.levels!, error);
  const lpb = j.layers_per_block ?? 2;
  if (typeof lpb !== 'number') throw error(`layers_per_block must be a number (one for all levels)`);
  const types = (v: unknown, what: string, attn: string, plain: string): boolean[] => {
    if (!Array.isArray(v) || v.length !== L || v.some((t) => t !== attn && t !== plain))
      throw error(`${what} must be ${L} of ${attn} / ${plain}, got ${JSON.stringify(v)}`);
    return v.map((t) => t === attn);
  };
  const downAttn = types(j.down_block_types, 'down_block_types', 'CrossAttnDownBlock2D', 'DownBlock2D');
  const upAttn = types(j.up_block_types, 'up_block_types', 'CrossAttnUpBlock2D', 'UpBlock2D');
  const perLevel = (v: unknown, what: string, fallback: number): (number | number[])[] => {
    if (v === undefined || v === null) return channels.map(() => fallback);
    if (typeof v === 'number') return channels.map(() => v);
    if (!Array.isArray(v) || v.length !== L)
      throw error(`${what} must be a number or ${L} values, got ${JSON.stringify(v)}`);
    return v as (number | number[])[];
  };
  const layersOf = (v: number | number[], n: number, what: string): number[] => {
    const d = typeof v === 'number' ? Array.from({ length: n }, () => v) : v;
    if (!Array.isArray(d) || d.length !== n || d.some((x) => typeof x !== 'number'))
      throw error(`${what} must give ${n} depths, got ${JSON.stringify(v)}`);
    return d;
  };
  const tl = perLevel(j.transformer_layers_per_block, 'transformer_layers_per_block', 1);
  const down = tl.map((v, i) =>
    downAttn[i] ? layersOf(v, lpb, 'transformer_layers_per_block') : Array(lpb).fill(0),
  );
  const reverse = j.reverse_transformer_layers_per_block;
  const upDepths = reverse
    ? perLevel(reverse, 'reverse_transformer_layers_per_block', 1)
    : [...tl].reverse().map((v) => (typeof v === 'number' ? v : Math.max(...v)));
  const up = upDepths.map((v, u) =>
    upAttn[u] ? layersOf(v, lpb + 1, 'reverse_transformer_layers_per_block') : Array(lpb + 1).fill(0),
  );
  const last = tl[L - 1]!;
  const heads = perLevel(j.num_attention_heads ?? j.attention_head_dim, 'attention_head_dim', 8) as number[];
  const cross = j.cross_attention_dim ?? 1280;
  if (typeof cross !== 'number') throw error('cross_attention_dim must be one number');
  const num = (field: string, fallback: number) => {
    const v = j[field];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number') throw error(`${field} must be a number, got ${JSON.stringify(v)}`);
    return v;
  };
  const addition = j.addition_embed_type === 'text_time';
  const c: UnetConfig = {
    in_channels: num('in_channels', 4),
    out_channels: num('out_channels', 4),
    conv_in_kernel: num('conv_in_kernel', 3),
    conv_out_kernel: num('conv_out_kernel', 3),
    block_out_channels: channels,
    layers_per_block: lpb,
    down_transformer_layers: down,
    up_transformer_layers: up,
    mid_transformer_layers: typeof last === 'number' ? last : Math.max(...last),
    num_attention_heads: heads,
    cross_attention_dim: cross,
    use_linear_projection: j.use_linear_projection === true,
    norm_num_groups: num('norm_num_groups', 32),
    norm_eps: num('norm_eps', 1e-5),
    flip_sin_to_cos: j.flip_sin_to_cos === undefined ? true : j.flip_sin_to_cos === true,
    freq_shift: num('freq_shift', 0),
    timestep_input_dim: channels[0]!,
    time_embed_dim: num('time_embedding_dim', 4 * channels[0]!),
    addition_embed_type: addition ? 'text_time' : null,
    addition_time_embed_dim: addition ? num('addition_time_embed_dim', 256) : 0,
    projection_class_embeddings_input_dim: addition ? num('projection_class_embeddings_input_dim', 0) : 0,
  };
  checkUnetConfig(c, where);
  return c;
}
