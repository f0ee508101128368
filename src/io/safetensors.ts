// safetensors reading and writing.
//
// Reading is tensor by tensor from file offsets: only the header is parsed up front, and each tensor's
// bytes are read when asked for, so a 24 GB checkpoint never sits in the JS heap at once. Sharded
// checkpoints (*.safetensors.index.json) look like one file. Writing goes to a temp file that is
// renamed into place, so a failed write leaves nothing half-written.
import {
  closeSync,
  existsSync,
  fstatSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { f32ToBf16Bits, f32ToF16Bits, fromF16Array } from '../util/f16.js';

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

const BYTES: Record<StoredDType, number> = {
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
  /** Absolute byte range in the file. */
  begin: number;
  end: number;
  file: string;
}

export class SafetensorsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafetensorsError';
  }
}

const MAX_HEADER = 100 << 20;

/** One .safetensors file, or a sharded checkpoint through its index. */
export class Checkpoint {
  readonly metadata: Record<string, string>;
  private readonly tensors: Map<string, TensorInfo>;
  private fds = new Map<string, number>();

  private constructor(
    tensors: Map<string, TensorInfo>,
    metadata: Record<string, string>,
    readonly path: string,
  ) {
    this.tensors = tensors;
    this.metadata = metadata;
  }

  /** Opens a .safetensors file, a *.safetensors.index.json, or a folder holding exactly one of either. */
  static open(path: string): Checkpoint {
    if (!existsSync(path)) throw new SafetensorsError(`${path}: no such file or folder`);
    if (statSync(path).isDirectory()) {
      const names = readdirSync(path);
      const index = names.filter((n) => n.endsWith('.safetensors.index.json'));
      const single = names.filter((n) => n.endsWith('.safetensors'));
      if (index.length === 1) return Checkpoint.open(join(path, index[0]!));
      if (single.length === 1) return Checkpoint.open(join(path, single[0]!));
      throw new SafetensorsError(
        `${path}: expected one .safetensors file or one *.safetensors.index.json, found ${single.length} and ${index.length}`,
      );
    }
    if (path.endsWith('.json')) return Checkpoint.openIndex(path);
    const { tensors, metadata } = readHeader(path);
    return new Checkpoint(tensors, metadata, path);
  }

  private static openIndex(path: string): Checkpoint {
    let index: { weight_map?: Record<string, string>; metadata?: Record<string, string> };
    try {
      index = JSON.parse(readFileSync(path, 'utf8'));
    } catch (e) {
      throw new SafetensorsError(`${path}: not a valid index JSON (${(e as Error).message})`);
    }
    if (!index.weight_map || typeof index.weight_map !== 'object')
      throw new SafetensorsError(`${path}: index has no weight_map`);
    const dir = dirname(path);
    const shards = new Map<string, Map<string, TensorInfo>>();
    const tensors = new Map<string, TensorInfo>();
    for (const [key, shard] of Object.entries(index.weight_map)) {
      let s = shards.get(shard);
      if (!s) {
        const file = join(dir, shard);
        if (!existsSync(file))
          throw new SafetensorsError(`${path}: shard ${shard} (holding ${key}) is missing`);
        s = readHeader(file).tensors;
        shards.set(shard, s);
      }
      const info = s.get(key);
      if (!info)
        throw new SafetensorsError(`${path}: index maps ${key} to ${shard}, which does not contain it`);
      tensors.set(key, info);
    }
    return new Checkpoint(tensors, { ...(index.metadata ?? {}) }, path);
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

  /** The raw bytes of one tensor. */
  readBytes(key: string): Uint8Array {
    const t = this.info(key);
    let fd = this.fds.get(t.file);
    if (fd === undefined) {
      fd = openSync(t.file, 'r');
      this.fds.set(t.file, fd);
    }
    const n = t.end - t.begin;
    const out = new Uint8Array(n);
    let done = 0;
    while (done < n) {
      const r = readSync(fd, out, done, n - done, t.begin + done);
      if (r === 0) throw new SafetensorsError(`${t.file}: unexpected end of file reading "${key}"`);
      done += r;
    }
    return out;
  }

  /** One tensor as f32 values (any float or integer storage converted). */
  readF32(key: string): Float32Array {
    const t = this.info(key);
    return toF32(this.readBytes(key), t.dtype, key);
  }

  /** One tensor as f16 bit patterns (f16 passes through untouched; others are converted with rounding). */
  readF16Bits(key: string): Uint16Array {
    const t = this.info(key);
    const bytes = this.readBytes(key);
    if (t.dtype === 'F16') return new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
    const f = toF32(bytes, t.dtype, key);
    const out = new Uint16Array(f.length);
    for (let i = 0; i < f.length; i++) out[i] = f32ToF16Bits(f[i]!);
    return out;
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}

function readHeader(file: string): { tensors: Map<string, TensorInfo>; metadata: Record<string, string> } {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size < 8) throw new SafetensorsError(`${file}: too short to be a safetensors file (${size} bytes)`);
    const lenBuf = Buffer.alloc(8);
    readSync(fd, lenBuf, 0, 8, 0);
    const hlen = Number(lenBuf.readBigUInt64LE(0));
    if (hlen <= 0 || hlen > MAX_HEADER || 8 + hlen > size) {
      throw new SafetensorsError(
        `${file}: bad header length ${hlen} (file is ${size} bytes): not a safetensors file, or truncated`,
      );
    }
    const hbuf = Buffer.alloc(hlen);
    readSync(fd, hbuf, 0, hlen, 8);
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(hbuf.toString('utf8'));
    } catch (e) {
      throw new SafetensorsError(`${file}: header is not valid JSON (${(e as Error).message})`);
    }
    if (!header || typeof header !== 'object' || Array.isArray(header))
      throw new SafetensorsError(`${file}: header is not a JSON object`);
    const base = 8 + hlen;
    const tensors = new Map<string, TensorInfo>();
    let metadata: Record<string, string> = {};
    for (const [key, v] of Object.entries(header)) {
      if (key === '__metadata__') {
        metadata = (v ?? {}) as Record<string, string>;
        continue;
      }
      const e = v as { dtype?: string; shape?: unknown; data_offsets?: unknown };
      if (!e || typeof e.dtype !== 'string' || !(e.dtype in BYTES))
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
      const n = (shape as number[]).reduce((a, b) => a * b, 1);
      if ((off[1] as number) - (off[0] as number) !== n * BYTES[dtype]) {
        throw new SafetensorsError(
          `${file}: tensor "${key}" (${dtype} ${JSON.stringify(shape)}) needs ${n * BYTES[dtype]} bytes but its offsets span ${(off[1] as number) - (off[0] as number)}`,
        );
      }
      const end = base + (off[1] as number);
      if (end > size)
        throw new SafetensorsError(
          `${file}: truncated: tensor "${key}" ends at byte ${end} but the file has ${size}`,
        );
      tensors.set(key, { dtype, shape: shape as number[], begin: base + (off[0] as number), end, file });
    }
    return { tensors, metadata };
  } finally {
    closeSync(fd);
  }
}

