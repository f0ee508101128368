// The GGUF format (versions 2 and 3, little-endian), with no file system: the header (magic, version,
// counts, typed metadata, tensor infos) parsed from a byte source and every field checked against the
// file it describes, one rule per message. Shared by the Node reader (gguf.ts, file offsets) and the
// in-memory reader (browser bytes). Facts: ../shared/docs/gguf.md, llama.cpp's gguf.cpp and gguf-py.
//
// Rules, beyond "the bytes are there": a known value type everywhere; strings valid UTF-8 and no longer
// than the file; array counts bounded by the bytes left (so no count can ask for more memory than the
// file holds) and nested at most MAX_ARRAY_DEPTH deep; metadata keys and tensor names unique and
// non-empty; general.alignment a u32 power of two from 8 to 2^20 (the spec asks for a multiple of 8);
// tensors of 1 to 4 dimensions (GGML_MAX_DIMS) of a supported type, the innermost dimension a whole
// number of blocks, at most 2^53 - 1 elements; offsets aligned, inside the file, and no two tensors
// sharing bytes. Deliberate strictness: llama.cpp also requires tensors packed in info order; gguf-py
// does not, and neither do we (only overlap is refused). Big-endian files and version 1 are refused by
// name.
import { GGML_TYPE_BY_ID, type GgmlTypeName, UNSUPPORTED_GGML_TYPES } from '../quant/ggml-types.js';
import { quoteForMessage } from './json-strict.js';

export type GgufRule =
  | 'file'
  | 'read'
  | 'too-short'
  | 'magic'
  | 'version'
  | 'big-endian'
  | 'count'
  | 'truncated'
  | 'header-too-large'
  | 'value-type'
  | 'string'
  | 'utf8'
  | 'array'
  | 'depth'
  | 'duplicate-key'
  | 'alignment'
  | 'name'
  | 'duplicate-tensor'
  | 'dims'
  | 'type'
  | 'type-unsupported'
  | 'blocks'
  | 'elements'
  | 'misaligned'
  | 'out-of-file'
  | 'overlap'
  | 'other';

export class GgufError extends Error {
  constructor(
    message: string,
    readonly rule: GgufRule = 'other',
  ) {
    super(message);
    this.name = 'GgufError';
  }
}

/** GGUF metadata value types, by their stored id. */
export const GGUF_VALUE_TYPES = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
} as const;
export type GgufValueType = keyof typeof GGUF_VALUE_TYPES;
const VALUE_TYPE_NAME = new Map<number, GgufValueType>(
  Object.entries(GGUF_VALUE_TYPES).map(([k, v]) => [v, k as GgufValueType]),
);
const SCALAR_BYTES: Partial<Record<GgufValueType, number>> = {
  u8: 1,
  i8: 1,
  u16: 2,
  i16: 2,
  u32: 4,
  i32: 4,
  f32: 4,
  bool: 1,
  u64: 8,
  i64: 8,
  f64: 8,
};

/** A metadata value: numbers (u64/i64 as bigint), booleans, strings, or typed arrays of them. */
export type GgufScalar = number | bigint | boolean | string;
export interface GgufArray {
  itemType: GgufValueType;
  items: (GgufScalar | GgufArray)[];
}
export type GgufValue = GgufScalar | GgufArray;
export interface GgufEntry {
  type: GgufValueType;
  value: GgufValue;
}

export interface GgufTensorInfo {
  /** The ggml type, e.g. 'Q8_0' or 'F16'. */
  dtype: GgmlTypeName;
  /** Row-major (safetensors/PyTorch) order: GGUF's ne reversed. */
  shape: number[];
  /** Absolute byte range in the file (or buffer). */
  begin: number;
  end: number;
  file: string;
}

export interface GgufHeader {
  version: number;
  metadata: Map<string, GgufEntry>;
  tensors: Map<string, GgufTensorInfo>;
  alignment: number;
  /** Where the data section starts. */
  dataOffset: number;
}

