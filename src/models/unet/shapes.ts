// What a UNet checkpoint holds (stored key -> stored shape) in either layout, and the diffusers
// unet/config.json, for random-weight checkpoints and folders that the loader reads like real ones.
import type { UnetConfig } from './config.js';
import { SGM_PREFIX, sgmName, type UnetLayout } from './layouts.js';

/** Stored key -> stored shape, in the diffusers layout or the single-file SGM layout (with its prefix). */
export function unetShapes(c: UnetConfig, layout: UnetLayout = 'diffusers'): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const L = c.block_out_channels.length;
  const T = c.time_embed_dim;
  const set = (k: string, s: number[]) => m.set(k, s);
  const linear = (k: string, n: number, kin: number, bias = true) => {
    set(`${k}.weight`, [n, kin]);
    if (bias) set(`${k}.bias`, [n]);
  };
  const norm = (k: string, ch: number) => {
    set(`${k}.weight`, [ch]);
    set(`${k}.bias`, [ch]);
  };
  const conv = (k: string, cin: number, cout: number, ks: number) => {
    set(`${k}.weight`, [cout, cin, ks, ks]);
    set(`${k}.bias`, [cout]);
  };
  const resnet = (k: string, cin: number, cout: number) => {
    norm(`${k}.norm1`, cin);
    conv(`${k}.conv1`, cin, cout, 3);
    linear(`${k}.time_emb_proj`, cout, T);
    norm(`${k}.norm2`, cout);
    conv(`${k}.conv2`, cout, cout, 3);
    if (cin !== cout) conv(`${k}.conv_shortcut`, cin, cout, 1);
  };
  const transformer = (k: string, C: number, depth: number) => {
    const X = c.cross_attention_dim;
    norm(`${k}.norm`, C);
    const proj = (p: string) => {
      if (c.use_linear_projection) linear(p, C, C);
      else conv(p, C, C, 1);
    };
    proj(`${k}.proj_in`);
    for (let b = 0; b < depth; b++) {
      const p = `${k}.transformer_blocks.${b}`;
      for (const n of [1, 2, 3]) norm(`${p}.norm${n}`, C);
      for (const n of ['q', 'k', 'v']) linear(`${p}.attn1.to_${n}`, C, C, false);
      linear(`${p}.attn1.to_out.0`, C, C);
      linear(`${p}.attn2.to_q`, C, C, false);
      linear(`${p}.attn2.to_k`, C, X, false);
      linear(`${p}.attn2.to_v`, C, X, false);
      linear(`${p}.attn2.to_out.0`, C, C);
      linear(`${p}.ff.net.0.proj`, 8 * C, C);
      linear(`${p}.ff.net.2`, C, 4 * C);
    }
    proj(`${k}.proj_out`);
  };

  const C0 = c.block_out_channels[0]!;
  conv('conv_in', c.in_channels, C0, c.conv_in_kernel);
  linear('time_embedding.linear_1', T, c.timestep_input_dim);
  linear('time_embedding.linear_2', T, T);
  if (c.addition_embed_type) {
    linear('add_embedding.linear_1', T, c.projection_class_embeddings_input_dim);
    linear('add_embedding.linear_2', T, T);
  }
  let ch = C0;
  for (let i = 0; i < L; i++) {
    const cout = c.block_out_channels[i]!;
    for (let j = 0; j < c.layers_per_block; j++) {
      resnet(`down_blocks.${i}.resnets.${j}`, j === 0 ? ch : cout, cout);
      const d = c.down_transformer_layers[i]![j]!;
      if (d > 0) transformer(`down_blocks.${i}.attentions.${j}`, cout, d);
    }
    if (i < L - 1) conv(`down_blocks.${i}.downsamplers.0.conv`, cout, cout, 3);
    ch = cout;
  }
  const Cm = c.block_out_channels[L - 1]!;
  resnet('mid_block.resnets.0', Cm, Cm);
  transformer('mid_block.attentions.0', Cm, c.mid_transformer_layers);
  resnet('mid_block.resnets.1', Cm, Cm);
  let prev = Cm;
  for (let u = 0; u < L; u++) {
    const level = L - 1 - u;
    const cout = c.block_out_channels[level]!;
    const lower = c.block_out_channels[Math.max(level - 1, 0)]!;
    for (let j = 0; j <= c.layers_per_block; j++) {
      const skip = j === c.layers_per_block ? lower : cout;
      resnet(`up_blocks.${u}.resnets.${j}`, (j === 0 ? prev : cout) + skip, cout);
      const d = c.up_transformer_layers[u]![j]!;
      if (d > 0) transformer(`up_blocks.${u}.attentions.${j}`, cout, d);
    }
    if (u < L - 1) conv(`up_blocks.${u}.upsamplers.0.conv`, cout, cout, 3);
    prev = cout;
  }
  norm('conv_norm_out', C0);
  conv('conv_out', C0, c.out_channels, c.conv_out_kernel);
  if (layout === 'diffusers') return m;
  const names = sgmKeyMap(c, [...m.keys()]);
  return new Map([...m].map(([k, s]) => [names.get(k)!, s]));
}

