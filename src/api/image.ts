// What the one-call pipeline returns: an image a user can look at, encode or save without knowing the
// engine's internal layout (float RGB in [-1, 1]).
import { encodePngAsync } from '../io/png.js';
import type { ChosenDestinations } from '../merge/toma-reducer.js';

export interface ImageInfo {
  /** The seed the image's noise came from. */
  seed: number;
  /** The prompt, or the class name for the embedded model. */
  label: string;
  /** The method label, e.g. "toma 0.25 + fora 2" or "dense". */
  method: string;
  /** Each step's wall time (ms) and the whole call's, for the batch the image was made in. */
  stepMs?: number[];
  totalMs?: number;
  /** With `keepDestinations` (embedded model, ToMA): the destinations ToMA chose last, for a map. */
  destinations?: ChosenDestinations | null;
  /** With a step cache: the steps this image computed in full (the others reused work). */
  fullSteps?: number[];
}

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

/** zlib-format deflate: node:zlib in Node, CompressionStream('deflate') in browsers. */
async function deflate(raw: Uint8Array): Promise<Uint8Array> {
  if (isNode) {
    const zlib = await import('node:zlib');
    return new Uint8Array(zlib.deflateSync(raw));
  }
  const stream = new Blob([raw as BlobPart]).stream().pipeThrough(new CompressionStream('deflate'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** An 8-bit RGBA image. */
export class GeneratedImage implements ImageInfo {
  readonly seed: number;
  readonly label: string;
  readonly method: string;
  readonly stepMs?: number[];
  readonly totalMs?: number;
  readonly destinations?: ChosenDestinations | null;
  readonly fullSteps?: number[];

  constructor(
    readonly width: number,
    readonly height: number,
    /** RGBA bytes, row-major, `width * height * 4` of them. */
    readonly data: Uint8ClampedArray,
    info: ImageInfo,
  ) {
    if (data.length !== width * height * 4)
      throw new RangeError(`GeneratedImage: ${data.length} bytes for ${width}x${height} RGBA`);
    this.seed = info.seed;
    this.label = info.label;
    this.method = info.method;
    this.stepMs = info.stepMs;
    this.totalMs = info.totalMs;
    this.destinations = info.destinations;
    this.fullSteps = info.fullSteps;
  }

  /** From interleaved float RGB in [-1, 1] (what the samplers produce). */
  static fromFloatRgb(rgb: Float32Array, width: number, height: number, info: ImageInfo): GeneratedImage {
    const n = width * height;
    if (rgb.length !== n * 3)
      throw new RangeError(`fromFloatRgb: ${rgb.length} values for ${width}x${height} RGB`);
    const data = new Uint8ClampedArray(n * 4);
    for (let i = 0; i < n; i++) {
      // Uint8ClampedArray clamps and rounds half to even; NaN becomes 0
      data[4 * i] = (rgb[3 * i]! + 1) * 127.5;
      data[4 * i + 1] = (rgb[3 * i + 1]! + 1) * 127.5;
      data[4 * i + 2] = (rgb[3 * i + 2]! + 1) * 127.5;
      data[4 * i + 3] = 255;
    }
    return new GeneratedImage(width, height, data, info);
  }

  /** RGB bytes without alpha. */
  rgb(): Uint8Array {
    const n = this.width * this.height;
    const out = new Uint8Array(n * 3);
    for (let i = 0; i < n; i++) {
      out[3 * i] = this.data[4 * i]!;
      out[3 * i + 1] = this.data[4 * i + 1]!;
      out[3 * i + 2] = this.data[4 * i + 2]!;
    }
    return out;
  }

  /** PNG file bytes (RGB, 8 bits). */
  async toPNG(): Promise<Uint8Array> {
    return encodePngAsync(this.rgb(), this.width, this.height, 3, deflate);
  }

  /** Node: writes the PNG to `path` atomically (a temporary file renamed into place). */
  async save(path: string): Promise<void> {
    if (!isNode)
      throw new Error('GeneratedImage.save() needs Node; in a browser use toPNG() or toImageData()');
    const { writeFileAtomic } = await import('../io/atomic.js');
    writeFileAtomic(path, await this.toPNG());
  }

  /** Browser: an ImageData for a canvas (`ctx.putImageData(image.toImageData(), 0, 0)`). */
  toImageData(): ImageData {
    if (typeof ImageData === 'undefined')
      throw new Error('toImageData() needs ImageData (a browser or a polyfill)');
    return new ImageData(new Uint8ClampedArray(this.data), this.width, this.height);
  }
}
