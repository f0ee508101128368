// TAESD decoders ("tiny autoencoder", github.com/madebyollin/taesd): a 1.2 M-parameter stand-in for a
// latent diffusion model's autoencoder decoder, cheap enough to show the current estimate of the image
// every few sampling steps. TAEF1 decodes FLUX.1 latents (16 channels), TAESDXL SDXL ones (4).
//   clamp: tanh(z / 3) · 3
//   conv 3x3 → ReLU
//   3 × [3 blocks, nearest 2x upsampling, conv 3x3 without bias]
//   1 block, conv 3x3 → RGB in about [0, 1]
// block(x) = ReLU(conv(ReLU(conv(ReLU(conv(x))))) + x), 64 channels throughout.
// The checkpoint's keys are the upstream nn.Sequential indices: "1.weight" is the first conv,
// "3.conv.0.weight" the first conv of the first block, "7.weight" the first upsampling conv.
// Every ReLU follows a convolution, so each one is fused into it (conv2d's `relu`); the upsampling is
// fused too. Images run as row bands (../ae/bands.ts), so no tensor exceeds the backend's limit.
import type { Backend } from '../../backend.js';
import { convWeightToOHWI } from '../../cpu/conv.js';
import { type Bands, type ConvParams, convBands, disposeBands, splitRows } from '../ae/bands.js';
import { detectFamily, familyName } from '../detect.js';
import { type ComputeDType, ParamStore, WeightReader, type WeightSource } from '../weights.js';

/** Channels of every hidden layer. */
export const TAESD_WIDTH = 64;
/** Output pixels per latent cell along each axis (three 2x upsamplings). */
export const TAESD_SCALE = 8;

interface Block {
  conv0: ConvParams;
  conv2: ConvParams;
  conv4: ConvParams;
}
interface Stage {
  blocks: Block[];
  /** The conv after the 2x upsampling (absent on the last stage). */
  up?: ConvParams;
}

export interface TaesdLoadOptions {
  /** Compute dtype (default f32). */
  dtype?: ComputeDType;
}

export interface TaesdDecodeOptions {
  /**
   * 'nchw' (default): z is [B, C, h, w]. 'packed': z is the FLUX sampler's token form
   * [B, (h/2)·(w/2), 4C], 2x2 latent patches per token, channel c·4 + dy·2 + dx.
   */
  layout?: 'nchw' | 'packed';
  /** Largest band tensor in bytes; default the backend's per-tensor limit. Small values force bands. */
  maxBandBytes?: number;
}

export interface TaesdImage {
  /** Channels-last RGB [B, H, W, 3], unclamped: about 0..1 for real weights. */
  data: Float32Array;
  shape: [number, number, number, number];
}

/** Upstream Sequential indices of the blocks of each stage, and of the conv after its upsampling. */
const LAYOUT: { blocks: number[]; up?: number }[] = [
  { blocks: [3, 4, 5], up: 7 },
  { blocks: [8, 9, 10], up: 12 },
  { blocks: [13, 14, 15], up: 17 },
  { blocks: [18] },
];

export class TaesdDecoder {
  private readonly store: ParamStore;
  private readonly first: ConvParams;
  private readonly stages: Stage[];
  private readonly last: ConvParams;

  private constructor(
    readonly be: Backend,
    /** Latent channels: 16 for TAEF1, 4 for TAESD / TAESDXL. */
    readonly latentChannels: number,
    readonly dtype: ComputeDType,
    r: WeightReader,
  ) {
    this.store = r.store;
    const F = TAESD_WIDTH;
    const conv = (key: string, cin: number, cout: number, bias = true): ConvParams => ({
      weight: r.load(`${key}.weight`, [cout, 3, 3, cin], {
        stored: [cout, cin, 3, 3],
        transform: (v) => convWeightToOHWI(v, cout, cin, 3, 3),
      }),
      bias: bias ? r.load(`${key}.bias`, [cout]) : undefined,
    });
    this.first = conv('1', latentChannels, F);
    this.stages = LAYOUT.map((s) => ({
      blocks: s.blocks.map((i) => ({
        conv0: conv(`${i}.conv.0`, F, F),
        conv2: conv(`${i}.conv.2`, F, F),
        conv4: conv(`${i}.conv.4`, F, F),
      })),
      up: s.up === undefined ? undefined : conv(`${s.up}`, F, F, false),
    }));
    this.last = conv('19', F, 3);
  }

  /** Loads a TAESD-family decoder checkpoint (taef1_decoder.safetensors, taesdxl_decoder.safetensors). */
  static load(be: Backend, src: WeightSource, opts: TaesdLoadOptions = {}): TaesdDecoder {
    const first = src.has('1.weight') ? src.info('1.weight').shape : [];
    const isTaesd = first.length === 4 && first[0] === TAESD_WIDTH && first[2] === 3 && first[3] === 3;
    if (!isTaesd) {
      const { family, evidence } = detectFamily(src.keys());
      const what =
        family !== 'unknown'
          ? `it looks like ${familyName(family)} (e.g. "${evidence}")`
          : first.length
            ? `its "1.weight" is [${first.join(', ')}], not [${TAESD_WIDTH}, C, 3, 3]`
            : 'it has no "1.weight" (the first convolution)';
      throw new Error(`${src.path} is not a TAESD decoder checkpoint: ${what}`);
    }
    const dtype = opts.dtype ?? 'f32';
    const store = new ParamStore();
    try {
      const r = new WeightReader(be, src, dtype, store, '', 'a TAESD decoder');
      return new TaesdDecoder(be, first[1]!, dtype, r);
    } catch (e) {
      store.dispose();
      throw e;
    }
  }

