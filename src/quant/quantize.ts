// CPU quantization into every ggml type this engine reads (docs/quant.md).
//
// Q8_0, Q4_0, Q4_1, Q5_0 and Q5_1 reproduce llama.cpp's gguf-py 0.19.0 numpy quantizers bit for bit
// (which match ggml-quants.c's quantize_row_*_ref): the same f32 operations in the same order, each
// result rounded with Math.fround as numpy rounds every float32 operation. gguf-py cannot quantize the
// K-quants, so Q2_K … Q6_K follow ggml-quants.c's reference quantizers (the ones llama-quantize uses
// without an importance matrix): a least-squares search for each sub-block's scale (and min), the
// scales themselves quantized against one f16 super-block scale, then every value re-quantized with
// the scales as stored. All arithmetic is f32 as in C, so the blocks are meant to equal llama.cpp's.
import { f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../util/f16.js';
import { type GgmlTypeName, ggmlBytes, ggmlType } from './ggml-types.js';

const fr = Math.fround;

/** `values` (a whole number of blocks) in `type`'s block format. */
export function quantize(type: GgmlTypeName, values: Float32Array): Uint8Array {
  const info = ggmlType(type);
  if (!info) throw new Error(`quantize(${type as string}): unknown type`);
  const out = new Uint8Array(ggmlBytes(type, values.length));
  const blocks = values.length / info.blockSize;
  QUANTIZERS[type](values, blocks, out);
  return out;
}

type Quantizer = (x: Float32Array, blocks: number, out: Uint8Array) => void;

const QUANTIZERS: Record<GgmlTypeName, Quantizer> = {
  F32: (x, n, out) => {
    const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
    for (let i = 0; i < n; i++) dv.setFloat32(4 * i, x[i]!, true);
  },
  F16: (x, n, out) => {
    for (let i = 0; i < n; i++) putU16(out, 2 * i, f32ToF16Bits(x[i]!));
  },
  BF16: (x, n, out) => {
    for (let i = 0; i < n; i++) putU16(out, 2 * i, f32ToBf16Bits(x[i]!));
  },
  Q8_0: q8_0,
  Q4_0: (x, n, out) => symmetric(x, n, out, 4),
  Q5_0: (x, n, out) => symmetric(x, n, out, 5),
  Q4_1: (x, n, out) => affine(x, n, out, 4),
  Q5_1: (x, n, out) => affine(x, n, out, 5),
  Q2_K: q2_K,
  Q3_K: q3_K,
  Q4_K: (x, n, out) => q45_K(x, n, out, 4),
  Q5_K: (x, n, out) => q45_K(x, n, out, 5),
  Q6_K: q6_K,
};

function putU16(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = v >>> 8;
}

/** Stores `v` as f16 at byte `o` and returns the f16 value as stored. */
function putHalf(b: Uint8Array, o: number, v: number): number {
  const h = f32ToF16Bits(v);
  putU16(b, o, h);
  return f16BitsToF32(h);
}

// ---- 32-element blocks: gguf-py's numpy quantizers, bit for bit ----

function q8_0(x: Float32Array, blocks: number, out: Uint8Array): void {
  for (let i = 0; i < blocks; i++) {
    const x0 = 32 * i;
    const o = 34 * i;
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[x0 + j]!));
    const d = fr(amax / 127);
    const id = d === 0 ? 0 : fr(1 / d);
    putHalf(out, o, d);
    for (let j = 0; j < 32; j++) {
      // round half away from zero, as roundf
      const v = fr(x[x0 + j]! * id);
      const r = Math.floor(Math.abs(v) + 0.5);
      out[o + 2 + j] = (v < 0 ? -r : r) & 0xff;
    }
  }
}

