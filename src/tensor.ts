import type { Backend } from './backend.js';
import { numel, type Shape, shapeStr } from './util/shape.js';

/** f32 and f16 hold numbers; u32 holds indices (gather/scatter rows, key ranges, destinations). */
export type DType = 'f32' | 'f16' | 'u32';

export const DTYPE_BYTES: Record<DType, number> = { f32: 4, f16: 2, u32: 4 };

/**
 * An n-dimensional array owned by one backend. Storage is a GPUBuffer on the WebGPU backend and a
 * Float32Array (or Uint32Array for u32) on the CPU backend, where f16 tensors hold f16-rounded values.
 * Lifetime is explicit: dispose() returns the storage to the backend's pool. Backend.tidy() disposes
 * everything created inside it except what it returns.
 */
export class Tensor {
  private _disposed = false;

  constructor(
    readonly backend: Backend,
    readonly shape: Shape,
    readonly dtype: DType,
    /** Backend-specific storage; use only inside that backend. */
    readonly storage: unknown,
  ) {}

  get size(): number {
    return numel(this.shape);
  }

  get rank(): number {
    return this.shape.length;
  }

  get disposed(): boolean {
    return this._disposed;
  }

  dim(i: number): number {
    const d = this.shape[i < 0 ? this.shape.length + i : i];
    if (d === undefined)
      throw new RangeError(`dimension ${i} out of range for a tensor of shape ${shapeStr(this.shape)}`);
    return d;
  }

  dispose(): void {
    if (this._disposed) return;
    this._disposed = true;
    this.backend.release(this);
  }

  /** Downloads the values (f16 converted to f32). */
  read(): Promise<Float32Array> {
    return this.backend.read(this);
  }

  toString(): string {
    return `Tensor(${this.dtype}${shapeStr(this.shape)} on ${this.backend.name})`;
  }
}
