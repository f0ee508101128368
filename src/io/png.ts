// A small PNG encoder (8-bit RGB or RGBA, no interlace): filter type 0 per row, one zlib stream.
// The deflate step is passed in so the same code serves Node (node:zlib) and browsers.

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** The CRC-32 PNG chunks carry (ISO-HDLC polynomial). */
export function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = CRC_TABLE[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** Encodes interleaved 8-bit pixels (channels 3 or 4) as PNG bytes. `deflate` must produce a zlib stream. */
export function encodePng(
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: 3 | 4,
  deflate: (raw: Uint8Array) => Uint8Array,
): Uint8Array {
  return pngFromIdat(deflate(pngScanlines(pixels, width, height, channels)), width, height, channels);
}

/** encodePng with an asynchronous deflate (a browser's CompressionStream). */
export async function encodePngAsync(
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: 3 | 4,
  deflate: (raw: Uint8Array) => Promise<Uint8Array>,
): Promise<Uint8Array> {
  return pngFromIdat(await deflate(pngScanlines(pixels, width, height, channels)), width, height, channels);
}

/** The bytes PNG compresses: each row of pixels prefixed by its filter type (0, none). */
function pngScanlines(pixels: Uint8Array, width: number, height: number, channels: 3 | 4): Uint8Array {
  if (pixels.length !== width * height * channels) {
    throw new RangeError(`encodePng: ${pixels.length} bytes for ${width}x${height}x${channels}`);
  }
  const stride = width * channels;
  const raw = new Uint8Array((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (stride + 1)] = 0;
    raw.set(pixels.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  }
  return raw;
}

/** The PNG file around compressed scanlines. */
function pngFromIdat(idat: Uint8Array, width: number, height: number, channels: 3 | 4): Uint8Array {
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, width);
  dv.setUint32(4, height);
  ihdr[8] = 8;
  ihdr[9] = channels === 4 ? 6 : 2;
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', idat),
    chunk('IEND', new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Float RGB in [-1, 1] (interleaved HWC) to 8-bit. */
export function toUint8(rgb: Float32Array): Uint8Array {
  const out = new Uint8Array(rgb.length);
  for (let i = 0; i < rgb.length; i++) out[i] = Math.max(0, Math.min(255, Math.round((rgb[i]! + 1) * 127.5)));
  return out;
}