/** Q4_0 / Q5_0: d = (the value of largest magnitude) / −2^(bits−1), q = trunc(x/d + 2^(bits−1) + ½). */
function symmetric(x: Float32Array, blocks: number, out: Uint8Array, bits: 4 | 5): void {
  const half = 1 << (bits - 1);
  const qmax = (1 << bits) - 1;
  const bytes = bits === 4 ? 18 : 22;
  const qsAt = bits === 4 ? 2 : 6;
  const q = new Uint8Array(32);
  for (let i = 0; i < blocks; i++) {
    const x0 = 32 * i;
    const o = bytes * i;
    let amax = 0;
    let max = 0;
    for (let j = 0; j < 32; j++) {
      const v = x[x0 + j]!;
      if (Math.abs(v) > amax) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = fr(max / -half);
    const id = d === 0 ? 0 : fr(1 / d);
    putHalf(out, o, d);
    for (let j = 0; j < 32; j++) q[j] = Math.min(qmax, Math.trunc(fr(fr(x[x0 + j]! * id) + half + 0.5)));
    packLowNibbles(q, out, o + qsAt);
    if (bits === 5) packFifthBits(q, out, o + 2);
  }
}

/** Q4_1 / Q5_1: m = min, d = (max − min)/(2^bits − 1), q = trunc((x − m)/d + ½). */
function affine(x: Float32Array, blocks: number, out: Uint8Array, bits: 4 | 5): void {
  const qmax = (1 << bits) - 1;
  const bytes = bits === 4 ? 20 : 24;
  const qsAt = bits === 4 ? 4 : 8;
  const q = new Uint8Array(32);
  for (let i = 0; i < blocks; i++) {
    const x0 = 32 * i;
    const o = bytes * i;
    let min = x[x0]!;
    let max = x[x0]!;
    for (let j = 1; j < 32; j++) {
      const v = x[x0 + j]!;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const d = fr(fr(max - min) / qmax);
    const id = d === 0 ? 0 : fr(1 / d);
    putHalf(out, o, d);
    putHalf(out, o + 2, min);
    for (let j = 0; j < 32; j++) q[j] = Math.min(qmax, Math.trunc(fr(fr(fr(x[x0 + j]! - min) * id) + 0.5)));
    packLowNibbles(q, out, o + qsAt);
    if (bits === 5) packFifthBits(q, out, o + 4);
  }
}

/** Element j's low nibble into byte j (j < 16) or the high nibble of byte j − 16. */
function packLowNibbles(q: Uint8Array, out: Uint8Array, o: number): void {
  for (let j = 0; j < 16; j++) out[o + j] = (q[j]! & 15) | ((q[j + 16]! & 15) << 4);
}

/** Bit 4 of element j into bit j of a little-endian u32. */
function packFifthBits(q: Uint8Array, out: Uint8Array, o: number): void {
  for (let k = 0; k < 4; k++) {
    let byte = 0;
    for (let b = 0; b < 8; b++) byte |= ((q[8 * k + b]! >> 4) & 1) << b;
    out[o + k] = byte;
  }
}

// ---- K-quants: ggml-quants.c's reference quantizers ----

/** Values below this magnitude make a group "all zero". */
const GROUP_EPS = fr(1e-15);
const F32_SCRATCH = new Float32Array(1);
const I32_SCRATCH = new Int32Array(F32_SCRATCH.buffer);

/**
 * Round to nearest, ties to even, of an f32 value, as ggml's nearest_int (adds 1.5·2^23 in f32 and
 * reads the mantissa): outside ±4194303 (where ggml asserts) the same bits as C give.
 */
function nearestInt(v: number): number {
  if (Math.abs(v) <= 4194303) return fr(v + 12582912) - 12582912;
  F32_SCRATCH[0] = v + 12582912;
  return (I32_SCRATCH[0]! & 0x7fffff) - 0x400000;
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(Math.max(v, lo), hi);
}

/** Scratch for the per-group searches (never shared across calls in flight: quantize is synchronous). */
const Laux = new Uint8Array(32);
const weights = new Float32Array(32);
const maxPair = new Float32Array(2);

/**
 * An affine fit x ≈ scale·L − min of `n` values at x[x0] with L in 0..nmax, weighted: starting from
 * the range, tries nstep + 1 stretched grids, solving the weighted least squares for scale and min on
 * each and keeping the best (absolute or squared error). Writes L[l0 ...] and returns [scale, min].
 */
function fitAffine(
  n: number,
  nmax: number,
  x: Float32Array,
  x0: number,
  w: Float32Array,
  L: Uint8Array,
  l0: number,
  rmin: number,
  rdelta: number,
  nstep: number,
  absError: boolean,
  res: Float32Array,
): void {
  let min = x[x0]!;
  let max = x[x0]!;
  let sumW = w[0]!;
  let sumX = fr(sumW * x[x0]!);
  for (let i = 1; i < n; i++) {
    const v = x[x0 + i]!;
    if (v < min) min = v;
    if (v > max) max = v;
    sumW = fr(sumW + w[i]!);
    sumX = fr(sumX + fr(w[i]! * v));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0, l0, l0 + n);
    res[0] = 0;
    res[1] = -min;
    return;
  }
  let iscale = fr(nmax / fr(max - min));
  let scale = fr(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const l = clamp(nearestInt(fr(iscale * fr(x[x0 + i]! - min))), 0, nmax);
    L[l0 + i] = l;
    let diff = fr(fr(fr(scale * l) + min) - x[x0 + i]!);
    diff = absError ? Math.abs(diff) : fr(diff * diff);
    bestError = fr(bestError + fr(w[i]! * diff));
  }
  if (nstep >= 1) {
    for (let is = 0; is <= nstep; is++) {
      // as in ggml, `min` is the best fit so far: later grids start from it
      iscale = fr(fr(fr(rmin + fr(rdelta * is)) + nmax) / fr(max - min));
      let sumL = 0;
      let sumL2 = 0;
      let sumXL = 0;
      for (let i = 0; i < n; i++) {
        const l = clamp(nearestInt(fr(iscale * fr(x[x0 + i]! - min))), 0, nmax);
        Laux[i] = l;
        const wl = fr(w[i]! * l);
        sumL = fr(sumL + wl);
        sumL2 = fr(sumL2 + fr(wl * l));
        sumXL = fr(sumXL + fr(wl * x[x0 + i]!));
      }
      const D = fr(fr(sumW * sumL2) - fr(sumL * sumL));
      if (D > 0) {
        let thisScale = fr(fr(fr(sumW * sumXL) - fr(sumX * sumL)) / D);
        let thisMin = fr(fr(fr(sumL2 * sumX) - fr(sumL * sumXL)) / D);
        if (thisMin > 0) {
          thisMin = 0;
          thisScale = fr(sumXL / sumL2);
        }
        let err = 0;
        for (let i = 0; i < n; i++) {
          let diff = fr(fr(fr(thisScale * Laux[i]!) + thisMin) - x[x0 + i]!);
          diff = absError ? Math.abs(diff) : fr(diff * diff);
          err = fr(err + fr(w[i]! * diff));
        }
        if (err < bestError) {
          for (let i = 0; i < n; i++) L[l0 + i] = Laux[i]!;
          bestError = err;
          scale = thisScale;
          min = thisMin;
        }
      }
    }
  }
  res[0] = scale;
  res[1] = -min;
}

/** The first value of largest magnitude among x[x0 .. x0+n) (0 when all are zero), and that magnitude. */
function signedMax(x: Float32Array, x0: number, n: number, res: Float32Array): void {
  let amax = 0;
  let max = 0;
  for (let i = 0; i < n; i++) {
    const v = x[x0 + i]!;
    if (Math.abs(v) > amax) {
      amax = Math.abs(v);
      max = v;
    }
  }
  res[0] = max;
  res[1] = amax;
}

/**
 * A symmetric fit x ≈ scale·l of n values, l in −nmax..nmax−1, weighted by x² and refined by moving
 * one value at a time while the weighted least-squares error drops (Q3_K). Writes L = l + nmax.
 */
function fitSymmetricIterative(
  n: number,
  nmax: number,
  x: Float32Array,
  x0: number,
  L: Int8Array,
  l0: number,
): number {
  signedMax(x, x0, n, maxPair);
  const max = maxPair[0]!;
  if (maxPair[1]! < GROUP_EPS) {
    L.fill(0, l0, l0 + n);
    return 0;
  }
  const iscale = fr(-nmax / max);
  let sumLX = 0;
  let sumL2 = 0;
  for (let i = 0; i < n; i++) {
    const v = x[x0 + i]!;
    const l = clamp(nearestInt(fr(iscale * v)), -nmax, nmax - 1);
    L[l0 + i] = l;
    const w = fr(v * v);
    sumLX = fr(sumLX + fr(fr(w * v) * l));
    sumL2 = fr(sumL2 + fr(fr(w * l) * l));
  }
  for (let attempt = 0; attempt < 5; attempt++) {
    let changed = 0;
    for (let i = 0; i < n; i++) {
      const v = x[x0 + i]!;
      const w = fr(v * v);
      const li = L[l0 + i]!;
      let slx = fr(sumLX - fr(fr(w * v) * li));
      if (slx > 0) {
        let sl2 = fr(sumL2 - fr(fr(w * li) * li));
        const nl = clamp(nearestInt(fr(fr(v * sl2) / slx)), -nmax, nmax - 1);
        if (nl !== li) {
          slx = fr(slx + fr(fr(w * v) * nl));
          sl2 = fr(sl2 + fr(fr(w * nl) * nl));
          if (sl2 > 0 && fr(fr(slx * slx) * sumL2) > fr(fr(sumLX * sumLX) * sl2)) {
            L[l0 + i] = nl;
            sumLX = slx;
            sumL2 = sl2;
            changed++;
          }
        }
      }
    }
    if (!changed) break;
  }
  for (let i = 0; i < n; i++) L[l0 + i] = L[l0 + i]! + nmax;
  return sumL2 > 0 ? fr(sumLX / sumL2) : 0;
}

/**
 * A symmetric fit x ≈ scale·l, l in −nmax..nmax−1, weighted by x²: the least-squares scale for the
 * grid from the largest value, then for 18 slightly stretched or shrunk grids, keeping the best (Q6_K).
 * Writes L = l + nmax.
 */
function fitSymmetricGrid(
  n: number,
  nmax: number,
  x: Float32Array,
  x0: number,
  L: Int8Array,
  l0: number,
): number {
  signedMax(x, x0, n, maxPair);
  const max = maxPair[0]!;
  if (maxPair[1]! < GROUP_EPS) {
    L.fill(0, l0, l0 + n);
    return 0;
  }
  let iscale = fr(-nmax / max);
  let sumLX = 0;
  let sumL2 = 0;
  for (let i = 0; i < n; i++) {
    const v = x[x0 + i]!;
    const l = clamp(nearestInt(fr(iscale * v)), -nmax, nmax - 1);
    L[l0 + i] = l + nmax;
    const w = fr(v * v);
    sumLX = fr(sumLX + fr(fr(w * v) * l));
    sumL2 = fr(sumL2 + fr(fr(w * l) * l));
  }
  let scale = sumL2 ? fr(sumLX / sumL2) : 0;
  let best = fr(scale * sumLX);
  const tenth = fr(0.1);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = fr(-fr(nmax + fr(tenth * is)) / max);
    sumLX = 0;
    sumL2 = 0;
    for (let i = 0; i < n; i++) {
      const v = x[x0 + i]!;
      const l = clamp(nearestInt(fr(iscale * v)), -nmax, nmax - 1);
      const w = fr(v * v);
      sumLX = fr(sumLX + fr(fr(w * v) * l));
      sumL2 = fr(sumL2 + fr(fr(w * l) * l));
    }
    if (sumL2 > 0 && fr(sumLX * sumLX) > fr(best * sumL2)) {
      for (let i = 0; i < n; i++)
        L[l0 + i] = clamp(nearestInt(fr(iscale * x[x0 + i]!)), -nmax, nmax - 1) + nmax;
      scale = fr(sumLX / sumL2);
      best = fr(scale * sumLX);
    }
  }
  return scale;
}

