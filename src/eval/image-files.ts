// Reading real images for the evaluation: PNG (our decoder) and JPEG (npm jpeg-js), brought to the
// generation size by a centred square crop and an area (box) resize.
import { readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { decodePng, toRgb } from '../io/png-decode.js';
import { describeFsError, InputFileError, readRegularFile } from '../io/regular-file.js';
import type { RgbImage } from './image-metrics.js';

const EXTENSIONS = new Set(['.png', '.jpg', '.jpeg']);

/** Whether a file name is one readImageDir reads (.png, .jpg, .jpeg, any case). */
export const isImageName = (name: string): boolean => EXTENSIONS.has(extname(name).toLowerCase());
const MAX_IMAGE_FILE_BYTES = 256 << 20;

/** Decodes a PNG or JPEG file (by its signature, not its name) to 8-bit RGB. */
export async function readImageFile(path: string): Promise<RgbImage> {
  // a regular file only (a pipe would hang, a device never end); 256 MiB is beyond any real photo
  let bytes: Uint8Array;
  try {
    bytes = readRegularFile(path, MAX_IMAGE_FILE_BYTES, 'image file');
  } catch (e) {
    throw e instanceof InputFileError ? new Error(e.message) : e;
  }
  if (bytes[0] === 0x89 && bytes[1] === 0x50) {
    const png = decodePng(bytes, (z) => inflateSync(z), path);
    return { width: png.width, height: png.height, data: toRgb(png) };
  }
  if (bytes[0] === 0xff && bytes[1] === 0xd8) {
    const jpeg = await import('jpeg-js');
    let img: { width: number; height: number; data: Uint8Array };
    try {
      img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 1024 });
    } catch (e) {
      throw new Error(`${path}: not a decodable JPEG (${(e as Error).message})`);
    }
    if (img.data.length !== img.width * img.height * 3)
      throw new Error(`${path}: JPEG decoded to ${img.data.length} bytes for ${img.width}x${img.height}`);
    return { width: img.width, height: img.height, data: img.data };
  }
  throw new Error(`${path}: neither a PNG nor a JPEG file`);
}

/** Area-average resize (each output pixel is the mean of the source area it covers). */
export function resizeArea(img: RgbImage, W: number, H: number): RgbImage {
  if (img.width === W && img.height === H) return img;
  const wx = boxWeights(img.width, W);
  const wy = boxWeights(img.height, H);
  const tmp = new Float64Array(img.height * W * 3);
  for (let y = 0; y < img.height; y++)
    for (let x = 0; x < W; x++)
      for (const [sx, w] of wx[x]!)
        for (let c = 0; c < 3; c++) tmp[(y * W + x) * 3 + c]! += w * img.data[(y * img.width + sx) * 3 + c]!;
  const out = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++)
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (const [sy, w] of wy[y]!) s += w * tmp[(sy * W + x) * 3 + c]!;
        out[(y * W + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(s)));
      }
  return { width: W, height: H, data: out };
}

/** For each of n output cells over m source cells: [source index, weight] pairs summing to 1. */
function boxWeights(m: number, n: number): [number, number][][] {
  const scale = m / n;
  return Array.from({ length: n }, (_, i) => {
    const a = i * scale;
    const b = (i + 1) * scale;
    const ws: [number, number][] = [];
    for (let s = Math.floor(a); s < Math.min(m, Math.ceil(b)); s++) {
      const w = Math.min(b, s + 1) - Math.max(a, s);
      if (w > 1e-12) ws.push([s, w / scale]);
    }
    return ws;
  });
}

/** Crops a w x h region at (x, y). */
export function crop(img: RgbImage, x: number, y: number, w: number, h: number): RgbImage {
  if (x < 0 || y < 0 || w < 1 || h < 1 || x + w > img.width || y + h > img.height)
    throw new RangeError(`crop: ${w}x${h} at (${x}, ${y}) is outside a ${img.width}x${img.height} image`);
  const out = new Uint8Array(w * h * 3);
  for (let r = 0; r < h; r++)
    out.set(img.data.subarray(((y + r) * img.width + x) * 3, ((y + r) * img.width + x + w) * 3), r * w * 3);
  return { width: w, height: h, data: out };
}

/** Centred square crop, then an area resize to size x size. */
export function fitSquare(img: RgbImage, size: number): RgbImage {
  const side = Math.min(img.width, img.height);
  const sq = crop(img, (img.width - side) >> 1, (img.height - side) >> 1, side, side);
  return resizeArea(sq, size, size);
}

export interface ImageSet {
  name: string;
  dir: string;
  files: string[];
  images: RgbImage[];
  /** How many images were not already size x size and were cropped/resized. */
  refitted: number;
}

/** Every PNG/JPEG in a folder (sorted by name), fitted to size x size. */
export async function readImageDir(dir: string, size: number, name = dir): Promise<ImageSet> {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (e) {
    throw new Error(`cannot read the image folder ${describeFsError(dir, e, 'folder').message}`);
  }
  const files = entries.filter((f) => isImageName(f) && statSync(join(dir, f)).isFile()).sort();
  if (files.length === 0) throw new Error(`${dir}: no .png, .jpg or .jpeg files`);
  const images: RgbImage[] = [];
  let refitted = 0;
  for (const f of files) {
    const img = await readImageFile(join(dir, f));
    if (img.width !== size || img.height !== size) refitted++;
    images.push(fitSquare(img, size));
  }
  return { name, dir, files, images, refitted };
}
