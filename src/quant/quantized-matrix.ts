// A weight matrix [N, K] (nn.Linear layout) kept in a ggml block format on its backend: each of the N
// rows is K / blockSize blocks, rows stored one after another, the raw bytes in a u32 tensor (padded to
// whole words). Backend.matmul takes it in place of a dense weight; the kernels dequantize as they go.
import type { Tensor } from '../tensor.js';
import { ggmlBytes, ggmlType, type QuantTypeName } from './ggml-types.js';

export class QuantizedMatrix {
  /** Bytes of one row's blocks. */
  readonly rowBytes: number;

  constructor(
    readonly type: QuantTypeName,
    /** [N, K]: rows (outputs) and the quantized dimension (inputs). */
    readonly shape: readonly [number, number],
    /** u32 [ceil(N · rowBytes / 4)]: the blocks, row after row. */
    readonly data: Tensor,
  ) {
    const [N, K] = shape;
    this.rowBytes = ggmlBytes(type, K);
    const words = Math.ceil((N * this.rowBytes) / 4);
    if (data.dtype !== 'u32' || data.size !== words)
      throw new RangeError(
        `QuantizedMatrix: ${type} [${N}, ${K}] needs a u32 tensor of ${words} words, got ${data}`,
      );
  }

  get blockSize(): number {
    return ggmlType(this.type).blockSize;
  }

  /** Bytes held (the u32 storage). */
  get bytes(): number {
    return this.data.size * 4;
  }

  get disposed(): boolean {
    return this.data.disposed;
  }

  dispose(): void {
    this.data.dispose();
  }

  toString(): string {
    return `QuantizedMatrix(${this.type}[${this.shape[0]}, ${this.shape[1]}] on ${this.data.backend.name})`;
  }
}

/** Packs block bytes into whole u32 words (little-endian), zero-padding the tail. */
export function bytesToWords(bytes: Uint8Array): Uint32Array {
  const words = new Uint32Array(Math.ceil(bytes.length / 4));
  new Uint8Array(words.buffer).set(bytes);
  return words;
}
