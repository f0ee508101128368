// Random FLUX weights for benchmarks as a GGUF-like source: the block matrices (inputs a whole number of
// blocks) in a ggml block type, everything else F16 from RandomWeightSource. The blocks are one random
// chunk of valid blocks repeated (values do not matter for speed; scales are small and finite), so
// making a 12 B-parameter model costs little more than the copies.
import type { FluxConfig } from '../src/models/flux/config.js';
import { fluxStoredShapes } from '../src/models/flux/shapes.js';
import { RandomWeightSource } from '../src/models/random-weights.js';
import { ggmlBytes, ggmlType, type QuantTypeName } from '../src/quant/ggml-types.js';
import { f32ToF16Bits } from '../src/util/f16.js';
import { Rng } from '../src/util/random.js';

/** One random chunk of `blocks` valid blocks of `type` (Q8_0, Q4_K; others: random bytes with safe scales). */
function blockChunk(type: QuantTypeName, blocks: number, K: number, seed: number): Uint8Array {
  const t = ggmlType(type);
  const r = new Rng(seed);
  const out = new Uint8Array(blocks * t.blockBytes);
  for (let i = 0; i < out.length; i++) out[i] = r.int(256);
  const dv = new DataView(out.buffer);
  const scale = 1 / Math.sqrt(K);
  for (let b = 0; b < blocks; b++) {
    const o = b * t.blockBytes;
    if (type === 'Q8_0') dv.setUint16(o, f32ToF16Bits((scale * 1.7) / 127), true);
    else if (type === 'Q4_K' || type === 'Q5_K') {
      dv.setUint16(o, f32ToF16Bits((scale * 2) / (63 * 15)), true); // d
      dv.setUint16(o + 2, f32ToF16Bits(scale / 63), true); // dmin
    } else if (type === 'Q6_K') dv.setUint16(o + t.blockBytes - 2, f32ToF16Bits(scale / (127 * 32)), true);
    else dv.setUint16(o, f32ToF16Bits(scale / 64), true);
  }
  return out;
}

export class QuantizedRandomSource extends RandomWeightSource {
  private readonly chunks = new Map<number, Uint8Array>();

  constructor(
    config: FluxConfig,
    readonly type: QuantTypeName,
    seed: number,
  ) {
    super(`random FLUX ${type}`, fluxStoredShapes(config, 'original'), { seed });
  }

  private quantized(key: string, shape: number[]): boolean {
    return (
      /^(double|single)_blocks\./.test(key) &&
      shape.length === 2 &&
      shape[1]! % ggmlType(this.type).blockSize === 0
    );
  }

  override info(key: string): { dtype: string; shape: number[] } {
    const i = super.info(key);
    return this.quantized(key, i.shape) ? { dtype: this.type, shape: i.shape } : i;
  }

  readQuantized(key: string): { type: QuantTypeName; shape: number[]; bytes: Uint8Array } {
    const shape = super.info(key).shape;
    if (!this.quantized(key, shape)) throw new Error(`${key} is not quantized`);
    const K = shape[1]!;
    let chunk = this.chunks.get(K);
    if (!chunk) {
      chunk = blockChunk(this.type, 4096, K, K);
      this.chunks.set(K, chunk);
    }
    const n = ggmlBytes(this.type, shape[0]! * K);
    const bytes = new Uint8Array(n);
    for (let o = 0; o < n; o += chunk.length) bytes.set(chunk.subarray(0, Math.min(chunk.length, n - o)), o);
    return { type: this.type, shape, bytes };
  }
}
