// The safetensors format itself, with no file system: dtypes, the header (length prefix, JSON, every
// entry checked against the data it describes) and conversion of stored tensors to f32 / f16 bits.
// Shared by the Node reader (safetensors.ts, from file offsets) and the in-memory reader
// (safetensors-bytes.ts, for bytes a browser fetched).
import { f32ToF16Bits, fromF16Array } from '../util/f16.js';

export type StoredDType =
  | 'F32'
  | 'F16'
  | 'BF16'
  | 'F64'
  | 'I64'
  | 'I32'
  | 'I16'
  | 'I8'
  | 'U8'
  | 'BOOL'
  | 'U16'
  | 'U32'
  | 'U64';

export const STORED_DTYPE_BYTES: Record<StoredDType, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
  U16: 2,
  U32: 4,
  U64: 8,
};

export interface TensorInfo {
  dtype: StoredDType;
  shape: number[];
  /** Absolute byte range in the file (or buffer). */
  begin: number;
  end: number;
  /** The file (or the name given to the buffer) holding the tensor. */
  file: string;
}

export class SafetensorsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafetensorsError';
  }
}

/** What model loaders read from: a checkpoint file, a sharded checkpoint, or bytes in memory. */
export interface TensorReader {
  /** Where the tensors come from, for error messages. */
  readonly path: string;
  readonly metadata: Record<string, string>;
  keys(): string[];
  has(key: string): boolean;
  info(key: string): TensorInfo;
  /** One tensor as f32 values (any float or integer storage converted). */
  readF32(key: string): Float32Array;
  /** One tensor as f16 bit patterns (f16 passes through; others are converted with rounding). */
  readF16Bits(key: string): Uint16Array;
}

/**
 * A TensorReader over a parsed header: lookups and dtype conversions are shared; where the bytes come
 * from (file offsets, memory) is the subclass's readBytes().
 */
export abstract class TensorMapReader implements TensorReader {
  protected constructor(
    protected readonly tensors: Map<string, TensorInfo>,
    readonly metadata: Record<string, string>,
    readonly path: string,
  ) {}

  /** The stored bytes of one tensor. */
  abstract readBytes(key: string): Uint8Array;

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

  readF32(key: string): Float32Array {
    return toF32(this.readBytes(key), this.info(key).dtype, key);
  }

  readF16Bits(key: string): Uint16Array {
    return toF16Bits(this.readBytes(key), this.info(key).dtype, key);
  }
}

const MAX_HEADER = 100 << 20;

/** The header length from the first 8 bytes of a file of `size` bytes, checked. */
export function headerLength(prefix: Uint8Array, size: number, file: string): number {
  if (size < 8 || prefix.byteLength < 8)
    throw new SafetensorsError(`${file}: too short to be a safetensors file (${size} bytes)`);
  const n = Number(new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true));
  if (n <= 0 || n > MAX_HEADER || 8 + n > size) {
    throw new SafetensorsError(
      `${file}: bad header length ${n} (file is ${size} bytes): not a safetensors file, or truncated`,
    );
  }
  return n;
}

/**
 * Parses and checks the JSON header (the bytes after the length prefix) of a file of `size` bytes:
 * known dtypes, shapes of non-negative integers, offsets that span exactly shape x dtype bytes and lie
 * inside the file. Byte ranges in the result are absolute.
 */
export function parseHeader(
  json: Uint8Array,
  size: number,
  file: string,
): { tensors: Map<string, TensorInfo>; metadata: Record<string, string> } {
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json));
  } catch (e) {
    throw new SafetensorsError(`${file}: header is not valid JSON (${(e as Error).message})`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header))
    throw new SafetensorsError(`${file}: header is not a JSON object`);
  const base = 8 + json.byteLength;
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [key, v] of Object.entries(header)) {
    if (key === '__metadata__') {
      metadata = (v ?? {}) as Record<string, string>;
      continue;
    }
    const e = v as { dtype?: string; shape?: unknown; data_offsets?: unknown };
    if (!e || typeof e.dtype !== 'string' || !(e.dtype in STORED_DTYPE_BYTES))
      throw new SafetensorsError(`${file}: tensor "${key}" has unknown dtype ${JSON.stringify(e?.dtype)}`);
    const shape = e.shape;
    const off = e.data_offsets;
    if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0))
      throw new SafetensorsError(`${file}: tensor "${key}" has a bad shape ${JSON.stringify(shape)}`);
    if (
      !Array.isArray(off) ||
      off.length !== 2 ||
      !off.every((d) => Number.isInteger(d) && d >= 0) ||
      off[1] < off[0]
    ) {
      throw new SafetensorsError(`${file}: tensor "${key}" has bad data_offsets ${JSON.stringify(off)}`);
    }
    const dtype = e.dtype as StoredDType;
    const bytes = (shape as number[]).reduce((a, b) => a * b, 1) * STORED_DTYPE_BYTES[dtype];
    const [o0, o1] = off as [number, number];
    if (o1 - o0 !== bytes) {
      throw new SafetensorsError(
        `${file}: tensor "${key}" (${dtype} ${JSON.stringify(shape)}) needs ${bytes} bytes but its offsets span ${o1 - o0}`,
      );
    }
    const end = base + o1;
    if (end > size)
      throw new SafetensorsError(
        `${file}: truncated: tensor "${key}" ends at byte ${end} but the file has ${size}`,
      );
    tensors.set(key, { dtype, shape: shape as number[], begin: base + o0, end, file });
  }
  return { tensors, metadata };
}

/** Stored bytes of one tensor as f32 values. */
export function toF32(bytes: Uint8Array, dtype: StoredDType, key: string): Float32Array {
  const buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  switch (dtype) {
    case 'F32':
      return new Float32Array(buf);
    case 'F64':
      return Float32Array.from(new Float64Array(buf));
    case 'F16':
      return fromF16Array(new Uint16Array(buf)); // table lookup: 18 ns a value vs 79 ns converting each
    case 'BF16': {
      // bf16 is the top half of an f32: shift the bits instead of converting value by value
      const h = new Uint16Array(buf);
      const bits = new Uint32Array(h.length);
      for (let i = 0; i < h.length; i++) bits[i] = h[i]! << 16;
      return new Float32Array(bits.buffer);
    }
    case 'I64':
      return Float32Array.from(new BigInt64Array(buf), (v) => Number(v));
    case 'U64':
      return Float32Array.from(new BigUint64Array(buf), (v) => Number(v));
    case 'I32':
      return Float32Array.from(new Int32Array(buf));
    case 'U32':
      return Float32Array.from(new Uint32Array(buf));
    case 'I16':
      return Float32Array.from(new Int16Array(buf));
    case 'U16':
      return Float32Array.from(new Uint16Array(buf));
    case 'I8':
      return Float32Array.from(new Int8Array(buf));
    case 'U8':
    case 'BOOL':
      return Float32Array.from(new Uint8Array(buf));
    default:
      throw new SafetensorsError(`tensor "${key}": cannot convert ${dtype}`);
  }
}

/**
 * Stored bytes of one tensor as f16 bit patterns. Stored f16 comes back as a view of `bytes` where they
 * are 2-byte aligned (no copy of a large tensor): treat the result as read-only.
 */
export function toF16Bits(bytes: Uint8Array, dtype: StoredDType, key: string): Uint16Array {
  if (dtype === 'F16') {
    if (bytes.byteOffset % 2 === 0)
      return new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
    return new Uint16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  }
  const f = toF32(bytes, dtype, key);
  const out = new Uint16Array(f.length);
  for (let i = 0; i < f.length; i++) out[i] = f32ToF16Bits(f[i]!);
  return out;
}
