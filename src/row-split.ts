// A weight matrix [N, K] held as row pieces, each its own tensor (dense or ggml blocks): for a matrix
// larger than one storage binding may be (WebGPU's maxStorageBufferBindingSize, 128 MiB by default).
// Backend.matmul takes one: each piece computes its columns of the output, which are concatenated.
import { QuantizedMatrix } from './quant/quantized-matrix.js';
import type { Tensor } from './tensor.js';

/** A weight matrix as Backend.matmul takes it: dense, ggml blocks, or row pieces of either. */
export type Weight = Tensor | QuantizedMatrix | RowSplitMatrix;

export class RowSplitMatrix {
  constructor(
    /** [N, K] of the whole matrix. */
    readonly shape: readonly [number, number],
    /** Row pieces in order, each [n_i, K] with the n_i adding up to N. */
    readonly parts: readonly (Tensor | QuantizedMatrix)[],
  ) {
    if (parts.length === 0) throw new RangeError('RowSplitMatrix: no pieces');
    let rows = 0;
    for (const p of parts) {
      if (p.shape.length !== 2 || p.shape[1] !== shape[1])
        throw new RangeError(`RowSplitMatrix: piece [${p.shape.join(', ')}] is not [n, ${shape[1]}]`);
      rows += p.shape[0]!;
    }
    if (rows !== shape[0])
      throw new RangeError(`RowSplitMatrix: pieces hold ${rows} rows, the matrix has ${shape[0]}`);
  }

  /** Bytes held by the pieces. */
  get bytes(): number {
    let n = 0;
    for (const p of this.parts) n += p instanceof QuantizedMatrix ? p.bytes : heldBytes(p);
    return n;
  }

  get disposed(): boolean {
    return this.parts.some((p) => p.disposed);
  }

  dispose(): void {
    for (const p of this.parts) p.dispose();
  }

  toString(): string {
    return `RowSplitMatrix([${this.shape.join(', ')}] in ${this.parts.length} pieces)`;
  }
}

/** Bytes a tensor's storage takes: f16 is 2 bytes on WebGPU, 4 on the CPU (which stores f32). */
export function heldBytes(t: Tensor): number {
  return t.size * (t.dtype === 'f16' && t.backend.name !== 'cpu' ? 2 : 4);
}

/**
 * Row ranges [r0, r1) splitting N rows of `rowBytes` bytes into as few pieces of about equal size as keep
 * each within `maxBytes` (less 16 bytes of allocation rounding and word padding). One range when it fits.
 */
export function splitRows(N: number, rowBytes: number, maxBytes: number): [number, number][] {
  const cap = maxBytes - 16;
  if (N * rowBytes + 16 <= maxBytes) return [[0, N]];
  if (rowBytes > cap)
    throw new RangeError(`one row of ${rowBytes} bytes exceeds the largest tensor of ${maxBytes} bytes`);
  const pieces = Math.ceil((N * rowBytes) / cap);
  const per = Math.ceil(N / pieces);
  const out: [number, number][] = [];
  for (let r = 0; r < N; r += per) out.push([r, Math.min(N, r + per)]);
  return out;
}
