// CPU reference dequantization of every ggml type this engine reads, bit-exact with llama.cpp's
// gguf-py (`gguf.quants.dequantize`, which follows ggml-quants.c dequantize_row_*): the same f32
// operations in the same order. Tested against ../shared/fixtures/gguf-dequant.
import { bf16BitsToF32 as bf16ToF32, f16BitsToF32 as f16ToF32 } from '../util/f16.js';
import { type GgmlTypeName, ggmlBytes } from './ggml-types.js';

/** `count` elements of `type` from `bytes` (whole blocks), as f32. */
export function dequantize(type: GgmlTypeName, bytes: Uint8Array, count: number): Float32Array {
  const need = ggmlBytes(type, count);
  if (bytes.length < need)
    throw new RangeError(`dequantize(${type}): ${count} elements need ${need} bytes, got ${bytes.length}`);
  const out = new Float32Array(count);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, need);
  switch (type) {
    case 'F32':
      for (let i = 0; i < count; i++) out[i] = dv.getFloat32(4 * i, true);
      return out;
    case 'F16':
      for (let i = 0; i < count; i++) out[i] = f16ToF32(dv.getUint16(2 * i, true));
      return out;
    case 'BF16':
      for (let i = 0; i < count; i++) out[i] = bf16ToF32(dv.getUint16(2 * i, true));
      return out;
    case 'Q8_0':
      for (let b = 0; b < count / 32; b++) {
        const o = b * 34;
        const d = f16ToF32(dv.getUint16(o, true));
        for (let j = 0; j < 32; j++) out[b * 32 + j] = Math.fround(d * dv.getInt8(o + 2 + j));
      }
      return out;
    default:
      throw new Error(`dequantize(${type}): not implemented yet`);
  }
}
