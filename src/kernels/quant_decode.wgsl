// Decoding of ggml quantized blocks, included (#include quant_decode) by the kernels that read a
// QuantizedMatrix. The including shader declares `wq: array<u32>` (the raw block bytes, rows one
// after another, each row K / blockSize blocks) and passes the type as the QUANT parameter.
//
// dequant8(row, k, K) returns the 8 elements k..k+7 (k a multiple of 8) of a row as f32. Eight
// consecutive elements never straddle a block or a sub-block (sub-blocks are 16 or 32 elements), so
// each routine reads its block's scales once. The arithmetic is the reference dequantizer's (gguf-py
// quants.py, ggml-quants.c dequantize_row_*): the same f32 products and sums in the same order, so
// on a driver that does not contract a*b - c into an fma the values are bit-identical to the CPU's
// src/quant/dequant.ts.
//
// Block sizes (18, 20, 22, 24, 34, 84, 110, 144, 176, 210 bytes) are not multiples of 4, so blocks
// start at any byte; every field is read through byte-addressed helpers. The f16 fields sit at even
// offsets (all block sizes are even), so an f16 never straddles two words.

const QK_Q8_0: u32 = 32u;
const QK_Q4_0: u32 = 32u;
const QK_Q4_1: u32 = 32u;
const QK_Q5_0: u32 = 32u;
const QK_Q5_1: u32 = 32u;
const QK_Q2_K: u32 = 256u;
const QK_Q3_K: u32 = 256u;
const QK_Q4_K: u32 = 256u;
const QK_Q5_K: u32 = 256u;
const QK_Q6_K: u32 = 256u;
const QB_Q8_0: u32 = 34u;
const QB_Q4_0: u32 = 18u;
const QB_Q4_1: u32 = 20u;
const QB_Q5_0: u32 = 22u;
const QB_Q5_1: u32 = 24u;
const QB_Q2_K: u32 = 84u;
const QB_Q3_K: u32 = 110u;
const QB_Q4_K: u32 = 144u;
const QB_Q5_K: u32 = 176u;
const QB_Q6_K: u32 = 210u;

/** Elements and bytes of one block of this shader's type. */
const Q_BLOCK: u32 = QK_{{QUANT}};
const Q_BYTES: u32 = QB_{{QUANT}};

fn dequant8(row: u32, k: u32, K: u32) -> array<f32, 8> {
  let base = row * (K / Q_BLOCK) * Q_BYTES + (k / Q_BLOCK) * Q_BYTES;
  return deq8_{{QUANT}}(base, k % Q_BLOCK);
}

// ---- byte access ---------------------------------------------------------------------------------

fn qByte(off: u32) -> u32 {
  return (wq[off >> 2u] >> ((off & 3u) * 8u)) & 0xFFu;
}

/** 4 bytes from any byte offset, little-endian. */
fn qWord(off: u32) -> u32 {
  let i = off >> 2u;
  let s = (off & 3u) * 8u;
  if (s == 0u) { return wq[i]; }
  return (wq[i] >> s) | (wq[i + 1u] << (32u - s));
}

/** 8 bytes from any byte offset. */
fn qBytes8(off: u32) -> vec2<u32> {
  return vec2<u32>(qWord(off), qWord(off + 4u));
}

/** Byte i (0..7) of 8 bytes read by qBytes8. */
fn byteOf(q: vec2<u32>, i: u32) -> u32 {
  return (q[i >> 2u] >> ((i & 3u) * 8u)) & 0xFFu;
}

/** Byte i of 8 as a signed int8. */
fn int8Of(q: vec2<u32>, i: u32) -> i32 {
  return bitcast<i32>(q[i >> 2u] << (24u - (i & 3u) * 8u)) >> 24u;
}

/** The f16 at an even byte offset, converted exactly in integer arithmetic (subnormals included,
    whatever the adapter does with f16 denormals). */
fn qF16(off: u32) -> f32 {
  let h = (wq[off >> 2u] >> ((off & 2u) * 8u)) & 0xFFFFu;
  let sign = (h & 0x8000u) << 16u;
  let e = (h >> 10u) & 0x1Fu;
  let m = h & 0x3FFu;
  if (e == 0u) {
    // ±m · 2^-24: exact (m < 2^10, and the product is a normal f32).
    let v = f32(m) * 5.9604644775390625e-8;
    return select(v, -v, sign != 0u);
  }
  if (e == 31u) { return bitcast<f32>(sign | 0x7F800000u | (m << 13u)); }
  return bitcast<f32>(sign | ((e + 112u) << 23u) | (m << 13u));
}

