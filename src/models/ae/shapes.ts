// What an autoencoder checkpoint's decoder holds (key -> shape) in either layout, and the diffusers
// vae/config.json, for writing random-weight model folders that the loader reads like real ones (Flux's
// autoencoder or SDXL's VAE). Only the decoder is described: text-to-image never runs the encoder.
import {
  type AeDecoderConfig,
  type AeEncoderConfig,
  type AeLayout,
  layoutKey,
  POST_QUANT_CONV,
  QUANT_CONV,
} from './config.js';

export function aeDecoderShapes(c: AeDecoderConfig, layout: AeLayout): Map<string, number[]> {
  const levels = c.level_channels.length;
  const Cmid = c.level_channels[levels - 1]!;
  const m = new Map<string, number[]>();
  const set = (k: string, s: number[]) => m.set(layoutKey(k, layout, levels), s);
  const conv = (k: string, cin: number, cout: number, ks: number) => {
    set(`${k}.weight`, [cout, cin, ks, ks]);
    set(`${k}.bias`, [cout]);
  };
  const norm = (k: string, ch: number) => {
    set(`${k}.weight`, [ch]);
    set(`${k}.bias`, [ch]);
  };
  const resnet = (k: string, cin: number, cout: number) => {
    norm(`${k}.norm1`, cin);
    conv(`${k}.conv1`, cin, cout, 3);
    norm(`${k}.norm2`, cout);
    conv(`${k}.conv2`, cout, cout, 3);
    if (cin !== cout) conv(`${k}.nin_shortcut`, cin, cout, 1);
  };
  if (c.post_quant_conv) conv(POST_QUANT_CONV, c.z_channels, c.z_channels, 1);
  conv('decoder.conv_in', c.z_channels, Cmid, 3);
  resnet('decoder.mid.block_1', Cmid, Cmid);
  const a = 'decoder.mid.attn_1';
  norm(`${a}.norm`, Cmid);
  for (const p of ['q', 'k', 'v', 'proj_out']) {
    // 1x1 convolutions in the original release, Linear layers in diffusers
    set(`${a}.${p}.weight`, layout === 'original' ? [Cmid, Cmid, 1, 1] : [Cmid, Cmid]);
    set(`${a}.${p}.bias`, [Cmid]);
  }
  resnet('decoder.mid.block_2', Cmid, Cmid);
  for (let i = levels - 1; i >= 0; i--) {
    const cout = c.level_channels[i]!;
    let cin = i === levels - 1 ? Cmid : c.level_channels[i + 1]!;
    for (let j = 0; j <= c.num_res_blocks; j++) {
      resnet(`decoder.up.${i}.block.${j}`, cin, cout);
      cin = cout;
    }
    if (i > 0) conv(`decoder.up.${i}.upsample.conv`, cout, cout, 3);
  }
  norm('decoder.norm_out', c.level_channels[0]!);
  conv('decoder.conv_out', c.level_channels[0]!, c.out_ch, 3);
  return m;
}

/** vae/config.json as diffusers writes it for Flux's AutoencoderKL or SDXL's (post_quant_conv, no shift). */
export function aeConfigJson(c: AeDecoderConfig): Record<string, unknown> {
  return {
    _class_name: 'AutoencoderKL',
    act_fn: 'silu',
    block_out_channels: c.level_channels,
    down_block_types: c.level_channels.map(() => 'DownEncoderBlock2D'),
    up_block_types: c.level_channels.map(() => 'UpDecoderBlock2D'),
    in_channels: 3,
    out_channels: c.out_ch,
    latent_channels: c.z_channels,
    layers_per_block: c.num_res_blocks,
    norm_num_groups: c.groups,
    sample_size: 1024,
    scaling_factor: c.scale_factor,
    shift_factor: c.shift_factor === 0 ? null : c.shift_factor,
    use_quant_conv: c.post_quant_conv,
    use_post_quant_conv: c.post_quant_conv,
    mid_block_add_attention: true,
    force_upcast: true,
  };
}

/** What the encoder half of an autoencoder checkpoint holds (key -> shape) in either layout (img2img). */
export function aeEncoderShapes(c: AeEncoderConfig, layout: AeLayout): Map<string, number[]> {
  const levels = c.level_channels.length;
  const Cmid = c.level_channels[levels - 1]!;
  const m = new Map<string, number[]>();
  const set = (k: string, s: number[]) => m.set(layoutKey(k, layout, levels), s);
  const conv = (k: string, cin: number, cout: number, ks: number) => {
    set(`${k}.weight`, [cout, cin, ks, ks]);
    set(`${k}.bias`, [cout]);
  };
  const norm = (k: string, ch: number) => {
    set(`${k}.weight`, [ch]);
    set(`${k}.bias`, [ch]);
  };
  const resnet = (k: string, cin: number, cout: number) => {
    norm(`${k}.norm1`, cin);
    conv(`${k}.conv1`, cin, cout, 3);
    norm(`${k}.norm2`, cout);
    conv(`${k}.conv2`, cout, cout, 3);
    if (cin !== cout) conv(`${k}.nin_shortcut`, cin, cout, 1);
  };
  conv('encoder.conv_in', c.in_ch, c.level_channels[0]!, 3);
  let cin = c.level_channels[0]!;
  for (let i = 0; i < levels; i++) {
    const cout = c.level_channels[i]!;
    for (let j = 0; j < c.num_res_blocks; j++) {
      resnet(`encoder.down.${i}.block.${j}`, cin, cout);
      cin = cout;
    }
    if (i < levels - 1) conv(`encoder.down.${i}.downsample.conv`, cout, cout, 3);
  }
  resnet('encoder.mid.block_1', Cmid, Cmid);
  const a = 'encoder.mid.attn_1';
  norm(`${a}.norm`, Cmid);
  for (const p of ['q', 'k', 'v', 'proj_out']) {
    set(`${a}.${p}.weight`, layout === 'original' ? [Cmid, Cmid, 1, 1] : [Cmid, Cmid]);
    set(`${a}.${p}.bias`, [Cmid]);
  }
  resnet('encoder.mid.block_2', Cmid, Cmid);
  norm('encoder.norm_out', Cmid);
  conv('encoder.conv_out', Cmid, 2 * c.z_channels, 3);
  if (c.quant_conv) conv(QUANT_CONV, 2 * c.z_channels, 2 * c.z_channels, 1);
  return m;
}
