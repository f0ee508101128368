// safetensors reading and writing.
//
// Reading is tensor by tensor from file offsets: only the header is parsed up front, and each tensor's
// bytes are read when asked for, so a 24 GB checkpoint never sits in the JS heap at once. Sharded
// checkpoints (*.safetensors.index.json) look like one file. Writing goes to a temp file that is
// renamed into place, so a failed write leaves nothing half-written.
import { closeSync, readdirSync, readSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { f32ToBf16Bits, f32ToF16Bits } from '../util/f16.js';
import { writeAllSync, writeFileVia } from './output.js';
import { describeFsError, InputFileError, openRegularFile, statPath } from './regular-file.js';
import {
  checkHoldable,
  headerLength,
  parseHeader,
  SafetensorsError,
  shardTensor,
  type TensorInfo,
  TensorMapReader,
} from './safetensors-format.js';
import { readShardIndex, resolveShard } from './safetensors-index.js';

export {
  SafetensorsError,
  type SafetensorsRule,
  STORED_DTYPE_BYTES,
  type StoredDType,
  type TensorInfo,
  type TensorReader,
} from './safetensors-format.js';

/** One .safetensors file, or a sharded checkpoint through its index. */
export class Checkpoint extends TensorMapReader {
  private fds = new Map<string, number>();

  private constructor(
    tensors: Map<string, TensorInfo>,
    metadata: Record<string, string>,
    path: string,
    /** Each file's size when its header was checked: a file that changes later is refused. */
    private readonly sizes: Map<string, number>,
  ) {
    super(tensors, metadata, path);
  }

  /** Opens a .safetensors file, a *.safetensors.index.json, or a folder holding exactly one of either. */
  static open(path: string): Checkpoint {
    if (fileCall(() => statPath(path, 'file or folder')).isDirectory()) {
      const names = fileCall(() => readdirSync(path), path);
      const index = names.filter((n) => n.endsWith('.safetensors.index.json'));
      const single = names.filter((n) => n.endsWith('.safetensors'));
      // the entry chosen must be a file: a FIFO or a folder under that name is refused
      if (index.length === 1) return Checkpoint.openFile(join(path, index[0]!));
      if (single.length === 1) return Checkpoint.openFile(join(path, single[0]!));
      throw new SafetensorsError(
        `${path}: expected one .safetensors file or one *.safetensors.index.json, found ${single.length} and ${index.length}`,
        'file',
      );
    }
    return Checkpoint.openFile(path);
  }

  private static openFile(path: string): Checkpoint {
    if (path.endsWith('.json')) return Checkpoint.openIndex(path);
    const { tensors, metadata, size } = readHeader(path, path);
    return new Checkpoint(tensors, metadata, path, new Map([[path, size]]));
  }

  private static openIndex(path: string): Checkpoint {
    const index = readShardIndex(path);
    const named = new Map<string, Map<string, TensorInfo>>();
    // by real path too: many names for one file (./a, links) must not each re-read its header
    const byFile = new Map<string, Map<string, TensorInfo>>();
    const sizes = new Map<string, number>();
    const tensors = new Map<string, TensorInfo>();
    for (const [key, shard] of index.weightMap) {
      let s = named.get(shard);
      if (!s) {
        const file = resolveShard(path, key, shard);
        s = byFile.get(file);
        if (!s) {
          const h = readHeader(file, join(dirname(path), shard));
          s = h.tensors;
          byFile.set(file, s);
          sizes.set(file, h.size);
        }
        named.set(shard, s);
      }
      tensors.set(key, shardTensor(path, key, shard, s));
    }
    return new Checkpoint(tensors, index.metadata, path, sizes);
  }

  /** The raw bytes of one tensor. */
  readBytes(key: string): Uint8Array {
    const t = this.info(key);
    let fd = this.fds.get(t.file);
    if (fd === undefined) {
      const f = fileCall(() => openRegularFile(t.file, 'safetensors file'));
      if (f.size !== this.sizes.get(t.file)) {
        closeSync(f.fd);
        throw new SafetensorsError(`${t.file}: changed size since its header was read`, 'read');
      }
      fd = f.fd;
      this.fds.set(t.file, fd);
    }
    checkHoldable(this.path, key, t.end - t.begin);
    const out = new Uint8Array(t.end - t.begin);
    readFully(fd, out, t.begin, t.file);
    return out;
  }

  /** Closes the files opened by readBytes. */
  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}

/** Runs a file-system step, reporting InputFileError (not a regular file, missing, ...) as a SafetensorsError. */
function fileCall<T>(f: () => T, path = ''): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof InputFileError) throw new SafetensorsError(e.message, 'file');
    if ((e as NodeJS.ErrnoException)?.code)
      throw new SafetensorsError(describeFsError(path, e, 'folder').message, 'file');
    throw e;
  }
}

/** Fills `out` from `fd` at `position`; a file that ends early has changed since it was checked. */
function readFully(fd: number, out: Uint8Array, position: number, file: string): void {
  let done = 0;
  while (done < out.byteLength) {
    const r = readSync(fd, out, done, out.byteLength - done, position + done);
    if (r === 0) throw new SafetensorsError(`${file}: the file shrank while being read`, 'read');
    done += r;
  }
}

/**
 * Opens `file` (only a regular file), checks its length prefix and header; `label` names it in messages.
 * Nothing beyond the header is read, and the header is read only once its length is known to fit.
 */
function readHeader(
  file: string,
  label: string,
): { tensors: Map<string, TensorInfo>; metadata: Record<string, string>; size: number } {
  const { fd, size } = fileCall(() => openRegularFile(file, 'safetensors file'));
  try {
    const prefix = new Uint8Array(Math.min(8, size));
    readFully(fd, prefix, 0, label);
    const hlen = headerLength(prefix, size, label);
    const json = new Uint8Array(hlen);
    readFully(fd, json, 8, label);
    const { tensors, metadata } = parseHeader(json, size, label);
    // messages name the label, reads go to the checked file
    for (const t of tensors.values()) t.file = file;
    return { tensors, metadata, size };
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
  const header: Record<string, unknown> = Object.create(null); // no prototype: a tensor named "__proto__" is a key like any other
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
