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
  statSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { f32ToBf16Bits, f32ToF16Bits } from '../util/f16.js';
import { writeAllSync, writeFileVia } from './output.js';
import {
  headerLength,
  parseHeader,
  SafetensorsError,
  type TensorInfo,
  TensorMapReader,
} from './safetensors-format.js';

export {
  SafetensorsError,
  STORED_DTYPE_BYTES,
  type StoredDType,
  type TensorInfo,
  type TensorReader,
} from './safetensors-format.js';

/** One .safetensors file, or a sharded checkpoint through its index. */
export class Checkpoint extends TensorMapReader {
  private fds = new Map<string, number>();

  private constructor(tensors: Map<string, TensorInfo>, metadata: Record<string, string>, path: string) {
    super(tensors, metadata, path);
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
  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}

function readHeader(file: string): { tensors: Map<string, TensorInfo>; metadata: Record<string, string> } {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const prefix = new Uint8Array(8);
    readSync(fd, prefix, 0, 8, 0);
    const hlen = headerLength(prefix, size, file);
    const json = new Uint8Array(hlen);
    readSync(fd, json, 0, hlen, 8);
    return parseHeader(json, size, file);
  } finally {
    closeSync(fd);
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
  writeFileVia(path, (fd) => {
    writeAllSync(fd, len);
    writeAllSync(fd, hbytes);
    for (const b of blobs) writeAllSync(fd, b);
  });
}
