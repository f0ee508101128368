// The safetensors format itself, with no file system: dtypes, the header (length prefix, JSON, every
// entry checked against the data it describes) and conversion of stored tensors to f32 / f16 bits.
// Shared by the Node reader (safetensors.ts, from file offsets) and the in-memory reader
// (safetensors-bytes.ts, for bytes a browser fetched).
import { constants } from 'node:buffer';
import { f32ToF16Bits, fromF16Array } from '../util/f16.js';
import {
  type JsonObject,
  JsonSyntaxError,
  type JsonValue,
  parseStrictJson,
  quoteForMessage,
} from './json-strict.js';

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

/** Which rule of the format (or of a shard index) a file broke; tests and callers can switch on it. */
export type SafetensorsRule =
  // the file itself
  | 'file' // not openable as a regular file (missing, a FIFO, a folder, a symlink loop, ...)
  | 'read' // changed or shrank after its header was checked
  // the length prefix
  | 'too-short'
  | 'header-too-large'
  | 'header-length'
  // the header text
  | 'bom'
  | 'utf8'
  | 'json'
  | 'depth'
  | 'duplicate-key'
  | 'not-object'
  | 'metadata'
  // each tensor entry
  | 'entry'
  | 'dtype'
  | 'dtype-unsupported'
  | 'shape'
  | 'offsets'
  | 'overflow'
  | 'misaligned'
  | 'size-mismatch'
  // the data section as a whole
  | 'start'
  | 'gap'
  | 'overlap'
  | 'alias'
  | 'truncated'
  | 'trailing'
  // shard indexes (*.safetensors.index.json)
  | 'index-json'
  | 'index-weight-map'
  | 'index-metadata'
  | 'index-path'
  | 'index-escape'
  | 'index-missing-shard'
  | 'index-missing-tensor'
  // anything else (a missing key asked for, a conversion, the writer's own checks)
  | 'other';

export class SafetensorsError extends Error {
  constructor(
    message: string,
    readonly rule: SafetensorsRule = 'other',
  ) {
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

/** The entry of `key` in the shard an index maps it to, or the index's 'index-missing-tensor' error. */
export function shardTensor(
  index: string,
  key: string,
  shard: string,
  tensors: ReadonlyMap<string, TensorInfo>,
): TensorInfo {
  const info = tensors.get(key);
  if (!info)
    throw new SafetensorsError(
      `${index}: index maps ${quoteForMessage(key)} to ${quoteForMessage(shard)}, which does not contain it`,
      'index-missing-tensor',
    );
  return info;
}

/**
 * Refuses to read a tensor that one typed array cannot hold (a valid file may declare terabytes; a
 * sparse one even has them): a clean message instead of "Invalid typed array length". Callers that
 * know the run's memory check it first (models/limits.ts); this is the last line.
 */
export function checkHoldable(path: string, key: string, bytes: number): void {
  if (bytes > constants.MAX_LENGTH)
    throw new SafetensorsError(
      `${path}: tensor ${quoteForMessage(key)} takes ${bytes} bytes in memory, more than one array can hold here (${constants.MAX_LENGTH})`,
    );
}

const elementCount = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

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
    if (!t) throw new SafetensorsError(`${this.path}: no tensor named ${quoteForMessage(key)}`);
    return t;
  }

  readF32(key: string): Float32Array {
    const t = this.info(key);
    checkHoldable(this.path, key, 4 * elementCount(t.shape));
    return toF32(this.readBytes(key), t.dtype, key);
  }

  readF16Bits(key: string): Uint16Array {
    return toF16Bits(this.readBytes(key), this.info(key).dtype, key);
  }
}

// ---- the header ----------------------------------------------------------------------------------
//
// The rules are those of the official reader (huggingface/safetensors, safetensors/src/tensor.rs), one
// message each: a u64 little-endian header length of at most 100,000,000 bytes that fits in the file;
// the header UTF-8 JSON (no byte-order mark) holding one object; an optional `__metadata__` map of
// strings; every other entry {dtype, shape, data_offsets} with a known dtype, non-negative integer
// dims and offsets, and exactly shape x dtype bytes (computed without overflow); sorted by offsets, the
// tensors tile the data section from 0 with no gap, overlap or alias, and the data section ends the
// file. Deliberate differences: duplicate JSON keys are refused (the official reader refuses a second
// `__metadata__` but keeps the last of two tensor entries, so two readers could disagree on a file),
// dims beyond 2^53 - 1 are refused (only a zero-element tensor could have one), and dtypes the format
// knows but this program cannot convert (F8_*, F4, F6_*, C64) are refused up front. Like the official
// reader, fields of an entry other than the three are ignored.

/** The format's header limit (MAX_HEADER_SIZE in the official reader): decimal, not 100 MiB. */
export const MAX_HEADER_BYTES = 100_000_000;

/**
 * Deepest JSON nesting accepted in a header. A valid header needs 3 (object, entry, shape); the
 * official reader inherits serde_json's default recursion limit of 128, which is matched here so that
 * no file it accepts is refused. 128 frames of the recursive parser are far inside Node's stack.
 */
