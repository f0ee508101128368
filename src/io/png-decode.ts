// A small PNG decoder: every colour type (grey, RGB, palette, grey + alpha, RGBA) at the bit depths the
// format allows, all five row filters, CRCs checked. Adam7-interlaced files are refused with a clear
// error. Samples come out as 8 bits (16-bit samples keep their high byte). The inflate step is passed
// in, as for the encoder, so the same code serves Node (node:zlib) and browsers.
import { crc32 } from './png.js';

export interface DecodedPng {
  width: number;
  height: number;
  /** 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA (palette images come out as 3, or 4 with a tRNS chunk). */
  channels: 1 | 2 | 3 | 4;
  /** Interleaved 8-bit samples, row-major. */
  data: Uint8Array;
}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** Samples per pixel for each colour type. */
const SAMPLES: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const DEPTHS: Record<number, number[]> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
};

export function decodePng(
  bytes: Uint8Array,
  inflate: (z: Uint8Array) => Uint8Array,
  name = 'PNG',
): DecodedPng {
  const bad = (why: string): never => {
    throw new Error(`${name}: not a valid PNG (${why})`);
  };
  if (bytes.length < 8 || SIGNATURE.some((b, i) => bytes[i] !== b)) bad('wrong signature');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let width = 0;
  let height = 0;
  let depth = 0;
  let type = -1;
  let palette: Uint8Array | null = null;
  let paletteAlpha: Uint8Array | null = null;
  const idat: Uint8Array[] = [];
  let ended = false;
  for (let o = 8; o < bytes.length && !ended; ) {
    if (o + 12 > bytes.length) bad('truncated chunk header');
    const len = dv.getUint32(o);
    const kind = String.fromCharCode(...bytes.subarray(o + 4, o + 8));
    if (o + 12 + len > bytes.length) bad(`chunk ${kind} runs past the end of the file`);
    const body = bytes.subarray(o + 8, o + 8 + len);
    if (dv.getUint32(o + 8 + len) !== crc32(bytes.subarray(o + 4, o + 8 + len)))
      bad(`CRC mismatch in ${kind}`);
    if (kind === 'IHDR') {
      if (len !== 13) bad('IHDR of the wrong length');
      const h = new DataView(body.buffer, body.byteOffset, 13);
      width = h.getUint32(0);
      height = h.getUint32(4);
      depth = body[8]!;
      type = body[9]!;
      if (!(type in SAMPLES)) bad(`unknown colour type ${type}`);
      if (!DEPTHS[type]!.includes(depth)) bad(`bit depth ${depth} with colour type ${type}`);
      if (body[10] !== 0 || body[11] !== 0) bad('unknown compression or filter method');
      if (body[12] !== 0)
        throw new Error(`${name}: interlaced (Adam7) PNGs are not supported; save it without interlacing`);
      if (width < 1 || height < 1) bad(`size ${width}x${height}`);
    } else if (kind === 'PLTE') {
      if (len % 3 !== 0 || len === 0) bad('PLTE length not a multiple of 3');
      palette = body.slice();
    } else if (kind === 'tRNS' && type === 3) {
      paletteAlpha = body.slice();
    } else if (kind === 'IDAT') {
      idat.push(body);
    } else if (kind === 'IEND') {
      ended = true;
    }
    o += 12 + len;
  }
  if (type < 0) bad('no IHDR chunk');
  if (idat.length === 0) bad('no IDAT chunk');
  if (type === 3 && !palette) bad('palette image without PLTE');

  const z = new Uint8Array(idat.reduce((s, c) => s + c.length, 0));
  let off = 0;
  for (const c of idat) {
    z.set(c, off);
    off += c.length;
  }
  const samples = SAMPLES[type]!;
  const bitsPerPixel = samples * depth;
  const stride = Math.ceil((width * bitsPerPixel) / 8);
  const bpp = Math.max(1, bitsPerPixel >> 3);
  let raw: Uint8Array;
  try {
    raw = inflate(z);
  } catch (e) {
    throw new Error(`${name}: not a valid PNG (image data does not inflate: ${(e as Error).message})`);
  }
  if (raw.length < (stride + 1) * height)
    bad(`image data holds ${raw.length} bytes, ${(stride + 1) * height} needed for ${width}x${height}`);

  // Undo the per-row filters in place, into rows without the filter byte.
  const rows = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)]!;
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const cur = rows.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? rows.subarray((y - 1) * stride, y * stride) : null;
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? cur[i - bpp]! : 0;
      const b = prev ? prev[i]! : 0;
      const c = prev && i >= bpp ? prev[i - bpp]! : 0;
      let v = src[i]!;
      if (f === 1) v += a;
      else if (f === 2) v += b;
      else if (f === 3) v += (a + b) >> 1;
      else if (f === 4) v += paeth(a, b, c);
      else if (f !== 0) bad(`unknown row filter ${f} in row ${y}`);
      cur[i] = v & 0xff;
    }
  }

  const sample = (y: number, i: number): number => {
    // i-th sample of row y, as stored (before palette lookup or scaling)
    const row = rows.subarray(y * stride, (y + 1) * stride);
    if (depth === 8) return row[i]!;
    if (depth === 16) return row[2 * i]!; // high byte
    const perByte = 8 / depth;
    const byte = row[Math.floor(i / perByte)]!;
    const shift = 8 - depth * ((i % perByte) + 1);
    return (byte >> shift) & ((1 << depth) - 1);
  };

  if (type === 3) {
    const pal = palette!;
    const channels = paletteAlpha ? 4 : 3;
    const data = new Uint8Array(width * height * channels);
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) {
        const k = sample(y, x);
        if (3 * k + 2 >= pal.length) bad(`palette index ${k} outside a palette of ${pal.length / 3}`);
        const o = (y * width + x) * channels;
        data[o] = pal[3 * k]!;
        data[o + 1] = pal[3 * k + 1]!;
        data[o + 2] = pal[3 * k + 2]!;
        if (paletteAlpha) data[o + 3] = k < paletteAlpha.length ? paletteAlpha[k]! : 255;
      }
    return { width, height, channels, data };
  }
  const channels = samples as 1 | 2 | 3 | 4;
  const data = new Uint8Array(width * height * channels);
  const scale = depth < 8 ? 255 / ((1 << depth) - 1) : 1;
  for (let y = 0; y < height; y++)
    for (let i = 0; i < width * channels; i++)
      data[y * width * channels + i] = Math.round(sample(y, i) * scale);
  return { width, height, channels, data };
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** 8-bit RGB from any decoded PNG (grey is repeated, alpha dropped). */
export function toRgb(img: DecodedPng): Uint8Array {
  const { width, height, channels, data } = img;
  if (channels === 3) return data;
  const out = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    if (channels <= 2) out.fill(data[p * channels]!, 3 * p, 3 * p + 3);
    else for (let c = 0; c < 3; c++) out[3 * p + c] = data[p * channels + c]!;
  }
  return out;
}
