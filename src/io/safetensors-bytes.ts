// A safetensors file held in memory (e.g. bytes a browser fetched): the same checks and conversions
// as the Node reader, no file system. Tensors are views of the given bytes until converted.
import {
  headerLength,
  parseHeader,
  SafetensorsError,
  type TensorInfo,
  type TensorReader,
  toF16Bits,
  toF32,
} from './safetensors-format.js';

export class SafetensorsBytes implements TensorReader {
  readonly metadata: Record<string, string>;
  private readonly tensors: Map<string, TensorInfo>;

  /** `path` labels error messages (a URL or file name). */
  constructor(
    private readonly bytes: Uint8Array,
    readonly path = 'safetensors bytes',
  ) {
    const hlen = headerLength(bytes.subarray(0, 8), bytes.byteLength, path);
    const { tensors, metadata } = parseHeader(bytes.subarray(8, 8 + hlen), bytes.byteLength, path);
    this.tensors = tensors;
    this.metadata = metadata;
  }

  keys(): string[] {
    return [...this.tensors.keys()];
  }

  has(key: string): boolean {
    return this.tensors.has(key);
  }

  info(key: string): TensorInfo {
    const t = this.tensors.get(key);
    if (!t) throw new SafetensorsError(`${this.path}: no tensor named "${key}"`);
    return t;
  }

  /** The stored bytes of one tensor (a view: do not modify). */
  readBytes(key: string): Uint8Array {
    const t = this.info(key);
    return this.bytes.subarray(t.begin, t.end);
  }

  readF32(key: string): Float32Array {
    return toF32(this.readBytes(key), this.info(key).dtype, key);
  }

  readF16Bits(key: string): Uint16Array {
    return toF16Bits(this.readBytes(key), this.info(key).dtype, key);
  }
}

/** Parses a whole safetensors file from memory; `name` labels error messages. */
export function parseSafetensors(bytes: ArrayBuffer | Uint8Array, name?: string): SafetensorsBytes {
  return new SafetensorsBytes(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes), name);
}