/** Header bytes (metadata and tensor infos) read at most; real FLUX/T5 files need well under 10 MB. */
export const MAX_GGUF_HEADER_BYTES = 256 * 2 ** 20;
/** Deepest nesting of arrays in metadata (the format allows arrays of arrays; real files use 1). */
export const MAX_ARRAY_DEPTH = 8;
/** Longest key or tensor name (llama.cpp's GGML_MAX_NAME is 64; keys are free-form but short). */
export const MAX_NAME_BYTES = 65535;

const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
const DEFAULT_ALIGNMENT = 32;
const MAX_DIMS = 4;

/** Reads `length` bytes at `position`; returns fewer only at the end of the source. */
export type ByteSource = (position: number, length: number) => Uint8Array;

/** A forward reader over a ByteSource, fetching in chunks, that refuses to run past the header budget. */
class Cursor {
  pos = 0;
  private buf: Uint8Array = new Uint8Array(0);
  private bufStart = 0;

  constructor(
    private readonly read: ByteSource,
    readonly size: number,
    private readonly file: string,
  ) {}

  /** Guarantees `n` bytes at pos in buf, or fails naming what was being read. */
  private need(n: number, what: string): number {
    if (this.pos + n > this.size)
      throw new GgufError(
        `${this.file}: ${what} at byte ${this.pos} runs past the end of the file (${this.size} bytes): truncated, or not a GGUF file`,
        'truncated',
      );
    if (this.pos + n > MAX_GGUF_HEADER_BYTES)
      throw new GgufError(
        `${this.file}: the header runs past ${MAX_GGUF_HEADER_BYTES} bytes (while reading ${what}); no real model needs that much`,
        'header-too-large',
      );
    const off = this.pos - this.bufStart;
    if (off >= 0 && off + n <= this.buf.length) return off;
    const want = Math.min(Math.max(n, 1 << 20), this.size - this.pos);
    const got = this.read(this.pos, want);
    if (got.length < n) throw new GgufError(`${this.file}: the file shrank while being read`, 'read');
    this.buf = got;
    this.bufStart = this.pos;
    return 0;
  }

  bytes(n: number, what: string): Uint8Array {
    const off = this.need(n, what);
    this.pos += n;
    return this.buf.subarray(off, off + n);
  }

  private view(n: number, what: string): DataView {
    const b = this.bytes(n, what);
    return new DataView(b.buffer, b.byteOffset, n);
  }

  u32(what: string): number {
    return this.view(4, what).getUint32(0, true);
  }

  u64(what: string): bigint {
    return this.view(8, what).getBigUint64(0, true);
  }

  scalar(type: GgufValueType, what: string): GgufScalar {
    switch (type) {
      case 'u8':
        return this.view(1, what).getUint8(0);
      case 'i8':
        return this.view(1, what).getInt8(0);
      case 'u16':
        return this.view(2, what).getUint16(0, true);
      case 'i16':
        return this.view(2, what).getInt16(0, true);
      case 'u32':
        return this.view(4, what).getUint32(0, true);
      case 'i32':
        return this.view(4, what).getInt32(0, true);
      case 'f32':
        return this.view(4, what).getFloat32(0, true);
      case 'bool': {
        const v = this.view(1, what).getUint8(0);
        if (v > 1)
          throw new GgufError(
            `${this.file}: ${what} is a bool stored as ${v} (must be 0 or 1)`,
            'value-type',
          );
        return v === 1;
      }
      case 'u64':
        return this.view(8, what).getBigUint64(0, true);
      case 'i64':
        return this.view(8, what).getBigInt64(0, true);
      case 'f64':
        return this.view(8, what).getFloat64(0, true);
      default:
        throw new Error(`internal: scalar(${type})`);
    }
  }

  /** A length-prefixed UTF-8 string, bounded by the file and by `max` bytes. */
  string(what: string, max = MAX_GGUF_HEADER_BYTES): string {
    const at = this.pos;
    const n = this.u64(`the length of ${what}`);
    if (n > BigInt(this.size - this.pos) || n > BigInt(max))
      throw new GgufError(
        `${this.file}: ${what} at byte ${at} claims ${n} bytes${n > BigInt(max) ? `, over the limit of ${max}` : `, more than the ${this.size - this.pos} left in the file`}`,
        'string',
      );
    const b = this.bytes(Number(n), what);
    try {
      return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(b);
    } catch {
      throw new GgufError(`${this.file}: ${what} at byte ${at} is not valid UTF-8`, 'utf8');
    }
  }
}

