// The PNG decoder on files built here byte by byte: every colour type and bit depth, all five row
// filters, palettes with transparency, and the errors for broken or unsupported files.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deflateSync, inflateSync } from 'node:zlib';
import { crc32, encodePng } from '../../src/io/png.js';
import { decodePng, toRgb } from '../../src/io/png-decode.js';
import { rng } from '../helpers.js';

const inflate = (z: Uint8Array) => inflateSync(z);

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** A PNG of packed rows (already at the file's bit depth), each row filtered with filters[y % 5]. */
function buildPng(
  w: number,
  h: number,
  depth: number,
  type: number,
  rows: Uint8Array[],
  o: { filters?: number[]; plte?: Uint8Array; trns?: Uint8Array; interlace?: number } = {},
): Uint8Array {
  const samples = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[type]!;
  const bpp = Math.max(1, (samples * depth) >> 3);
  const stride = rows[0]!.length;
  const raw = new Uint8Array((stride + 1) * h);
  const filters = o.filters ?? [0, 1, 2, 3, 4];
  for (let y = 0; y < h; y++) {
    const f = filters[y % filters.length]!;
    raw[y * (stride + 1)] = f;
    const cur = rows[y]!;
    const prev = y > 0 ? rows[y - 1]! : new Uint8Array(stride);
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? cur[i - bpp]! : 0;
      const b = prev[i]!;
      const c = i >= bpp ? prev[i - bpp]! : 0;
      const pred = [0, a, b, (a + b) >> 1, paeth(a, b, c)][f]!;
      raw[y * (stride + 1) + 1 + i] = (cur[i]! - pred) & 0xff;
    }
  }
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, w);
  dv.setUint32(4, h);
  ihdr.set([depth, type, 0, 0, o.interlace ?? 0], 8);
  const parts = [new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr)];
  if (o.plte) parts.push(chunk('PLTE', o.plte));
  if (o.trns) parts.push(chunk('tRNS', o.trns));
  const z = deflateSync(raw);
  // split the image data over two IDAT chunks: decoders must join them
  parts.push(chunk('IDAT', z.subarray(0, z.length >> 1)), chunk('IDAT', z.subarray(z.length >> 1)));
  parts.push(chunk('IEND', new Uint8Array(0)));
  return concat(parts);
}