/** Packs four 2-bit planes: byte 32·h + l holds elements 128·h + 32·s + l at bits 2s (Q2_K, Q3_K). */
function pack2bit(L: ArrayLike<number>, out: Uint8Array, o: number): void {
  for (let h = 0; h < 2; h++)
    for (let l = 0; l < 32; l++) {
      const e = 128 * h + l;
      out[o + 32 * h + l] = L[e]! | (L[e + 32]! << 2) | (L[e + 64]! << 4) | (L[e + 96]! << 6);
    }
}

function q2_K(x: Float32Array, blocks: number, out: Uint8Array): void {
  const L = new Uint8Array(256);
  const scales = new Float32Array(16);
  const mins = new Float32Array(16);
  const res = new Float32Array(2);
  const fifteen = 15;
  for (let i = 0; i < blocks; i++) {
    const x0 = 256 * i;
    const o = 84 * i;
    let maxScale = 0;
    let maxMin = 0;
    for (let j = 0; j < 16; j++) {
      for (let l = 0; l < 16; l++) weights[l] = Math.abs(x[x0 + 16 * j + l]!);
      fitAffine(16, 3, x, x0 + 16 * j, weights, L, 16 * j, -0.5, fr(0.1), 15, true, res);
      scales[j] = res[0]!;
      mins[j] = res[1]!;
      if (scales[j]! > maxScale) maxScale = scales[j]!;
      if (mins[j]! > maxMin) maxMin = mins[j]!;
    }
    let d = 0;
    let dmin = 0;
    if (maxScale > 0) {
      const iscale = fr(fifteen / maxScale);
      for (let j = 0; j < 16; j++) out[o + j] = nearestInt(fr(iscale * scales[j]!)) & 0xff;
      d = putHalf(out, o + 80, fr(maxScale / fifteen));
    } else {
      for (let j = 0; j < 16; j++) out[o + j] = 0;
      d = putHalf(out, o + 80, 0);
    }
    if (maxMin > 0) {
      const iscale = fr(fifteen / maxMin);
      for (let j = 0; j < 16; j++)
        out[o + j] = (out[o + j]! | (nearestInt(fr(iscale * mins[j]!)) << 4)) & 0xff;
      dmin = putHalf(out, o + 82, fr(maxMin / fifteen));
    } else {
      dmin = putHalf(out, o + 82, 0);
    }
    for (let j = 0; j < 16; j++) {
      const sc = out[o + j]!;
      const dl = fr(d * (sc & 15));
      if (dl === 0) continue;
      const ml = fr(dmin * (sc >> 4));
      for (let l = 0; l < 16; l++)
        L[16 * j + l] = clamp(nearestInt(fr(fr(x[x0 + 16 * j + l]! + ml) / dl)), 0, 3);
    }
    pack2bit(L, out, o + 16);
  }
}