  get deviceBytes(): number {
    return this.store.bytes;
  }

  /** The decoded image as row bands of [B, rows, 8w, 3] on the device (the caller disposes them). */
  decodeBands(z: Float32Array, B: number, h: number, w: number, opts: TaesdDecodeOptions = {}): Bands {
    const { be, dtype } = this;
    const C = this.latentChannels;
    const layout = opts.layout ?? 'nchw';
    if (![B, h, w].every((v) => Number.isInteger(v) && v >= 1))
      throw new RangeError(`TAESD decode: B, h and w must be positive integers, got ${B}, ${h}, ${w}`);
    if (layout === 'packed' && (h % 2 || w % 2))
      throw new RangeError(`TAESD decode: packed latents need an even h and w, got ${h}x${w}`);
    if (z.length !== B * C * h * w)
      throw new RangeError(
        `TAESD decode: ${z.length} latent values, expected ${B * C * h * w} for ${B} x ${C} channels x ${h}x${w}`,
      );
    const limit = Math.floor((opts.maxBandBytes ?? be.maxTensorBytes()) / 16) * 16;
    const item = dtype === 'f16' ? 2 : 4;
    const rowsFor = (width: number) => {
      const rows = Math.floor(limit / (B * width * TAESD_WIDTH * item));
      if (rows < 1)
        throw new RangeError(
          `TAESD decode: one row of ${B} x ${width} x ${TAESD_WIDTH} values exceeds the ${limit}-byte tensor limit`,
        );
      return rows;
    };
    const zin = clampedChannelsLast(z, B, C, h, w, layout);
    let x: Bands = splitRows(be, [be.keep(be.tensor(zin, [B, h, w, C], dtype))], rowsFor(w));
    x = consume(x, convBands(be, x, this.first, { relu: true }));
    let width = w;
    for (const s of this.stages) {
      for (const blk of s.blocks) {
        const a = convBands(be, x, blk.conv0, { relu: true });
        const b = consume(a, convBands(be, a, blk.conv2, { relu: true }));
        const y = convBands(be, b, blk.conv4, { residual: x, relu: true });
        disposeBands(b);
        x = consume(x, y);
      }
      if (s.up) {
        // output bands are twice as tall and wide as their input
        x = splitRows(be, x, Math.max(1, Math.floor(rowsFor(2 * width) / 2)));
        x = consume(x, convBands(be, x, s.up, { upsample: true }));
        width *= 2;
      }
    }
    return consume(x, convBands(be, x, this.last));
  }

  /** decodeBands, read back into one host array; throws on non-finite values (f16 overflow). */
  async decode(
    z: Float32Array,
    B: number,
    h: number,
    w: number,
    opts: TaesdDecodeOptions = {},
  ): Promise<TaesdImage> {
    const bands = this.decodeBands(z, B, h, w, opts);
    const H = h * TAESD_SCALE;
    const W = w * TAESD_SCALE;
    const data = new Float32Array(B * H * W * 3);
    let row = 0;
    try {
      for (const t of bands) {
        const v = await t.read();
        const n = t.dim(1) * W * 3;
        for (let b = 0; b < B; b++) data.set(v.subarray(b * n, (b + 1) * n), (b * H + row) * W * 3);
        row += t.dim(1);
      }
    } finally {
      disposeBands(bands);
    }
    for (let i = 0; i < data.length; i++)
      if (!Number.isFinite(data[i]!))
        throw new Error(
          `TAESD decode produced a non-finite value at pixel ${Math.floor(i / 3)}${this.dtype === 'f16' ? ' (f16 overflow: decode with dtype f32)' : ''}`,
        );
    return { data, shape: [B, H, W, 3] };
  }

  dispose(): void {
    this.store.dispose();
  }
}

/** Disposes `input` and returns `output` (keeps the stage code linear). */
function consume(input: Bands, output: Bands): Bands {
  disposeBands(input);
  return output;
}

/** The decoder's input: tanh(z / 3) · 3, channels-last [B, h, w, C], from NCHW or packed latents. */
export function clampedChannelsLast(
  z: Float32Array,
  B: number,
  C: number,
  h: number,
  w: number,
  layout: 'nchw' | 'packed',
): Float32Array {
  const out = new Float32Array(B * h * w * C);
  for (let b = 0; b < B; b++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let c = 0; c < C; c++) {
          const src =
            layout === 'nchw'
              ? ((b * C + c) * h + y) * w + x
              : ((b * (h / 2) + (y >> 1)) * (w / 2) + (x >> 1)) * 4 * C + c * 4 + (y & 1) * 2 + (x & 1);
          out[((b * h + y) * w + x) * C + c] = Math.tanh(z[src]! / 3) * 3;
        }
  return out;
}
