// The autoencoder's decoder (Flux's official AutoEncoder.decode; for SDXL's VAE, diffusers'
// AutoencoderKL.decode of latents / scaling_factor): z / scale_factor + shift_factor, then
//   post_quant_conv (1x1, SDXL's VAE only), conv_in, mid (ResnetBlock, single-head attention over all positions, ResnetBlock),
//   for each level from the lowest resolution up: ResnetBlocks, then nearest 2x upsample + conv,
//   GroupNorm + SiLU, conv_out.
// Channels-last throughout; images run as row bands (bands.ts) sized to the backend's per-tensor limit,
// with results equal to the whole-image decode. The attention runs on the whole latent grid in f32, as
// matmuls over chunks of query rows (scale folded into q, the v bias folded into proj_out's bias).
// Module tree mirrors the original checkpoint keys (decoder.up.N.block.M....).
import type { Backend } from '../../backend.js';
import type { Tensor } from '../../tensor.js';
import { expectFamily } from '../detect.js';
import { type ComputeDType, ParamStore, WeightReader, type WeightSource } from '../weights.js';
import {
  type Bands,
  type ConvParams,
  convBands,
  disposeBands,
  groupNormBands,
  joinRows,
  type NormParams,
  splitRows,
} from './bands.js';
import {
  AeBlockLoader,
  type AttnBlock,
  attentionBand,
  consume,
  type ResnetBlock,
  resnetBands,
} from './blocks.js';
import { type AeDecoderConfig, aeDecoderConfig, aeLayout, POST_QUANT_CONV } from './config.js';

interface DecoderWeights {
  post_quant_conv?: ConvParams;
  conv_in: ConvParams;
  mid: { block_1: ResnetBlock; attn_1: AttnBlock; block_2: ResnetBlock };
  up: { block: ResnetBlock[]; upsample?: { conv: ConvParams } }[];
  norm_out: NormParams;
  conv_out: ConvParams;
}

export interface AeLoadOptions {
  dtype?: ComputeDType;
  /** Values from a config.json (scale_factor / scaling_factor, shift_factor). */
  config?: Record<string, unknown>;
}

export interface DecodeOptions {
  /** Largest band tensor in bytes; default the backend's per-tensor limit. Small values force tiling. */
  maxBandBytes?: number;
}

export interface DecodedImage {
  /** Channels-last [B, H, W, out_ch], unclamped (about -1..1 for real weights). */
  data: Float32Array;
  shape: [number, number, number, number];
}

export class AeDecoder {
  private readonly store: ParamStore;
  private readonly w: DecoderWeights;

  private constructor(
    readonly be: Backend,
    readonly config: AeDecoderConfig,
    readonly dtype: ComputeDType,
    r: WeightReader,
    layout: 'original' | 'diffusers',
  ) {
    this.store = r.store;
    const c = config;
    const levels = c.level_channels.length;
    const L = new AeBlockLoader(r, layout, levels);
    const conv = L.conv.bind(L);
    const norm = L.norm.bind(L);
    const resnet = L.resnet.bind(L);
    const Cmid = c.level_channels[levels - 1]!;
    const attn = L.attention('decoder.mid.attn_1', Cmid);
    const up: DecoderWeights['up'] = [];
    for (let i = 0; i < levels; i++) {
      const cout = c.level_channels[i]!;
      let cin = i === levels - 1 ? Cmid : c.level_channels[i + 1]!;
      const block: ResnetBlock[] = [];
      for (let j = 0; j <= c.num_res_blocks; j++) {
        block.push(resnet(`decoder.up.${i}.block.${j}`, cin, cout));
        cin = cout;
      }
      up.push({
        block,
        upsample: i > 0 ? { conv: conv(`decoder.up.${i}.upsample.conv`, cout, cout, 3) } : undefined,
      });
    }
    const C0 = c.level_channels[0]!;
    this.w = {
      post_quant_conv: c.post_quant_conv ? conv(POST_QUANT_CONV, c.z_channels, c.z_channels, 1) : undefined,
      conv_in: conv('decoder.conv_in', c.z_channels, Cmid, 3),
      mid: {
        block_1: resnet('decoder.mid.block_1', Cmid, Cmid),
        attn_1: attn,
        block_2: resnet('decoder.mid.block_2', Cmid, Cmid),
      },
      up,
      norm_out: norm('decoder.norm_out', C0),
      conv_out: conv('decoder.conv_out', C0, c.out_ch, 3),
    };
  }

  static load(be: Backend, src: WeightSource, opts: AeLoadOptions = {}): AeDecoder {
    expectFamily(src.path, src.keys(), 'ae');
    const layout = aeLayout(src);
    const config = aeDecoderConfig(src, opts.config ?? {});
    const dtype = opts.dtype ?? 'f32';
    const store = new ParamStore();
    try {
      const r = new WeightReader(be, src, dtype, store, '', 'an autoencoder');
      return new AeDecoder(be, config, dtype, r, layout);
    } catch (e) {
      store.dispose();
      throw e;
    }
  }

  get deviceBytes(): number {
    return this.store.bytes;
  }