/** The single-file (SGM) key, with its prefix, of each diffusers key of a UNet with this structure. */
export function sgmKeyMap(c: UnetConfig, diffusersKeys: string[]): Map<string, string> {
  // everything but the upsamplers first, so that their slot (after a transformer or not) is known
  const names = new Map<string, string>();
  const taken = new Set<string>();
  const isUpsampler = (k: string) => /^up_blocks\.\d+\.upsamplers\./.test(k);
  const add = (k: string) => {
    const name = SGM_PREFIX + sgmName(k, c.layers_per_block, (s) => taken.has(SGM_PREFIX + s));
    names.set(k, name);
    taken.add(name);
  };
  for (const k of diffusersKeys) if (!isUpsampler(k)) add(k);
  for (const k of diffusersKeys) if (isUpsampler(k)) add(k);
  return names;
}

/** unet/config.json as diffusers writes it for this structure. */
export function unetConfigJson(c: UnetConfig): Record<string, unknown> {
  const hasAttn = (d: number[]) => d.some((x) => x > 0);
  return {
    _class_name: 'UNet2DConditionModel',
    act_fn: 'silu',
    addition_embed_type: c.addition_embed_type,
    addition_time_embed_dim: c.addition_embed_type ? c.addition_time_embed_dim : null,
    attention_head_dim: c.num_attention_heads,
    block_out_channels: c.block_out_channels,
    center_input_sample: false,
    conv_in_kernel: c.conv_in_kernel,
    conv_out_kernel: c.conv_out_kernel,
    cross_attention_dim: c.cross_attention_dim,
    down_block_types: c.down_transformer_layers.map((d) =>
      hasAttn(d) ? 'CrossAttnDownBlock2D' : 'DownBlock2D',
    ),
    flip_sin_to_cos: c.flip_sin_to_cos,
    freq_shift: c.freq_shift,
    in_channels: c.in_channels,
    layers_per_block: c.layers_per_block,
    mid_block_type: 'UNetMidBlock2DCrossAttn',
    norm_eps: c.norm_eps,
    norm_num_groups: c.norm_num_groups,
    num_attention_heads: null,
    out_channels: c.out_channels,
    projection_class_embeddings_input_dim: c.addition_embed_type
      ? c.projection_class_embeddings_input_dim
      : null,
    reverse_transformer_layers_per_block: c.up_transformer_layers,
    time_embedding_type: 'positional',
    transformer_layers_per_block: c.down_transformer_layers.map((d) => Math.max(...d)),
    up_block_types: c.up_transformer_layers.map((d) => (hasAttn(d) ? 'CrossAttnUpBlock2D' : 'UpBlock2D')),
    use_linear_projection: c.use_linear_projection,
  };
}
