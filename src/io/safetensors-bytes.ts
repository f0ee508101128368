// A safetensors file held in memory (e.g. bytes a browser fetched): the same checks and conversions
// as the Node reader, no file system. Tensors are views of the given bytes until converted.
import { headerLength, parseHeader, TensorMapReader } from './safetensors-format.js';

export class SafetensorsBytes extends TensorMapReader {
  /** `path` labels error messages (a URL or file name). */
  constructor(
    private readonly bytes: Uint8Array,
    path = 'safetensors bytes',
  ) {
    const hlen = headerLength(bytes.subarray(0, 8), bytes.byteLength, path);
    const { tensors, metadata } = parseHeader(bytes.subarray(8, 8 + hlen), bytes.byteLength, path);
    super(tensors, metadata, path);
  }

  /** The stored bytes of one tensor (a view: do not modify). */
  readBytes(key: string): Uint8Array {
    const t = this.info(key);
    return this.bytes.subarray(t.begin, t.end);
  }
}

/** Parses a whole safetensors file from memory; `name` labels error messages. */
export function parseSafetensors(bytes: ArrayBuffer | Uint8Array, name?: string): SafetensorsBytes {
  return new SafetensorsBytes(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes), name);
}