  /**
   * z: NCHW latents [B, z_channels, h, w] (what the sampler produced) -> the image as row bands of
   * [B, rows, W, out_ch] on the device, W = w · 2^(levels-1).
   */
  decodeBands(z: Float32Array, B: number, h: number, w: number, opts: DecodeOptions = {}): Bands {
    const { be, config: c, dtype } = this;
    const zc = c.z_channels;
    if (z.length !== B * zc * h * w)
      throw new RangeError(`AE decode: ${z.length} latent values for [${B}, ${zc}, ${h}, ${w}]`);
    const limit = Math.floor((opts.maxBandBytes ?? be.maxTensorBytes()) / 16) * 16;
    const bytes = dtype === 'f16' ? 2 : 4;
    const rowsFor = (width: number, channels: number, what: string, itemBytes = bytes) => {
      const rows = Math.floor(limit / (B * width * channels * itemBytes));
      if (rows < 1)
        throw new RangeError(
          `AE decode: one row of ${what} (${B} x ${width} x ${channels} x ${itemBytes} bytes) exceeds the ${limit}-byte tensor limit`,
        );
      return rows;
    };
    // decoder input z / scale + shift, rounded as float32 like the reference, channels-last
    const zin = new Float32Array(z.length);
    const f = Math.fround;
    for (let b = 0; b < B; b++)
      for (let ch = 0; ch < zc; ch++)
        for (let i = 0; i < h * w; i++)
          zin[(b * h * w + i) * zc + ch] = f(
            f(z[(b * zc + ch) * h * w + i]! / c.scale_factor) + c.shift_factor,
          );
    const levels = c.level_channels.length;
    const Cmid = c.level_channels[levels - 1]!;
    const { groups, eps } = c;
    const W = this.w;

    let x: Bands = splitRows(
      be,
      [be.keep(be.tensor(zin, [B, h, w, zc], dtype))],
      rowsFor(w, Math.max(zc, Cmid), 'the latent'),
    );
    if (W.post_quant_conv) x = this.consume(x, convBands(be, x, W.post_quant_conv));
    x = this.consume(x, convBands(be, x, W.conv_in));
    x = this.resnet(x, W.mid.block_1);
    x = this.attention(joinRows(be, x), W.mid.attn_1, limit);
    x = splitRows(be, x, rowsFor(w, Cmid, 'the mid block'));
    x = this.resnet(x, W.mid.block_2);
    let res = w;
    for (let i = levels - 1; i >= 0; i--) {
      const level = W.up[i]!;
      const cin = i === levels - 1 ? Cmid : c.level_channels[i + 1]!;
      x = splitRows(be, x, rowsFor(res, Math.max(cin, c.level_channels[i]!), `level ${i}`));
      for (const blk of level.block) x = this.resnet(x, blk);
      if (level.upsample) {
        // output bands are twice as tall and wide as their input
        x = splitRows(
          be,
          x,
          Math.max(1, Math.floor(rowsFor(2 * res, c.level_channels[i]!, `level ${i - 1}`) / 2)),
        );
        x = this.consume(x, convBands(be, x, level.upsample.conv, { upsample: true }));
        res *= 2;
      }
    }
    const hn = this.consume(x, groupNormBands(be, x, W.norm_out, groups, eps, true));
    return this.consume(hn, convBands(be, hn, W.conv_out));
  }

  /** decodeBands, read back and assembled on the host; throws on non-finite values (f16 overflow). */
  async decode(
    z: Float32Array,
    B: number,
    h: number,
    w: number,
    opts: DecodeOptions = {},
  ): Promise<DecodedImage> {
    const bands = this.decodeBands(z, B, h, w, opts);
    const Wd = bands[0]!.dim(2);
    const C = this.config.out_ch;
    const H = bands.reduce((a, t) => a + t.dim(1), 0);
    const data = new Float32Array(B * H * Wd * C);
    let row = 0;
    try {
      for (const t of bands) {
        const v = await t.read();
        const rows = t.dim(1);
        const n = rows * Wd * C;
        for (let b = 0; b < B; b++) data.set(v.subarray(b * n, (b + 1) * n), (b * H + row) * Wd * C);
        row += rows;
      }
    } finally {
      disposeBands(bands);
    }
    for (let i = 0; i < data.length; i++)
      if (!Number.isFinite(data[i]!))
        throw new Error(
          `AE decode produced a non-finite value at element ${i}${this.dtype === 'f16' ? ' (f16 overflow: decode with dtype f32)' : ''}`,
        );
    return { data, shape: [B, H, Wd, C] };
  }

  private consume(input: Bands, output: Bands): Bands {
    return consume(input, output);
  }

  private resnet(xs: Bands, blk: ResnetBlock): Bands {
    return resnetBands(this.be, xs, blk, this.config.groups, this.config.eps);
  }

  private attention(x: Tensor, a: AttnBlock, limit: number): Bands {
    const { groups, eps } = this.config;
    return attentionBand(this.be, x, a, { groups, eps, dtype: this.dtype, limit, what: 'AE decode' });
  }

  dispose(): void {
    this.store.dispose();
  }
}