/**
 * Parses and checks the header of a GGUF file of `size` bytes read through `read`. Only the header is
 * read; tensor byte ranges in the result are absolute.
 */
export function parseGgufHeader(read: ByteSource, size: number, file: string): GgufHeader {
  const fail = (rule: GgufRule, what: string): never => {
    throw new GgufError(`${file}: ${what}`, rule);
  };
  if (size < 24)
    fail('too-short', `too short to be a GGUF file (${size} bytes; the fixed header alone takes 24)`);
  const c = new Cursor(read, size, file);
  const magic = c.u32('the magic');
  if (magic !== GGUF_MAGIC) fail('magic', 'does not start with "GGUF": not a GGUF file');
  const version = c.u32('the version');
  if (version === 0x03000000 || version === 0x02000000)
    fail('big-endian', 'is a big-endian GGUF file; only little-endian files are supported');
  if (version === 1)
    fail('version', 'is GGUF version 1 (32-bit counts), which is not supported: convert it again');
  if (version !== 2 && version !== 3)
    fail('version', `has GGUF version ${version}; versions 2 and 3 are supported`);
  const tensorCount = c.u64('the tensor count');
  const kvCount = c.u64('the metadata count');
  // every tensor info takes >= 8 + 4 + 8 + 4 + 8 bytes and every entry >= 8 + 4 + 1 (empty key is refused anyway)
  if (tensorCount * 32n > BigInt(size))
    fail('count', `claims ${tensorCount} tensors, more than its ${size} bytes can describe`);
  if (kvCount * 13n > BigInt(size))
    fail('count', `claims ${kvCount} metadata entries, more than its ${size} bytes can hold`);

  const metadata = new Map<string, GgufEntry>();
  for (let i = 0; i < Number(kvCount); i++) {
    const at = c.pos;
    const key = c.string(`metadata key #${i}`, MAX_NAME_BYTES);
    if (key === '') fail('name', `metadata key #${i} at byte ${at} is empty`);
    if (metadata.has(key)) fail('duplicate-key', `metadata key ${quoteForMessage(key)} appears twice`);
    const type = valueType(c.u32(`the type of ${quoteForMessage(key)}`), `metadata ${quoteForMessage(key)}`);
    metadata.set(key, { type, value: readValue(c, type, `metadata ${quoteForMessage(key)}`, 0) });
  }

  let alignment = DEFAULT_ALIGNMENT;
  const al = metadata.get('general.alignment');
  if (al) {
    const v = al.value;
    if (al.type !== 'u32' || typeof v !== 'number' || v < 8 || v > 2 ** 20 || (v & (v - 1)) !== 0)
      fail(
        'alignment',
        `general.alignment must be a u32 power of two from 8 to 2^20; got ${al.type} ${String(v)}`,
      );
    alignment = v as number;
  }

  interface Pending {
    name: string;
    dtype: GgmlTypeName;
    shape: number[];
    offset: bigint;
    bytes: number;
  }
  const pending: Pending[] = [];
  const names = new Set<string>();
  for (let i = 0; i < Number(tensorCount); i++) {
    const at = c.pos;
    const name = c.string(`the name of tensor #${i}`, MAX_NAME_BYTES);
    const q = quoteForMessage(name);
    if (name === '') fail('name', `tensor #${i} at byte ${at} has an empty name`);
    if (names.has(name)) fail('duplicate-tensor', `tensor ${q} appears twice`);
    names.add(name);
    const nDims = c.u32(`the dimension count of ${q}`);
    if (nDims < 1 || nDims > MAX_DIMS)
      fail('dims', `tensor ${q} has ${nDims} dimensions; 1 to ${MAX_DIMS} are allowed`);
    const ne: bigint[] = [];
    for (let d = 0; d < nDims; d++) ne.push(c.u64(`dimension ${d} of ${q}`));
    const typeId = c.u32(`the type of ${q}`);
    const t = GGML_TYPE_BY_ID.get(typeId);
    if (!t) {
      const known = UNSUPPORTED_GGML_TYPES.get(typeId);
      fail(
        known ? 'type-unsupported' : 'type',
        known
          ? `tensor ${q} is stored as ${known}, which this program does not read (supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K…Q6_K)`
          : `tensor ${q} has unknown ggml type ${typeId}`,
      );
    }
    const offset = c.u64(`the offset of ${q}`);
    let count = 1n;
    for (const d of ne) count *= d;
    if (count > BigInt(Number.MAX_SAFE_INTEGER))
      fail('elements', `tensor ${q} has ${count} elements (dims ${ne.join(' x ')}), more than 2^53 - 1`);
    const type = t as NonNullable<typeof t>;
    if (ne[0]! % BigInt(type.blockSize) !== 0n)
      fail(
        'blocks',
        `tensor ${q} is ${type.name} but its innermost dimension ${ne[0]} is not a whole number of ${type.blockSize}-element blocks`,
      );
    if (offset % BigInt(alignment) !== 0n)
      fail(
        'misaligned',
        `tensor ${q} starts at data offset ${offset}, not a multiple of the alignment ${alignment}`,
      );
    const bytes = (count / BigInt(type.blockSize)) * BigInt(type.blockBytes);
    pending.push({
      name,
      dtype: type.name,
      shape: ne.map(Number).reverse(),
      offset,
      bytes: Number(bytes),
    });
  }
  const dataOffset = Math.ceil(c.pos / alignment) * alignment;
  const dataBytes = BigInt(size) - BigInt(Math.min(dataOffset, size));
  for (const p of pending)
    if (p.offset + BigInt(p.bytes) > dataBytes)
      fail(
        'out-of-file',
        `tensor ${quoteForMessage(p.name)} (${p.dtype} ${p.shape.join(' x ')}, ${p.bytes} bytes at data offset ${p.offset}) runs past the end of the file (the data section holds ${dataBytes} bytes): truncated`,
      );
  const sorted = [...pending].sort((a, b) => (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1]!;
    const b = sorted[i]!;
    if (a.offset + BigInt(a.bytes) > b.offset && a.bytes > 0 && b.bytes > 0)
      fail('overlap', `tensors ${quoteForMessage(a.name)} and ${quoteForMessage(b.name)} share bytes`);
  }
  const tensors = new Map<string, GgufTensorInfo>();
  for (const p of pending) {
    const begin = dataOffset + Number(p.offset);
    tensors.set(p.name, { dtype: p.dtype, shape: p.shape, begin, end: begin + p.bytes, file });
  }
  return { version, metadata, tensors, alignment, dataOffset };

  function valueType(id: number, what: string): GgufValueType {
    const t = VALUE_TYPE_NAME.get(id);
    if (t === undefined) fail('value-type', `${what} has unknown value type ${id}`);
    return t as GgufValueType;
  }

  function readValue(cur: Cursor, type: GgufValueType, what: string, depth: number): GgufValue {
    if (type === 'string') return cur.string(what);
    if (type !== 'array') return cur.scalar(type, what);
    if (depth >= MAX_ARRAY_DEPTH) fail('depth', `${what} nests arrays more than ${MAX_ARRAY_DEPTH} deep`);
    const itemType = valueType(cur.u32(`the item type of ${what}`), `${what}'s items`);
    const at = cur.pos;
    const n = cur.u64(`the length of ${what}`);
    // each item takes at least its scalar size (a string or an array at least 8 bytes of length)
    const least = BigInt(SCALAR_BYTES[itemType] ?? 8);
    if (n * least > BigInt(size - cur.pos))
      fail(
        'array',
        `${what} at byte ${at} claims ${n} items, more than the ${size - cur.pos} bytes left can hold`,
      );
    const items: (GgufScalar | GgufArray)[] = [];
    for (let i = 0; i < Number(n); i++) items.push(readValue(cur, itemType, `${what}[${i}]`, depth + 1));
    return { itemType, items };
  }
}

/** A metadata value as a short string (scalars; arrays summarised), for metadata records and messages. */
export function ggufValueText(v: GgufValue): string {
  if (typeof v === 'object') return `[${v.items.length} × ${v.itemType}]`;
  return String(v);
}