function toF32(bytes: Uint8Array, dtype: StoredDType, key: string): Float32Array {
  const buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  switch (dtype) {
    case 'F32':
      return new Float32Array(buf);
    case 'F64':
      return Float32Array.from(new Float64Array(buf));
    case 'F16':
      return fromF16Array(new Uint16Array(buf));
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

export interface TensorToWrite {
  dtype: 'F32' | 'F16' | 'BF16' | 'I64' | 'U32' | 'I32';
  shape: number[];
  /** F32: Float32Array; F16/BF16: Float32Array (rounded) or Uint16Array bits; I64/I32/U32: numbers. */
  data: Float32Array | Uint16Array | ArrayLike<number>;
}

/** Writes a safetensors file atomically (temp file + rename). Keys are written sorted, like the reference library. */
export function writeSafetensors(
  path: string,
  tensors: Record<string, TensorToWrite>,
  metadata?: Record<string, string>,
): void {
  const keys = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  const blobs: Uint8Array[] = [];
  let offset = 0;
  for (const key of keys) {
    const t = tensors[key]!;
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== n)
      throw new SafetensorsError(
        `writeSafetensors: "${key}" has ${t.data.length} values for shape ${JSON.stringify(t.shape)}`,
      );
    let blob: Uint8Array;
    switch (t.dtype) {
      case 'F32':
        blob = new Uint8Array(Float32Array.from(t.data as ArrayLike<number>).buffer);
        break;
      case 'F16':
      case 'BF16': {
        const round = t.dtype === 'F16' ? f32ToF16Bits : f32ToBf16Bits;
        const bits =
          t.data instanceof Uint16Array ? t.data : Uint16Array.from(t.data as ArrayLike<number>, round);
        blob = new Uint8Array(bits.buffer.slice(bits.byteOffset, bits.byteOffset + bits.byteLength));
        break;
      }
      case 'I64':
        blob = new Uint8Array(
          BigInt64Array.from(Array.from(t.data as ArrayLike<number>), (v) => BigInt(Math.round(v))).buffer,
        );
        break;
      case 'I32':
        blob = new Uint8Array(Int32Array.from(t.data as ArrayLike<number>).buffer);
        break;
      case 'U32':
        blob = new Uint8Array(Uint32Array.from(t.data as ArrayLike<number>).buffer);
        break;
    }
    header[key] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + blob.byteLength] };
    offset += blob.byteLength;
    blobs.push(blob);
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8); // align the data section to 8 bytes
  const hbytes = Buffer.from(json, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(hbytes.length));
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, len);
    writeSync(fd, hbytes);
    for (const b of blobs) writeSync(fd, b);
    closeSync(fd);
    renameSync(tmp, path);
  } catch (e) {
    try {
      closeSync(fd);
    } catch {}
    rmSync(tmp, { force: true });
    throw e;
  }
}
