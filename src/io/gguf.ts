// GGUF reading and writing. Reading is tensor by tensor from file offsets, like the safetensors reader:
// only the header is parsed up front. Float and quantized tensors convert to f32 / f16 on the host
// (exact dequantization, src/quant/dequant.ts), or come out as raw blocks for the device to keep
// quantized. Writing goes to a temp file renamed into place (src/io/output.ts).
import { closeSync, readSync } from 'node:fs';
import { dequantize } from '../quant/dequant.js';
import {
  type GgmlTypeName,
  ggmlBytes,
  ggmlType,
  isQuantType,
  type QuantTypeName,
} from '../quant/ggml-types.js';
import { f32ToF16Bits } from '../util/f16.js';
import {
  GGUF_VALUE_TYPES,
  type GgufEntry,
  GgufError,
  type GgufHeader,
  type GgufTensorInfo,
  type GgufValue,
  type GgufValueType,
  ggufValueText,
  parseGgufHeader,
} from './gguf-format.js';
import { quoteForMessage } from './json-strict.js';
import { writeAllSync, writeFileVia } from './output.js';
import { InputFileError, openRegularFile } from './regular-file.js';
import { checkHoldable } from './safetensors-format.js';

export { type GgufEntry, GgufError, type GgufRule, type GgufTensorInfo } from './gguf-format.js';

/** Whether bytes start with the GGUF magic. */
export function isGgufMagic(prefix: Uint8Array): boolean {
  return (
    prefix.length >= 4 && prefix[0] === 0x47 && prefix[1] === 0x47 && prefix[2] === 0x55 && prefix[3] === 0x46
  );
}

/** Raw blocks of one tensor, ready to stay quantized on a device. */
export interface QuantizedBytes {
  type: QuantTypeName;
  shape: number[];
  bytes: Uint8Array;
}

/** Lookups and conversions over a parsed GGUF header; where bytes come from is the subclass's. */
export abstract class GgufReader {
  /** Scalar metadata as text (arrays summarised), the shape loaders expect of checkpoint metadata. */
  readonly metadata: Record<string, string>;

  protected constructor(
    readonly header: GgufHeader,
    readonly path: string,
  ) {
    const m: Record<string, string> = Object.create(null);
    for (const [k, e] of header.metadata) m[k] = ggufValueText(e.value);
    // `toma quantize` keeps a safetensors __metadata__ entry (e.g. `config`) as safetensors.<key>
    for (const [k, e] of header.metadata)
      if (k.startsWith('safetensors.') && typeof e.value === 'string') m[k.slice(12)] ??= e.value;
    this.metadata = m;
  }

  abstract readBytes(key: string): Uint8Array;

  /** The typed metadata entry, if present. */
  meta(key: string): GgufEntry | undefined {
    return this.header.metadata.get(key);
  }

  /** general.architecture ('flux' for the community's FLUX.1 conversions), if present. */
  get architecture(): string | undefined {
    const v = this.meta('general.architecture')?.value;
    return typeof v === 'string' ? v : undefined;
  }

  keys(): string[] {
    return [...this.header.tensors.keys()];
  }

  has(key: string): boolean {
    return this.header.tensors.has(key);
  }

  info(key: string): GgufTensorInfo {
    const t = this.header.tensors.get(key);
    if (!t) throw new GgufError(`${this.path}: no tensor named ${quoteForMessage(key)}`);
    return t;
  }

  private count(key: string): number {
    return this.info(key).shape.reduce((a, b) => a * b, 1);
  }

  /** Values as f32 (quantized blocks dequantized exactly as llama.cpp's gguf-py does). */
  readF32(key: string): Float32Array {
    const t = this.info(key);
    const n = this.count(key);
    checkHoldable(this.path, key, 4 * n);
    return dequantize(t.dtype, this.readBytes(key), n);
  }

  /** Values as f16 bit patterns (F16 passes through; everything else is converted with rounding). */
  readF16Bits(key: string): Uint16Array {
    const t = this.info(key);
    const bytes = this.readBytes(key);
    if (t.dtype === 'F16') {
      const out = new Uint16Array(bytes.length / 2);
      new Uint8Array(out.buffer).set(bytes);
      return out;
    }
    const v = dequantize(t.dtype, bytes, this.count(key));
    const out = new Uint16Array(v.length);
    for (let i = 0; i < v.length; i++) out[i] = f32ToF16Bits(v[i]!);
    return out;
  }

