// CPU reference dequantization of every ggml type this engine reads, bit-exact with llama.cpp's
// gguf-py (`gguf.quants.dequantize`, which follows ggml-quants.c dequantize_row_*): the same f32
// operations in the same order. Tested against ../shared/fixtures/gguf-dequant; block layouts in
// docs/quant.md.
//
// Rounding: gguf-py computes in numpy float32, every operation rounded to f32. A product of two f32
// values computed in f64 and then rounded to f32 is exactly the f32 product, so a single operation
// needs no Math.fround when the result goes straight into a Float32Array (the store rounds); a
// two-operation formula (d·q + m, d·q − m) rounds the intermediate with Math.fround, as numpy does.
import { bf16BitsToF32 as bf16ToF32, f16BitsToF32 as f16ToF32 } from '../util/f16.js';
import { type GgmlTypeName, ggmlBytes, ggmlType } from './ggml-types.js';

/** The f32 value of every f16 bit pattern, built on first use (256 KiB). */
let f16Lut: Float32Array | null = null;
function f16Table(): Float32Array {
  if (!f16Lut) {
    f16Lut = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Lut[h] = f16ToF32(h);
  }
  return f16Lut;
}

/** `count` elements of `type` from `bytes` (whole blocks), as f32. */
export function dequantize(type: GgmlTypeName, bytes: Uint8Array, count: number): Float32Array {
  const out = new Float32Array(count);
  dequantizeInto(type, bytes, count, out, 0);
  return out;
}

/**
 * Dequantizes `count` elements of `type` from the start of `bytes` into `out[offset ...]` (no
 * allocation besides a one-time f16 table): for callers that fill a larger buffer row by row.
 */
export function dequantizeInto(
  type: GgmlTypeName,
  bytes: Uint8Array,
  count: number,
  out: Float32Array,
  offset = 0,
): void {
  const need = ggmlBytes(type, count);
  if (bytes.length < need)
    throw new RangeError(`dequantize(${type}): ${count} elements need ${need} bytes, got ${bytes.length}`);
  if (!Number.isInteger(offset) || offset < 0 || offset + count > out.length)
    throw new RangeError(
      `dequantize(${type}): ${count} elements at offset ${offset} do not fit an output of ${out.length}`,
    );
  const blockSize = ggmlType(type).blockSize;
  const kernel = KERNELS[type];
  if (!kernel) throw new Error(`dequantize(${type}): unknown type`);
  kernel(bytes, count / blockSize, out, offset);
}

/** Each type's loop over whole blocks (one element per block for the float types). */
type Kernel = (bytes: Uint8Array, blocks: number, out: Float32Array, offset: number) => void;

const KERNELS: Record<GgmlTypeName, Kernel> = {
  F32: f32Rows,
  F16: (b, n, out, off) => {
    const t = f16Table();
    for (let i = 0; i < n; i++) out[off + i] = half(t, b, 2 * i);
  },
  BF16: (b, n, out, off) => {
    for (let i = 0; i < n; i++) out[off + i] = bf16ToF32(b[2 * i]! | (b[2 * i + 1]! << 8));
  },
  Q8_0: q8_0,
  Q4_0: q4_0,
  Q4_1: q4_1,
  Q5_0: q5_0,
  Q5_1: q5_1,
  Q2_K: q2_K,
  Q3_K: q3_K,
  Q4_K: q4_K,
  Q5_K: q5_K,
  Q6_K: q6_K,
};

function f32Rows(bytes: Uint8Array, count: number, out: Float32Array, offset: number): void {
  if (bytes.byteOffset % 4 === 0) {
    out.set(new Float32Array(bytes.buffer, bytes.byteOffset, count), offset);
    return;
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, 4 * count);
  for (let i = 0; i < count; i++) out[offset + i] = dv.getFloat32(4 * i, true);
}

/** Reads the f16 at byte `o` (little-endian) through the table. */
function half(t: Float32Array, b: Uint8Array, o: number): number {
  return t[b[o]! | (b[o + 1]! << 8)]!;
}

// ---- 32-element blocks ----

function q8_0(b: Uint8Array, blocks: number, out: Float32Array, off: number): void {
  const t = f16Table();
  const s = new Int8Array(b.buffer, b.byteOffset, blocks * 34);
  for (let i = 0, o = 0, y = off; i < blocks; i++, o += 34, y += 32) {
    const d = half(t, b, o);
    for (let j = 0; j < 32; j++) out[y + j] = d * s[o + 2 + j]!;
  }
}