function q3_K(x: Float32Array, blocks: number, out: Uint8Array): void {
  const L = new Int8Array(256);
  const scales = new Float32Array(16);
  for (let i = 0; i < blocks; i++) {
    const x0 = 256 * i;
    const o = 110 * i;
    let maxScale = 0;
    let amax = 0;
    for (let j = 0; j < 16; j++) {
      scales[j] = fitSymmetricIterative(16, 4, x, x0 + 16 * j, L, 16 * j);
      const a = Math.abs(scales[j]!);
      if (a > amax) {
        amax = a;
        maxScale = scales[j]!;
      }
    }
    const sc = o + 96; // 12 bytes of packed 6-bit scales
    out.fill(0, sc, sc + 12);
    let d = 0;
    if (maxScale !== 0) {
      const iscale = fr(-32 / maxScale);
      for (let j = 0; j < 16; j++) {
        const l = clamp((nearestInt(fr(iscale * scales[j]!)) << 24) >> 24, -32, 31) + 32;
        if (j < 8) out[sc + j] = l & 15;
        else out[sc + j - 8] = out[sc + j - 8]! | ((l & 15) << 4);
        out[sc + 8 + (j & 3)] = out[sc + 8 + (j & 3)]! | ((l >> 4) << (2 * (j >> 2)));
      }
      d = putHalf(out, o + 108, fr(1 / iscale));
    } else {
      d = putHalf(out, o + 108, 0);
    }
    for (let j = 0; j < 16; j++) {
      const low = j < 8 ? out[sc + j]! & 15 : out[sc + j - 8]! >> 4;
      const s = (low | (((out[sc + 8 + (j & 3)]! >> (2 * (j >> 2))) & 3) << 4)) - 32;
      const dl = fr(d * s);
      if (dl === 0) continue;
      for (let l = 0; l < 16; l++) L[16 * j + l] = clamp(nearestInt(fr(x[x0 + 16 * j + l]! / dl)), -4, 3) + 4;
    }
    // high bit of element e: bit e >> 5 of hmask[e & 31]; the low two bits packed as Q2_K's
    out.fill(0, o, o + 32);
    for (let e = 0; e < 256; e++) {
      if (L[e]! > 3) {
        out[o + (e & 31)] = out[o + (e & 31)]! | (1 << (e >> 5));
        L[e] = L[e]! - 4;
      }
    }
    pack2bit(L, out, o + 32);
  }
}