export const MAX_HEADER_DEPTH = 128;

/** Element sizes in bits of every dtype the format defines; the ones this program reads are STORED_DTYPE_BYTES. */
const FORMAT_DTYPE_BITS = new Map<string, number>([
  ['BOOL', 8],
  ['F4', 4],
  ['F6_E2M3', 6],
  ['F6_E3M2', 6],
  ['U8', 8],
  ['I8', 8],
  ['F8_E5M2', 8],
  ['F8_E4M3', 8],
  ['F8_E8M0', 8],
  ['F8_E4M3FNUZ', 8],
  ['F8_E5M2FNUZ', 8],
  ['I16', 16],
  ['U16', 16],
  ['F16', 16],
  ['BF16', 16],
  ['I32', 32],
  ['U32', 32],
  ['F32', 32],
  ['C64', 64],
  ['F64', 64],
  ['I64', 64],
  ['U64', 64],
]);

// a Map, so names like "constructor" or "__proto__" are simply unknown
const SUPPORTED = new Map(Object.entries(STORED_DTYPE_BYTES)) as Map<string, number>;

/** usize on the 64-bit machines the official reader runs on: its checked arithmetic overflows past this. */
const U64_MAX = (1n << 64n) - 1n;

const BOM = [0xef, 0xbb, 0xbf];

/** The header length from the first 8 bytes of a file of `size` bytes, checked. */
export function headerLength(prefix: Uint8Array, size: number, file: string): number {
  if (size < 8 || prefix.byteLength < 8)
    throw new SafetensorsError(
      `${file}: too short to be a safetensors file (${size} bytes; the header length alone takes 8)`,
      'too-short',
    );
  // read as the u64 it is: a Number would round lengths beyond 2^53
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES))
    throw new SafetensorsError(
      `${file}: header length ${n} is over the format's limit of ${MAX_HEADER_BYTES} bytes: not a safetensors file`,
      'header-too-large',
    );
  if (8n + n > BigInt(size))
    throw new SafetensorsError(
      `${file}: header length ${n} runs past the end of the file (${size} bytes): not a safetensors file, or truncated`,
      'header-length',
    );
  return Number(n);
}

interface Entry {
  key: string;
  dtype: StoredDType;
  shape: number[];
  begin: bigint;
  end: bigint;
}

/**
 * Parses and checks the JSON header (the bytes after the length prefix) of a file of `size` bytes
 * against every rule above. Byte ranges in the result are absolute; tensors keep the header's order.
 */
export function parseHeader(
  json: Uint8Array,
  size: number,
  file: string,
): { tensors: Map<string, TensorInfo>; metadata: Record<string, string> } {
  const fail = (rule: SafetensorsRule, what: string): never => {
    throw new SafetensorsError(`${file}: ${what}`, rule);
  };
  if (BOM.every((b, i) => json[i] === b))
    fail('bom', 'header starts with a UTF-8 byte-order mark, which the format does not allow');
  let text = '';
  try {
    // ignoreBOM keeps a BOM in the text instead of dropping it, so none slips past the check above
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(json);
  } catch {
    fail('utf8', 'header is not valid UTF-8');
  }
  let root: JsonValue = null;
  try {
    root = parseStrictJson(text, { maxDepth: MAX_HEADER_DEPTH });
  } catch (e) {
    if (!(e instanceof JsonSyntaxError)) throw e;
    const rule = e.kind === 'depth' ? 'depth' : e.kind === 'duplicate-key' ? 'duplicate-key' : 'json';
    fail(rule, `header is not valid JSON (${e.message})`);
  }
  if (!(root instanceof Map)) fail('not-object', `header is ${describe(root)}, not a JSON object`);

  let metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [key, v] of root as JsonObject) {
    if (key === '__metadata__') {
      metadata = readMetadata(v, fail);
      continue;
    }
    entries.push(readEntry(key, v, fail));
  }

  // the data section, tensor by tensor in offset order, must be tiled from 0 with nothing left over
  const order = [...entries].sort((a, b) => cmp(a.begin, b.begin) || cmp(a.end, b.end));
  let expected = 0n;
  let prev: Entry | undefined;
  for (const t of order) {
    const at = () => `tensor ${q(t.key)}: data_offsets [${t.begin}, ${t.end}]`;
    if (t.begin > expected) {
      if (!prev) fail('start', `${at()}: the first tensor's data must start at 0`);
      fail('gap', `${at()} leave a gap of ${plural(t.begin - expected, 'byte')} after ${q(prev!.key)}`);
    }
    if (t.begin < expected) {
      if (prev && prev.begin === t.begin && prev.end === t.end)
        fail('alias', `${at()} are the same bytes as ${q(prev.key)}'s`);
      fail('overlap', `${at()} overlap ${q(prev!.key)}'s [${prev!.begin}, ${prev!.end}]`);
    }
    expected = t.end;
    prev = t;
  }
  const base = 8 + json.byteLength;
  const dataBytes = BigInt(size - base);
  if (expected > dataBytes)
    fail(
      'truncated',
      `truncated: tensor ${q(prev!.key)} ends at byte ${expected} of the data section, which holds ${dataBytes} bytes`,
    );
  if (expected < dataBytes)
    fail(
      'trailing',
      `${plural(dataBytes - expected, 'byte')} ${dataBytes - expected === 1n ? 'follows' : 'follow'} the last tensor's data (the tensors must fill the file exactly)`,
    );

  // every offset is now inside the file, so Numbers are exact
  const tensors = new Map<string, TensorInfo>();
  for (const t of entries)
    tensors.set(t.key, {
      dtype: t.dtype,
      shape: t.shape,
      begin: base + Number(t.begin),
      end: base + Number(t.end),
      file,
    });
  return { tensors, metadata };
}