function q4_0(b: Uint8Array, blocks: number, out: Float32Array, off: number): void {
  const t = f16Table();
  for (let i = 0, o = 0, y = off; i < blocks; i++, o += 18, y += 32) {
    const d = half(t, b, o);
    for (let j = 0; j < 16; j++) {
      const v = b[o + 2 + j]!;
      out[y + j] = d * ((v & 15) - 8);
      out[y + j + 16] = d * ((v >> 4) - 8);
    }
  }
}

function q4_1(b: Uint8Array, blocks: number, out: Float32Array, off: number): void {
  const t = f16Table();
  const fr = Math.fround;
  for (let i = 0, o = 0, y = off; i < blocks; i++, o += 20, y += 32) {
    const d = half(t, b, o);
    const m = half(t, b, o + 2);
    for (let j = 0; j < 16; j++) {
      const v = b[o + 4 + j]!;
      out[y + j] = fr(d * (v & 15)) + m;
      out[y + j + 16] = fr(d * (v >> 4)) + m;
    }
  }
}

/** The 32 fifth bits of a Q5 block (little-endian u32 at byte o). */
function u32At(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

function q5_0(b: Uint8Array, blocks: number, out: Float32Array, off: number): void {
  const t = f16Table();
  for (let i = 0, o = 0, y = off; i < blocks; i++, o += 22, y += 32) {
    const d = half(t, b, o);
    const qh = u32At(b, o + 2);
    for (let j = 0; j < 16; j++) {
      const v = b[o + 6 + j]!;
      out[y + j] = d * (((v & 15) | (((qh >>> j) & 1) << 4)) - 16);
      out[y + j + 16] = d * (((v >> 4) | (((qh >>> (j + 16)) & 1) << 4)) - 16);
    }
  }
}

function q5_1(b: Uint8Array, blocks: number, out: Float32Array, off: number): void {
  const t = f16Table();
  const fr = Math.fround;
  for (let i = 0, o = 0, y = off; i < blocks; i++, o += 24, y += 32) {
    const d = half(t, b, o);
    const m = half(t, b, o + 2);
    const qh = u32At(b, o + 4);
    for (let j = 0; j < 16; j++) {
      const v = b[o + 8 + j]!;
      out[y + j] = fr(d * ((v & 15) | (((qh >>> j) & 1) << 4))) + m;
      out[y + j + 16] = fr(d * ((v >> 4) | (((qh >>> (j + 16)) & 1) << 4))) + m;
    }
  }
}

// ---- 256-element super-blocks (K-quants) ----

function q2_K(b: Uint8Array, blocks: number, out: Float32Array, off: number): void {
  const t = f16Table();
  const fr = Math.fround;
  for (let i = 0, o = 0, y = off; i < blocks; i++, o += 84, y += 256) {
    const d = half(t, b, o + 80);
    const dmin = half(t, b, o + 82);
    // Element e = 128·h + 32·s + l reads bits 2s..2s+1 of qs[32·h + l]; its 16-group is e >> 4.
    for (let h = 0; h < 2; h++) {
      for (let s = 0; s < 4; s++) {
        for (let g = 0; g < 2; g++) {
          const sc = b[o + 8 * h + 2 * s + g]!;
          const dl = fr(d * (sc & 15));
          const ml = fr(dmin * (sc >> 4));
          const q0 = o + 16 + 32 * h + 16 * g;
          const y0 = y + 128 * h + 32 * s + 16 * g;
          const shift = 2 * s;
          for (let l = 0; l < 16; l++) out[y0 + l] = fr(dl * ((b[q0 + l]! >> shift) & 3)) - ml;
        }
      }
    }
  }
}

/** The sixteen signed 6-bit scales of a Q3_K block (12 bytes at o) into `sc`. */
function q3Scales(b: Uint8Array, o: number, sc: Int32Array): void {
  for (let j = 0; j < 16; j++) {
    const low = j < 8 ? b[o + j]! & 15 : b[o + j - 8]! >> 4;
    const high = (b[o + 8 + (j & 3)]! >> (2 * (j >> 2))) & 3;
    sc[j] = (low | (high << 4)) - 32;
  }
}

function q3_K(b: Uint8Array, blocks: number, out: Float32Array, off: number): void {
  const t = f16Table();
  const fr = Math.fround;
  const sc = new Int32Array(16);
  for (let i = 0, o = 0, y = off; i < blocks; i++, o += 110, y += 256) {
    const d = half(t, b, o + 108);
    q3Scales(b, o + 96, sc);
    // Element e = 128·h + 32·s + l: low 2 bits from qs[32·h + l] >> 2s, high bit from
    // hmask[l] >> (e >> 5); a clear high bit subtracts 4.
    for (let h = 0; h < 2; h++) {
      for (let s = 0; s < 4; s++) {
        const shift = 2 * s;
        const hbit = 4 * h + s;
        for (let g = 0; g < 2; g++) {
          const dl = fr(d * sc[8 * h + 2 * s + g]!);
          const q0 = o + 32 + 32 * h + 16 * g;
          const m0 = o + 16 * g;
          const y0 = y + 128 * h + 32 * s + 16 * g;
          for (let l = 0; l < 16; l++) {
            const q = ((b[q0 + l]! >> shift) & 3) - (((b[m0 + l]! >> hbit) & 1) ^ 1) * 4;
            out[y0 + l] = dl * q;
          }
        }
      }
    }
  }
}

/** The eight 6-bit scales and mins of a Q4_K/Q5_K block (12 bytes at o). */
function kScaleMin(b: Uint8Array, o: number, sc: Int32Array, mn: Int32Array): void {
  for (let j = 0; j < 4; j++) {
    sc[j] = b[o + j]! & 63;
    mn[j] = b[o + 4 + j]! & 63;
    const packed = b[o + 8 + j]!;
    sc[j + 4] = (packed & 15) | ((b[o + j]! >> 6) << 4);
    mn[j + 4] = (packed >> 4) | ((b[o + 4 + j]! >> 6) << 4);
  }
}

function q4_K(b: Uint8Array, blocks: number, out: Float32Array, off: number): void {
  const t = f16Table();
  const fr = Math.fround;
  const sc = new Int32Array(8);
  const mn = new Int32Array(8);
  for (let i = 0, o = 0, y = off; i < blocks; i++, o += 144, y += 256) {
    const d = half(t, b, o);
    const dmin = half(t, b, o + 2);
    kScaleMin(b, o + 4, sc, mn);
    // Sub-block j (32 elements) is nibble (j & 1) of qs[32·(j >> 1) + l].
    for (let j = 0; j < 8; j++) {
      const dl = fr(d * sc[j]!);
      const ml = fr(dmin * mn[j]!);
      const q0 = o + 16 + 32 * (j >> 1);
      const shift = 4 * (j & 1);
      const y0 = y + 32 * j;
      for (let l = 0; l < 32; l++) out[y0 + l] = fr(dl * ((b[q0 + l]! >> shift) & 15)) - ml;
    }
  }
}

function q5_K(b: Uint8Array, blocks: number, out: Float32Array, off: number): void {
  const t = f16Table();
  const fr = Math.fround;
  const sc = new Int32Array(8);
  const mn = new Int32Array(8);
  for (let i = 0, o = 0, y = off; i < blocks; i++, o += 176, y += 256) {
    const d = half(t, b, o);
    const dmin = half(t, b, o + 2);
    kScaleMin(b, o + 4, sc, mn);
    // As Q4_K, plus bit j of qh[l] as the fifth bit of element l of sub-block j.
    for (let j = 0; j < 8; j++) {
      const dl = fr(d * sc[j]!);
      const ml = fr(dmin * mn[j]!);
      const q0 = o + 48 + 32 * (j >> 1);
      const shift = 4 * (j & 1);
      const y0 = y + 32 * j;
      for (let l = 0; l < 32; l++) {
        const q = ((b[q0 + l]! >> shift) & 15) | (((b[o + 16 + l]! >> j) & 1) << 4);
        out[y0 + l] = fr(dl * q) - ml;
      }
    }
  }
}

function q6_K(b: Uint8Array, blocks: number, out: Float32Array, off: number): void {
  const t = f16Table();
  const fr = Math.fround;
  const s8 = new Int8Array(b.buffer, b.byteOffset, blocks * 210);
  for (let i = 0, o = 0, y = off; i < blocks; i++, o += 210, y += 256) {
    const d = half(t, b, o + 208);
    // Element e = 128·h + 32·k + l (k = 0..3): low nibble from ql[64·h + 32·(k & 1) + l] (high
    // nibble when k ≥ 2), two high bits from qh[32·h + l] >> 2k; scale index e >> 4.
    for (let h = 0; h < 2; h++) {
      for (let k = 0; k < 4; k++) {
        const l0 = o + 64 * h + 32 * (k & 1);
        const lshift = 4 * (k >> 1);
        const h0 = o + 128 + 32 * h;
        const hshift = 2 * k;
        for (let g = 0; g < 2; g++) {
          const dl = fr(d * s8[o + 192 + 8 * h + 2 * k + g]!);
          const y0 = y + 128 * h + 32 * k + 16 * g;
          for (let l = 16 * g; l < 16 * g + 16; l++) {
            const q = (((b[l0 + l]! >> lshift) & 15) | (((b[h0 + l]! >> hshift) & 3) << 4)) - 32;
            out[y0 + l - 16 * g] = dl * q;
          }
        }
      }
    }
  }
}