/** Q4_K (bits 4) and Q5_K (bits 5): eight 32-element groups, each with a 6-bit scale and min. */
function q45_K(x: Float32Array, blocks: number, out: Uint8Array, bits: 4 | 5): void {
  const nmax = (1 << bits) - 1;
  const bytes = bits === 4 ? 144 : 176;
  const rmin = bits === 4 ? -1 : -0.5;
  const nstep = bits === 4 ? 20 : 15;
  const L = new Uint8Array(256);
  const scales = new Float32Array(8);
  const mins = new Float32Array(8);
  const res = new Float32Array(2);
  const sc = new Int32Array(8);
  const mn = new Int32Array(8);
  const sixtyThree = 63;
  for (let i = 0; i < blocks; i++) {
    const x0 = 256 * i;
    const o = bytes * i;
    let maxScale = 0;
    let maxMin = 0;
    for (let j = 0; j < 8; j++) {
      const g = x0 + 32 * j;
      let sumX2 = 0;
      for (let l = 0; l < 32; l++) sumX2 = fr(sumX2 + fr(x[g + l]! * x[g + l]!));
      const avX = fr(Math.sqrt(fr(sumX2 / 32)));
      for (let l = 0; l < 32; l++) weights[l] = avX + Math.abs(x[g + l]!);
      fitAffine(32, nmax, x, g, weights, L, 32 * j, rmin, fr(0.1), nstep, false, res);
      scales[j] = res[0]!;
      mins[j] = res[1]!;
      if (scales[j]! > maxScale) maxScale = scales[j]!;
      if (mins[j]! > maxMin) maxMin = mins[j]!;
    }
    const invScale = maxScale > 0 ? fr(sixtyThree / maxScale) : 0;
    const invMin = maxMin > 0 ? fr(sixtyThree / maxMin) : 0;
    const s0 = o + 4; // 12 bytes of packed 6-bit scales and mins
    for (let j = 0; j < 8; j++) {
      const ls = Math.min(63, nearestInt(fr(invScale * scales[j]!)) & 0xff);
      const lm = Math.min(63, nearestInt(fr(invMin * mins[j]!)) & 0xff);
      if (j < 4) {
        out[s0 + j] = ls;
        out[s0 + j + 4] = lm;
      } else {
        out[s0 + j + 4] = (ls & 15) | ((lm & 15) << 4);
        out[s0 + j - 4] = out[s0 + j - 4]! | ((ls >> 4) << 6);
        out[s0 + j] = out[s0 + j]! | ((lm >> 4) << 6);
      }
    }
    const d = putHalf(out, o, fr(maxScale / sixtyThree));
    const dmin = putHalf(out, o + 2, fr(maxMin / sixtyThree));
    for (let j = 0; j < 4; j++) {
      sc[j] = out[s0 + j]! & 63;
      mn[j] = out[s0 + 4 + j]! & 63;
      sc[j + 4] = (out[s0 + 8 + j]! & 15) | ((out[s0 + j]! >> 6) << 4);
      mn[j + 4] = (out[s0 + 8 + j]! >> 4) | ((out[s0 + 4 + j]! >> 6) << 4);
    }
    for (let j = 0; j < 8; j++) {
      const dl = fr(d * sc[j]!);
      if (dl === 0) continue;
      const ml = fr(dmin * mn[j]!);
      for (let l = 0; l < 32; l++)
        L[32 * j + l] = clamp(nearestInt(fr(fr(x[x0 + 32 * j + l]! + ml) / dl)), 0, nmax);
    }
    // group j is nibble (j & 1) of qs[32·(j >> 1) + l]; for Q5_K its fifth bit is bit j of qh[l]
    const qs = o + (bits === 4 ? 16 : 48);
    if (bits === 5) out.fill(0, o + 16, o + 48);
    for (let c = 0; c < 4; c++) {
      for (let l = 0; l < 32; l++) {
        const a = L[64 * c + l]!;
        const b = L[64 * c + 32 + l]!;
        out[qs + 32 * c + l] = (a & 15) | ((b & 15) << 4);
        if (bits === 5)
          out[o + 16 + l] = out[o + 16 + l]! | ((a >> 4) << (2 * c)) | ((b >> 4) << (2 * c + 1));
      }
    }
  }
}