type Fail = (rule: SafetensorsRule, what: string) => never;

function readMetadata(v: JsonValue, fail: Fail): Record<string, string> {
  if (v === null) return {}; // the official reader reads null as "no metadata"
  if (!(v instanceof Map))
    return fail('metadata', `__metadata__ is ${describe(v)}, not an object of strings`);
  const out: [string, string][] = [];
  for (const [k, s] of v) {
    if (typeof s !== 'string')
      fail('metadata', `__metadata__ ${q(k)} is ${describe(s)}; metadata values must be strings`);
    out.push([k, s as string]);
  }
  // fromEntries defines own properties: a "__proto__" key stays a key
  return Object.fromEntries(out);
}

function readEntry(key: string, v: JsonValue, fail: Fail): Entry {
  const at = `tensor ${q(key)}`;
  if (!(v instanceof Map))
    fail('entry', `${at} is ${describe(v)}, not an object with dtype, shape and data_offsets`);
  const e = v as JsonObject;
  for (const field of ['dtype', 'shape', 'data_offsets'])
    if (!e.has(field)) fail('entry', `${at} has no ${field}`);

  const dtype = e.get('dtype')!;
  if (typeof dtype !== 'string') fail('dtype', `${at}: dtype is ${describe(dtype)}, not a string`);
  const bits = FORMAT_DTYPE_BITS.get(dtype as string);
  if (bits === undefined) fail('dtype', `${at}: unknown dtype ${q(dtype as string)}`);

  const shape = e.get('shape')!;
  if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'bigint' && d >= 0n))
    fail('shape', `${at}: shape ${describe(shape)} is not a list of non-negative integers`);
  const dims = shape as bigint[];
  if (dims.some((d) => d > BigInt(Number.MAX_SAFE_INTEGER)))
    fail('shape', `${at}: shape ${describe(shape)} has a dimension beyond 2^53 - 1`);

  const off = e.get('data_offsets')!;
  if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => typeof d === 'bigint' && d >= 0n))
    fail('offsets', `${at}: data_offsets ${describe(off)} are not two non-negative integers`);
  const [begin, end] = off as [bigint, bigint];
  if (end < begin) fail('offsets', `${at}: data_offsets [${begin}, ${end}] end before they begin`);

  // exact, with the official reader's u64 overflow checks
  let elements = 1n;
  for (const d of dims) {
    elements *= d;
    if (elements > U64_MAX)
      fail('overflow', `${at}: shape ${describe(shape)} has more elements than a 64-bit count can hold`);
  }
  const nbits = elements * BigInt(bits!);
  if (nbits > U64_MAX)
    fail('overflow', `${at}: shape ${describe(shape)} of ${dtype} is more bytes than a 64-bit size can hold`);
  if (nbits % 8n !== 0n)
    fail('misaligned', `${at}: ${dtype} ${describe(shape)} does not end on a byte boundary`);
  const bytes = nbits / 8n;
  if (end - begin !== bytes)
    fail(
      'size-mismatch',
      `${at}: ${dtype} ${describe(shape)} takes ${bytes} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`,
    );
  if (!SUPPORTED.has(dtype as string))
    fail('dtype-unsupported', `${at}: dtype ${dtype} is valid safetensors but this program cannot read it`);
  return { key, dtype: dtype as StoredDType, shape: dims.map(Number), begin, end };
}

function plural(n: bigint, unit: string): string {
  return `${n} ${unit}${n === 1n ? '' : 's'}`;
}

function cmp(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const q = quoteForMessage;

/** A header value for a message, on one line and short: never a dump of what the file holds. */
function describe(v: JsonValue, depth = 0): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return `${v}`;
  if (typeof v === 'bigint' || typeof v === 'number') {
    const s = String(v);
    return s.length > 24 ? `${s.slice(0, 24)}…` : s;
  }
  if (typeof v === 'string') return depth ? q(v, 24) : `the string ${q(v, 24)}`;
  if (v instanceof Map) return depth ? '{…}' : 'an object';
  if (depth > 0) return '[…]';
  const items = v.slice(0, 6).map((x) => describe(x, depth + 1));
  return `[${items.join(', ')}${v.length > 6 ? `, … (${v.length} items)` : ''}]`;
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
