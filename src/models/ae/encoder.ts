// The autoencoder's encoder (diffusers' AutoencoderKL.encode; Flux's official AutoEncoder.encode), for
// img2img: image [B, in_ch, H, W] in [-1, 1] ->
//   conv_in; per level: ResnetBlocks, then (all levels but the last) a 3x3 stride-2 convolution with
//   zero padding (0, 1, 0, 1) (Downsample2D); mid (ResnetBlock, attention, ResnetBlock); GroupNorm +
//   SiLU; conv_out to 2 x z_channels; quant_conv (1x1, SDXL's VAE only)
//   -> the latent distribution's mean and log-variance (clamped to [-30, 20]).
// The sampler's latent is (mean - shift_factor) * scale_factor (latentsFromMean). Channels-last, row bands
// as in the decoder. Module tree mirrors the original checkpoint keys (encoder.down.N.block.M....).
import type { Backend } from '../../backend.js';
import { nchwToNhwc } from '../../cpu/conv.js';
import type { Tensor } from '../../tensor.js';
import { expectFamily } from '../detect.js';
import { type ComputeDType, ParamStore, WeightReader, type WeightSource } from '../weights.js';
import {
  type Bands,
  type ConvParams,
  convBands,
  disposeBands,
  downsampleBands,
  groupNormBands,
  joinRows,
  type NormParams,
  rebandEven,
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
import { type AeEncoderConfig, aeEncoderConfig, aeEncoderLayout, QUANT_CONV } from './config.js';

interface EncoderWeights {
  conv_in: ConvParams;
  down: { block: ResnetBlock[]; downsample?: { conv: ConvParams } }[];
  mid: { block_1: ResnetBlock; attn_1: AttnBlock; block_2: ResnetBlock };
  norm_out: NormParams;
  conv_out: ConvParams;
  quant_conv?: ConvParams;
}

export interface EncodeOptions {
  /** Largest band tensor in bytes; default the backend's per-tensor limit. Small values force tiling. */
  maxBandBytes?: number;
}

/** The latent distribution of each image, NCHW [B, z_channels, h, w]. */
export interface EncodedLatents {
  mean: Float32Array;
  /** Log-variance, clamped to [-30, 20] as diffusers' DiagonalGaussianDistribution does. */
  logvar: Float32Array;
  shape: [number, number, number, number];
}

/** Output side of the stride-2, (0, 1)-padded 3x3 convolution: floor((n + 1 - 3) / 2) + 1. */
export function downsampledSize(n: number): number {
  return Math.floor((n - 2) / 2) + 1;
}

export class AeEncoder {
  private readonly store: ParamStore;
  private readonly w: EncoderWeights;

  private constructor(
    readonly be: Backend,
    readonly config: AeEncoderConfig,
    readonly dtype: ComputeDType,
    r: WeightReader,
    layout: 'original' | 'diffusers',
  ) {
    this.store = r.store;
    const c = config;
    const levels = c.level_channels.length;
    const L = new AeBlockLoader(r, layout, levels);
    const Cmid = c.level_channels[levels - 1]!;
    const down: EncoderWeights['down'] = [];
    let cin = c.level_channels[0]!;
    for (let i = 0; i < levels; i++) {
      const cout = c.level_channels[i]!;
      const block: ResnetBlock[] = [];
      for (let j = 0; j < c.num_res_blocks; j++) {
        block.push(L.resnet(`encoder.down.${i}.block.${j}`, cin, cout));
        cin = cout;
      }
      down.push({
        block,
        downsample:
          i < levels - 1 ? { conv: L.conv(`encoder.down.${i}.downsample.conv`, cout, cout, 3) } : undefined,
      });
    }
    this.w = {
      conv_in: L.conv('encoder.conv_in', c.in_ch, c.level_channels[0]!, 3),
      down,
      mid: {
        block_1: L.resnet('encoder.mid.block_1', Cmid, Cmid),
        attn_1: L.attention('encoder.mid.attn_1', Cmid),
        block_2: L.resnet('encoder.mid.block_2', Cmid, Cmid),
      },
      norm_out: L.norm('encoder.norm_out', Cmid),
      conv_out: L.conv('encoder.conv_out', Cmid, 2 * c.z_channels, 3),
      quant_conv: c.quant_conv ? L.conv(QUANT_CONV, 2 * c.z_channels, 2 * c.z_channels, 1) : undefined,
    };
  }

  static load(
    be: Backend,
    src: WeightSource,
    opts: { dtype?: ComputeDType; config?: Record<string, unknown> } = {},
  ): AeEncoder {
    expectFamily(src.path, src.keys(), 'ae');
    const layout = aeEncoderLayout(src);
    const config = aeEncoderConfig(src, opts.config ?? {});
    const dtype = opts.dtype ?? 'f32';
    const store = new ParamStore();
    try {
      const r = new WeightReader(be, src, dtype, store, '', "an autoencoder's encoder");
      return new AeEncoder(be, config, dtype, r, layout);
    } catch (e) {
      store.dispose();
      throw e;
    }
  }

  get deviceBytes(): number {
    return this.store.bytes;
  }

  /** image NCHW [B, in_ch, H, W] (about -1..1) -> mean and log-variance of the latent, NCHW. */
  async encode(
    image: Float32Array,
    B: number,
    H: number,
    W: number,
    opts: EncodeOptions = {},
  ): Promise<EncodedLatents> {
    const { be, config: c, dtype } = this;
    const C = c.in_ch;
    if (image.length !== B * C * H * W)
      throw new RangeError(`AE encode: ${image.length} image values for [${B}, ${C}, ${H}, ${W}]`);
    const levels = c.level_channels.length;
    for (let i = 0, side = Math.min(H, W); i < levels - 1; i++, side = downsampledSize(side))
      if (side < 2)
        throw new RangeError(`AE encode: a ${H}x${W} image is too small for ${levels - 1} downsamplings`);
    const limit = Math.floor((opts.maxBandBytes ?? be.maxTensorBytes()) / 16) * 16;
    const bytes = dtype === 'f16' ? 2 : 4;
    const rowsFor = (width: number, channels: number, what: string) => {
      const rows = Math.floor(limit / (B * width * channels * bytes));
      if (rows < 2)
        throw new RangeError(
          `AE encode: two rows of ${what} (${B} x ${width} x ${channels} x ${bytes} bytes each) exceed the ${limit}-byte tensor limit`,
        );
      return rows;
    };
    const { groups, eps } = c;
    const Wt = this.w;
    let x: Bands = splitRows(
      be,
      [be.keep(be.tensor(nchwToNhwc(image, B, C, H, W), [B, H, W, C], dtype))],
      rowsFor(W, Math.max(C, c.level_channels[0]!), 'the image'),
    );
    x = consume(x, convBands(be, x, Wt.conv_in));
    let h = H;
    let w = W;
    let cin = c.level_channels[0]!;
    for (let i = 0; i < levels; i++) {
      const level = Wt.down[i]!;
      const cout = c.level_channels[i]!;
      x = splitRows(be, x, rowsFor(w, Math.max(cin, cout), `level ${i}`));
      for (const blk of level.block) x = resnetBands(be, x, blk, groups, eps);
      cin = cout;
      if (level.downsample) {
        // even bands, one row under the limit: each band reads the first row of the next
        x = rebandEven(be, x, rowsFor(w, cout, `level ${i}`) - 1);
        x = consume(x, downsampleBands(be, x, level.downsample.conv));
        h = downsampledSize(h);
        w = downsampledSize(w);
      }
    }
    const Cmid = c.level_channels[levels - 1]!;
    x = splitRows(be, x, rowsFor(w, Cmid, 'the mid block'));
    x = resnetBands(be, x, Wt.mid.block_1, groups, eps);
    x = attentionBand(be, joinRows(be, x), Wt.mid.attn_1, { groups, eps, dtype, limit, what: 'AE encode' });
    x = splitRows(be, x, rowsFor(w, Cmid, 'the mid block'));
    x = resnetBands(be, x, Wt.mid.block_2, groups, eps);
    x = consume(x, groupNormBands(be, x, Wt.norm_out, groups, eps, true));
    x = consume(x, convBands(be, x, Wt.conv_out));
    if (Wt.quant_conv) x = consume(x, convBands(be, x, Wt.quant_conv));
    return this.read(x, B, h, w);
  }

  /** The sampler's starting latent from a mean: (mean - shift_factor) * scale_factor. */
  latentsFromMean(mean: Float32Array): Float32Array {
    const { scale_factor: s, shift_factor: t } = this.config;
    return mean.map((v) => (v - t) * s);
  }

  /** Reads the moment bands [B, rows, w, 2 zc] (consumed) into NCHW mean and log-variance. */
  private async read(bands: Bands, B: number, h: number, w: number): Promise<EncodedLatents> {
    const zc = this.config.z_channels;
    const mean = new Float32Array(B * zc * h * w);
    const logvar = new Float32Array(B * zc * h * w);
    let row = 0;
    try {
      for (const t of bands as Tensor[]) {
        const v = await t.read();
        const rows = t.dim(1);
        for (let b = 0; b < B; b++)
          for (let y = 0; y < rows; y++)
            for (let x = 0; x < w; x++) {
              const at = ((b * rows + y) * w + x) * 2 * zc;
              for (let ch = 0; ch < zc; ch++) {
                const o = ((b * zc + ch) * h + row + y) * w + x;
                mean[o] = v[at + ch]!;
                logvar[o] = Math.min(20, Math.max(-30, v[at + zc + ch]!));
              }
            }
        row += rows;
      }
    } finally {
      disposeBands(bands);
    }
    for (let i = 0; i < mean.length; i++)
      if (!Number.isFinite(mean[i]!))
        throw new Error(
          `AE encode produced a non-finite value at element ${i}${this.dtype === 'f16' ? ' (f16 overflow: encode with dtype f32)' : ''}`,
        );
    return { mean, logvar, shape: [B, zc, h, w] };
  }

  dispose(): void {
    this.store.dispose();
  }
}