// ---- the 32-element types ------------------------------------------------------------------------
// Q4_x / Q5_x: element j < 16 is the low nibble of qs[j], element j >= 16 the high nibble of qs[j - 16];
// Q5_x: bit j of the u32 qh is element j's fifth bit.

fn deq8_Q8_0(base: u32, j: u32) -> array<f32, 8> {
  let d = qF16(base);
  let q = qBytes8(base + 2u + j);
  var o: array<f32, 8>;
  for (var i = 0u; i < 8u; i++) { o[i] = f32(int8Of(q, i)) * d; }
  return o;
}

fn deq8_Q4_0(base: u32, j: u32) -> array<f32, 8> {
  let d = qF16(base);
  let q = qBytes8(base + 2u + (j & 15u));
  let sh = (j >> 4u) * 4u;
  var o: array<f32, 8>;
  for (var i = 0u; i < 8u; i++) { o[i] = d * f32(i32((byteOf(q, i) >> sh) & 0xFu) - 8); }
  return o;
}

fn deq8_Q4_1(base: u32, j: u32) -> array<f32, 8> {
  let d = qF16(base);
  let m = qF16(base + 2u);
  let q = qBytes8(base + 4u + (j & 15u));
  let sh = (j >> 4u) * 4u;
  var o: array<f32, 8>;
  for (var i = 0u; i < 8u; i++) { o[i] = d * f32((byteOf(q, i) >> sh) & 0xFu) + m; }
  return o;
}

fn deq8_Q5_0(base: u32, j: u32) -> array<f32, 8> {
  let d = qF16(base);
  let qh = qWord(base + 2u) >> j;
  let q = qBytes8(base + 6u + (j & 15u));
  let sh = (j >> 4u) * 4u;
  var o: array<f32, 8>;
  for (var i = 0u; i < 8u; i++) {
    let v = ((byteOf(q, i) >> sh) & 0xFu) | (((qh >> i) & 1u) << 4u);
    o[i] = d * f32(i32(v) - 16);
  }
  return o;
}

fn deq8_Q5_1(base: u32, j: u32) -> array<f32, 8> {
  let d = qF16(base);
  let m = qF16(base + 2u);
  let qh = qWord(base + 4u) >> j;
  let q = qBytes8(base + 8u + (j & 15u));
  let sh = (j >> 4u) * 4u;
  var o: array<f32, 8>;
  for (var i = 0u; i < 8u; i++) {
    let v = ((byteOf(q, i) >> sh) & 0xFu) | (((qh >> i) & 1u) << 4u);
    o[i] = d * f32(v) + m;
  }
  return o;
}

// ---- the K-quants (256-element super-blocks) -----------------------------------------------------
// 2-bit fields: element j's bits are at shift 2·((j mod 128) / 32) of byte (j / 128)·32 + j mod 32.
// 4-bit fields (Q4_K/Q5_K): nibble (j / 32) mod 2 of byte (j / 64)·32 + j mod 32.
// High-bit masks (Q3_K hmask, Q5_K qh): bit j / 32 of byte j mod 32.

fn deq8_Q2_K(base: u32, j: u32) -> array<f32, 8> {
  let sc = qByte(base + j / 16u);
  let d = qF16(base + 80u);
  let dmin = qF16(base + 82u);
  let dl = d * f32(sc & 0xFu);
  let ml = dmin * f32(sc >> 4u);
  let q = qBytes8(base + 16u + (j / 128u) * 32u + (j & 31u));
  let sh = ((j & 127u) / 32u) * 2u;
  var o: array<f32, 8>;
  for (var i = 0u; i < 8u; i++) { o[i] = dl * f32((byteOf(q, i) >> sh) & 3u) - ml; }
  return o;
}