function q6_K(x: Float32Array, blocks: number, out: Uint8Array): void {
  const L = new Int8Array(256);
  const scales = new Float32Array(16);
  for (let i = 0; i < blocks; i++) {
    const x0 = 256 * i;
    const o = 210 * i;
    let maxScale = 0;
    let maxAbsScale = 0;
    for (let j = 0; j < 16; j++) {
      scales[j] = fitSymmetricGrid(16, 32, x, x0 + 16 * j, L, 16 * j);
      const a = Math.abs(scales[j]!);
      if (a > maxAbsScale) {
        maxAbsScale = a;
        maxScale = scales[j]!;
      }
    }
    if (maxAbsScale < GROUP_EPS) {
      out.fill(0, o, o + 210);
      continue;
    }
    const iscale = fr(-128 / maxScale);
    const d = putHalf(out, o + 208, fr(1 / iscale));
    for (let j = 0; j < 16; j++) out[o + 192 + j] = Math.min(127, nearestInt(fr(iscale * scales[j]!))) & 0xff;
    for (let j = 0; j < 16; j++) {
      const dl = fr(d * ((out[o + 192 + j]! << 24) >> 24));
      if (dl === 0) continue;
      for (let l = 0; l < 16; l++)
        L[16 * j + l] = clamp(nearestInt(fr(x[x0 + 16 * j + l]! / dl)), -32, 31) + 32;
    }
    // element 128·h + 32·k + l: low nibble in ql[64·h + 32·(k & 1) + l] (high nibble for k ≥ 2),
    // high two bits at 2k of qh[32·h + l]
    for (let h = 0; h < 2; h++) {
      for (let l = 0; l < 32; l++) {
        const e = 128 * h + l;
        const a = L[e]!;
        const b = L[e + 32]!;
        const c = L[e + 64]!;
        const f = L[e + 96]!;
        out[o + 64 * h + l] = (a & 15) | ((c & 15) << 4);
        out[o + 64 * h + 32 + l] = (b & 15) | ((f & 15) << 4);
        out[o + 128 + 32 * h + l] = (a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((f >> 4) << 6);
      }
    }
  }
}