  /** Whether a tensor is stored in a block-quantized type. */
  isQuantized(key: string): boolean {
    return isQuantType(this.info(key).dtype);
  }

  /** The raw blocks of a quantized tensor. */
  readQuantized(key: string): QuantizedBytes {
    const t = this.info(key);
    if (!isQuantType(t.dtype))
      throw new GgufError(`${this.path}: ${quoteForMessage(key)} is ${t.dtype}, not block-quantized`);
    return { type: t.dtype, shape: t.shape, bytes: this.readBytes(key) };
  }

  close(): void {}
}

/** One .gguf file on disk. */
export class GgufFile extends GgufReader {
  private fd: number | undefined;

  private constructor(
    header: GgufHeader,
    path: string,
    private readonly size: number,
  ) {
    super(header, path);
  }

  static open(path: string): GgufFile {
    let f: { fd: number; size: number };
    try {
      f = openRegularFile(path, 'GGUF file');
    } catch (e) {
      if (e instanceof InputFileError) throw new GgufError(e.message, 'file');
      throw e;
    }
    try {
      const header = parseGgufHeader((pos, len) => readAt(f.fd, pos, len, path), f.size, path);
      const g = new GgufFile(header, path, f.size);
      g.fd = f.fd;
      return g;
    } catch (e) {
      closeSync(f.fd);
      throw e;
    }
  }

  readBytes(key: string): Uint8Array {
    const t = this.info(key);
    if (this.fd === undefined) {
      const f = openRegularFile(this.path, 'GGUF file');
      if (f.size !== this.size) {
        closeSync(f.fd);
        throw new GgufError(`${this.path}: changed size since its header was read`, 'read');
      }
      this.fd = f.fd;
    }
    checkHoldable(this.path, key, t.end - t.begin);
    const out = readAt(this.fd, t.begin, t.end - t.begin, this.path);
    if (out.length !== t.end - t.begin)
      throw new GgufError(`${this.path}: the file shrank while being read`, 'read');
    return out;
  }

  override close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** A GGUF file held in memory (bytes a browser read from a File); tensors are views of the bytes. */
export class GgufBytes extends GgufReader {
  constructor(
    private readonly bytes: Uint8Array,
    path = 'GGUF bytes',
  ) {
    super(
      parseGgufHeader((pos, len) => bytes.subarray(pos, pos + len), bytes.byteLength, path),
      path,
    );
  }

  readBytes(key: string): Uint8Array {
    const t = this.info(key);
    return this.bytes.subarray(t.begin, t.end);
  }
}

function readAt(fd: number, position: number, length: number, path: string): Uint8Array {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    let r: number;
    try {
      r = readSync(fd, out, done, length - done, position + done);
    } catch (e) {
      throw new GgufError(`${path}: read failed (${(e as Error).message})`, 'read');
    }
    if (r === 0) break;
    done += r;
  }
  return done === length ? out : out.subarray(0, done);
}

// ---- writing ---------------------------------------------------------------------------------------

export interface GgufTensorToWrite {
  type: GgmlTypeName;
  /** Row-major (safetensors) shape; written as GGUF ne (reversed). */
  shape: number[];
  /**
   * The stored bytes in `type` (whole blocks along the innermost dimension), or a function making them
   * when the tensor's turn comes (conversions: one tensor in memory at a time).
   */
  bytes: Uint8Array | (() => Uint8Array);
}

export type GgufMetadataValue =
  | { type: Exclude<GgufValueType, 'array'>; value: GgufValue }
  | { type: 'array'; value: { itemType: GgufValueType; items: GgufValue[] } };

/**
 * Writes a GGUF v3 file atomically: metadata in the given order, tensors in the given order, each
 * aligned to `general.alignment` (32 unless the metadata says otherwise), as llama.cpp's writer lays
 * them out, so tools that insist on packed tensors (llama.cpp) read it too.
 */