fn deq8_Q3_K(base: u32, j: u32) -> array<f32, 8> {
  let d = qF16(base + 108u);
  // Sixteen 6-bit scales: low 4 bits in the nibbles of bytes 96..103 (scale s < 8: low nibble of
  // byte s; else the high nibble of byte s - 8), high 2 bits in bytes 104..107 (byte s mod 4, at
  // shift 2·(s / 4)); stored with an offset of 32.
  let s = j / 16u;
  let lo = (qByte(base + 96u + (s & 7u)) >> ((s >> 3u) * 4u)) & 0xFu;
  let hi = (qByte(base + 104u + (s & 3u)) >> ((s >> 2u) * 2u)) & 3u;
  let dl = d * f32(i32(lo | (hi << 4u)) - 32);
  let q = qBytes8(base + 32u + (j / 128u) * 32u + (j & 31u));
  let hm = qBytes8(base + (j & 31u));
  let sh = ((j & 127u) / 32u) * 2u;
  let hb = j / 32u;
  var o: array<f32, 8>;
  for (var i = 0u; i < 8u; i++) {
    // The high bit set means no offset; clear means minus 4.
    let v = i32((byteOf(q, i) >> sh) & 3u) - select(4, 0, ((byteOf(hm, i) >> hb) & 1u) == 1u);
    o[i] = dl * f32(v);
  }
  return o;
}

/** Q4_K/Q5_K: the 6-bit scale and min of sub-block s (0..7), from the 12 bytes at `off`. */
fn scaleMinK4(off: u32, s: u32) -> vec2<u32> {
  if (s < 4u) {
    return vec2<u32>(qByte(off + s) & 63u, qByte(off + s + 4u) & 63u);
  }
  let md = qByte(off + s + 4u);
  return vec2<u32>(
    (md & 0xFu) | ((qByte(off + s - 4u) >> 2u) & 0x30u),
    (md >> 4u) | ((qByte(off + s) >> 2u) & 0x30u),
  );
}

fn deq8_Q4_K(base: u32, j: u32) -> array<f32, 8> {
  let d = qF16(base);
  let dmin = qF16(base + 2u);
  let sm = scaleMinK4(base + 4u, j / 32u);
  let dl = d * f32(sm.x);
  let ml = dmin * f32(sm.y);
  let q = qBytes8(base + 16u + (j / 64u) * 32u + (j & 31u));
  let sh = ((j / 32u) & 1u) * 4u;
  var o: array<f32, 8>;
  for (var i = 0u; i < 8u; i++) { o[i] = dl * f32((byteOf(q, i) >> sh) & 0xFu) - ml; }
  return o;
}

fn deq8_Q5_K(base: u32, j: u32) -> array<f32, 8> {
  let d = qF16(base);
  let dmin = qF16(base + 2u);
  let sm = scaleMinK4(base + 4u, j / 32u);
  let dl = d * f32(sm.x);
  let ml = dmin * f32(sm.y);
  let hm = qBytes8(base + 16u + (j & 31u));
  let q = qBytes8(base + 48u + (j / 64u) * 32u + (j & 31u));
  let sh = ((j / 32u) & 1u) * 4u;
  let hb = j / 32u;
  var o: array<f32, 8>;
  for (var i = 0u; i < 8u; i++) {
    let v = ((byteOf(q, i) >> sh) & 0xFu) | (((byteOf(hm, i) >> hb) & 1u) << 4u);
    o[i] = dl * f32(v) - ml;
  }
  return o;
}

fn deq8_Q6_K(base: u32, j: u32) -> array<f32, 8> {
  // ql[128]: nibble ((j mod 128) / 64) of byte (j / 128)·64 + j mod 64; qh[64] at 128: the 2-bit
  // field of element j as in the other K-quants; int8 scales[16] at 192; f16 d at 208.
  let sc = bitcast<i32>(qByte(base + 192u + j / 16u) << 24u) >> 24u;
  let dl = qF16(base + 208u) * f32(sc);
  let ql = qBytes8(base + (j / 128u) * 64u + (j & 63u));
  let qh = qBytes8(base + 128u + (j / 128u) * 32u + (j & 31u));
  let shl = ((j & 127u) / 64u) * 4u;
  let shh = ((j & 127u) / 32u) * 2u;
  var o: array<f32, 8>;
  for (var i = 0u; i < 8u; i++) {
    let v = ((byteOf(ql, i) >> shl) & 0xFu) | (((byteOf(qh, i) >> shh) & 3u) << 4u);
    o[i] = dl * f32(i32(v) - 32);
  }
  return o;
}