describe('decodePng', () => {
  const W = 7;
  const H = 6;

  it('RGB 8-bit with all five filters gives back the pixels', () => {
    const r = rng(1);
    const px = Uint8Array.from({ length: W * H * 3 }, () => r.nextU32() & 0xff);
    const rows = Array.from({ length: H }, (_, y) => px.slice(y * W * 3, (y + 1) * W * 3));
    const img = decodePng(buildPng(W, H, 8, 2, rows), inflate);
    assert.deepEqual([img.width, img.height, img.channels], [W, H, 3]);
    assert.deepEqual(Array.from(img.data), Array.from(px));
  });

  it('RGBA and grey + alpha 8-bit, and 16-bit RGB keeps the high byte', () => {
    const r = rng(2);
    const rgba = Uint8Array.from({ length: W * H * 4 }, () => r.nextU32() & 0xff);
    const a = decodePng(
      buildPng(
        W,
        H,
        8,
        6,
        Array.from({ length: H }, (_, y) => rgba.slice(y * W * 4, (y + 1) * W * 4)),
      ),
      inflate,
    );
    assert.equal(a.channels, 4);
    assert.deepEqual(Array.from(a.data), Array.from(rgba));
    assert.deepEqual(Array.from(toRgb(a).subarray(0, 6)), [
      rgba[0],
      rgba[1],
      rgba[2],
      rgba[4],
      rgba[5],
      rgba[6],
    ]);
    const ga = Uint8Array.from({ length: W * H * 2 }, () => r.nextU32() & 0xff);
    const g = decodePng(
      buildPng(
        W,
        H,
        8,
        4,
        Array.from({ length: H }, (_, y) => ga.slice(y * W * 2, (y + 1) * W * 2)),
      ),
      inflate,
    );
    assert.equal(g.channels, 2);
    assert.deepEqual(Array.from(g.data), Array.from(ga));
    const rgb16 = Uint8Array.from({ length: W * H * 6 }, () => r.nextU32() & 0xff);
    const d = decodePng(
      buildPng(
        W,
        H,
        16,
        2,
        Array.from({ length: H }, (_, y) => rgb16.slice(y * W * 6, (y + 1) * W * 6)),
      ),
      inflate,
    );
    assert.deepEqual(
      Array.from(d.data),
      Array.from({ length: W * H * 3 }, (_, i) => rgb16[2 * i]),
    );
  });

  it('grey at 1, 2 and 4 bits scales to 0..255; grey expands to RGB', () => {
    for (const depth of [1, 2, 4]) {
      const max = (1 << depth) - 1;
      const vals = Array.from({ length: W * H }, (_, i) => (i * 3 + 1) % (max + 1));
      const stride = Math.ceil((W * depth) / 8);
      const rows = Array.from({ length: H }, (_, y) => {
        const row = new Uint8Array(stride);
        for (let x = 0; x < W; x++)
          row[(x * depth) >> 3]! |= vals[y * W + x]! << (8 - depth - ((x * depth) % 8));
        return row;
      });
      const img = decodePng(buildPng(W, H, depth, 0, rows), inflate);
      assert.equal(img.channels, 1);
      assert.deepEqual(
        Array.from(img.data),
        vals.map((v) => Math.round((v * 255) / max)),
        `depth ${depth}`,
      );
      assert.deepEqual(Array.from(toRgb(img).subarray(0, 3)), [img.data[0], img.data[0], img.data[0]]);
    }
  });

  it('palette images at 4 bits, with and without tRNS', () => {
    const plte = Uint8Array.from({ length: 5 * 3 }, (_, i) => (i * 40) % 256);
    const idx = Array.from({ length: W * H }, (_, i) => i % 5);
    const rows = Array.from({ length: H }, (_, y) => {
      const row = new Uint8Array(Math.ceil(W / 2));
      for (let x = 0; x < W; x++) row[x >> 1]! |= idx[y * W + x]! << (x % 2 ? 0 : 4);
      return row;
    });
    const img = decodePng(buildPng(W, H, 4, 3, rows, { plte }), inflate);
    assert.equal(img.channels, 3);
    assert.deepEqual(
      Array.from(img.data),
      idx.flatMap((k) => [plte[3 * k], plte[3 * k + 1], plte[3 * k + 2]]),
    );
    const withAlpha = decodePng(
      buildPng(W, H, 4, 3, rows, { plte, trns: new Uint8Array([10, 20]) }),
      inflate,
    );
    assert.equal(withAlpha.channels, 4);
    assert.deepEqual(
      Array.from(withAlpha.data).filter((_, i) => i % 4 === 3),
      idx.map((k) => [10, 20][k] ?? 255),
    );
  });

  it("reads the project's own encoder output", () => {
    const px = Uint8Array.from({ length: 9 * 4 * 3 }, (_, i) => (i * 31) % 256);
    const img = decodePng(
      encodePng(px, 9, 4, 3, (r) => deflateSync(r)),
      inflate,
    );
    assert.deepEqual([img.width, img.height], [9, 4]);
    assert.deepEqual(Array.from(img.data), Array.from(px));
  });

  it('names the problem in broken or unsupported files', () => {
    const good = buildPng(2, 2, 8, 2, [new Uint8Array(6), new Uint8Array(6)]);
    assert.throws(
      () => decodePng(good.subarray(1), inflate, 'x.png'),
      /x\.png: not a valid PNG \(wrong signature\)/,
    );
    const corrupt = good.slice();
    corrupt[45]! ^= 0xff; // in the first IDAT's data (signature 8 + IHDR 25 + length and type 8)
    assert.throws(() => decodePng(corrupt, inflate), /CRC mismatch in IDAT/);
    assert.throws(() => decodePng(good.subarray(0, 50), inflate), /runs past the end|truncated/);
    const interlaced = buildPng(2, 2, 8, 2, [new Uint8Array(6), new Uint8Array(6)], { interlace: 1 });
    assert.throws(() => decodePng(interlaced, inflate), /interlaced \(Adam7\) PNGs are not supported/);
    const badDepth = buildPng(2, 2, 4, 2, [new Uint8Array(3), new Uint8Array(3)]);
    assert.throws(() => decodePng(badDepth, inflate), /bit depth 4 with colour type 2/);
    const noPalette = buildPng(2, 2, 8, 3, [new Uint8Array(2), new Uint8Array(2)]);
    assert.throws(() => decodePng(noPalette, inflate), /palette image without PLTE/);
  });
});
