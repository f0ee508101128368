// An in-memory WeightSource for tests: named f32 tensors.
import type { WeightSource } from '../../src/models/weights.js';
import { toF16Array } from '../../src/util/f16.js';

export class MemorySource implements WeightSource {
  readonly tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  constructor(readonly path = 'memory') {}
  set(key: string, shape: number[], data: Float32Array): this {
    this.tensors.set(key, { shape, data });
    return this;
  }
  keys(): string[] {
    return [...this.tensors.keys()];
  }
  has(key: string): boolean {
    return this.tensors.has(key);
  }
  info(key: string) {
    const t = this.tensors.get(key);
    if (!t) throw new Error(`${this.path}: no tensor named "${key}"`);
    return { dtype: 'F32', shape: t.shape };
  }
  readF32(key: string): Float32Array {
    this.info(key);
    return this.tensors.get(key)!.data.slice();
  }
  readF16Bits(key: string): Uint16Array {
    return toF16Array(this.readF32(key));
  }
}