export function writeGguf(
  path: string,
  metadata: [string, GgufMetadataValue][],
  tensors: [string, GgufTensorToWrite][],
): void {
  const alignEntry = metadata.find(([k]) => k === 'general.alignment');
  const alignment = alignEntry ? Number(alignEntry[1].value) : 32;
  if (!Number.isInteger(alignment) || alignment < 8 || (alignment & (alignment - 1)) !== 0)
    throw new GgufError(`writeGguf: general.alignment must be a power of two >= 8, got ${alignment}`);
  const w = new ByteWriter();
  w.u32(0x46554747);
  w.u32(3);
  w.u64(BigInt(tensors.length));
  w.u64(BigInt(metadata.length));
  for (const [key, v] of metadata) {
    w.string(key);
    w.u32(GGUF_VALUE_TYPES[v.type]);
    writeValue(w, v.type, v.value as GgufValue);
  }
  let offset = 0;
  for (const [name, t] of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const expect = ggmlBytes(t.type, n);
    if (t.shape.length < 1 || t.shape.length > 4)
      throw new GgufError(
        `writeGguf: ${quoteForMessage(name)} has ${t.shape.length} dimensions (1 to 4 allowed)`,
      );
    if (typeof t.bytes !== 'function') checkLength(name, t, t.bytes, expect);
    if (t.shape.at(-1)! % ggmlType(t.type).blockSize !== 0)
      throw new GgufError(
        `writeGguf: ${quoteForMessage(name)}: innermost dimension is not whole ${t.type} blocks`,
      );
    w.string(name);
    w.u32(t.shape.length);
    for (const d of [...t.shape].reverse()) w.u64(BigInt(d));
    w.u32(ggmlType(t.type).id);
    w.u64(BigInt(offset));
    offset += Math.ceil(expect / alignment) * alignment;
  }
  const header = w.finish();
  const pad = (n: number) => new Uint8Array((alignment - (n % alignment)) % alignment);
  writeFileVia(path, (fd) => {
    writeAllSync(fd, header);
    writeAllSync(fd, pad(header.length));
    for (const [name, t] of tensors) {
      const bytes = typeof t.bytes === 'function' ? t.bytes() : t.bytes;
      checkLength(
        name,
        t,
        bytes,
        ggmlBytes(
          t.type,
          t.shape.reduce((a, b) => a * b, 1),
        ),
      );
      writeAllSync(fd, bytes);
      writeAllSync(fd, pad(bytes.length));
    }
  });
}

function checkLength(name: string, t: GgufTensorToWrite, bytes: Uint8Array, expect: number): void {
  if (bytes.length !== expect)
    throw new GgufError(
      `writeGguf: ${quoteForMessage(name)} is ${t.type} [${t.shape.join(', ')}], which takes ${expect} bytes; got ${bytes.length}`,
    );
}

function writeValue(w: ByteWriter, type: GgufValueType, v: GgufValue): void {
  switch (type) {
    case 'string':
      w.string(v as string);
      return;
    case 'array': {
      const a = v as { itemType: GgufValueType; items: GgufValue[] };
      w.u32(GGUF_VALUE_TYPES[a.itemType]);
      w.u64(BigInt(a.items.length));
      for (const item of a.items) writeValue(w, a.itemType, item);
      return;
    }
    case 'bool':
      w.bytes(new Uint8Array([v ? 1 : 0]));
      return;
    default: {
      const size = { u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4, u64: 8, i64: 8, f64: 8 }[type];
      const dv = new DataView(new ArrayBuffer(size));
      if (type === 'u8') dv.setUint8(0, Number(v));
      else if (type === 'i8') dv.setInt8(0, Number(v));
      else if (type === 'u16') dv.setUint16(0, Number(v), true);
      else if (type === 'i16') dv.setInt16(0, Number(v), true);
      else if (type === 'u32') dv.setUint32(0, Number(v), true);
      else if (type === 'i32') dv.setInt32(0, Number(v), true);
      else if (type === 'f32') dv.setFloat32(0, Number(v), true);
      else if (type === 'u64') dv.setBigUint64(0, BigInt(v as number | bigint), true);
      else if (type === 'i64') dv.setBigInt64(0, BigInt(v as number | bigint), true);
      else dv.setFloat64(0, Number(v), true);
      w.bytes(new Uint8Array(dv.buffer));
      return;
    }
  }
}

class ByteWriter {
  private parts: Uint8Array[] = [];
  private length = 0;

  bytes(b: Uint8Array): void {
    this.parts.push(b);
    this.length += b.length;
  }
  u32(v: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    this.bytes(b);
  }
  u64(v: bigint): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, v, true);
    this.bytes(b);
  }
  string(s: string): void {
    const b = new TextEncoder().encode(s);
    this.u64(BigInt(b.length));
    this.bytes(b);
  }
  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}
