// A deliberately small GGUF v3 parser for the quantization tests only: enough to find each tensor's
// type, shape and bytes in the gguf-dequant fixtures, so these tests do not depend on the engine's own
// GGUF reader (src/io/gguf-format.ts, written separately). Layout facts: ../shared/docs/gguf.md.
import { readFileSync } from 'node:fs';

export interface FixtureTensor {
  name: string;
  /** GGUF order: ne[0] (the quantized, fastest-varying dimension) first. */
  ne: number[];
  /** ggml type id. */
  type: number;
  /** The tensor's bytes, up to the next tensor (or the end of the file). */
  bytes: Uint8Array;
}

export interface FixtureGguf {
  version: number;
  metadata: Map<string, unknown>;
  tensors: Map<string, FixtureTensor>;
}

/** Bytes of one scalar of each metadata value type (0 u8 … 12 f64; 8 string and 9 array vary). */
const SCALAR_BYTES: Record<number, number> = {
  0: 1,
  1: 1,
  2: 2,
  3: 2,
  4: 4,
  5: 4,
  6: 4,
  7: 1,
  10: 8,
  11: 8,
  12: 8,
};

export function readFixtureGguf(path: string): FixtureGguf {
  const buf = readFileSync(path);
  const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 0;
  const need = (n: number) => {
    if (p + n > bytes.length) throw new Error(`${path}: truncated at byte ${p}`);
  };
  const u32 = () => {
    need(4);
    const v = dv.getUint32(p, true);
    p += 4;
    return v;
  };
  const u64 = () => {
    need(8);
    const v = dv.getBigUint64(p, true);
    p += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`${path}: u64 ${v} too large`);
    return Number(v);
  };
  const str = () => {
    const n = u64();
    need(n);
    const s = new TextDecoder().decode(bytes.subarray(p, p + n));
    p += n;
    return s;
  };
  const scalar = (t: number): unknown => {
    const n = SCALAR_BYTES[t];
    if (n === undefined) throw new Error(`${path}: metadata value type ${t} unknown`);
    need(n);
    let v: unknown;
    switch (t) {
      case 0:
        v = dv.getUint8(p);
        break;
      case 1:
        v = dv.getInt8(p);
        break;
      case 2:
        v = dv.getUint16(p, true);
        break;
      case 3:
        v = dv.getInt16(p, true);
        break;
      case 4:
        v = dv.getUint32(p, true);
        break;
      case 5:
        v = dv.getInt32(p, true);
        break;
      case 6:
        v = dv.getFloat32(p, true);
        break;
      case 7:
        v = dv.getUint8(p) !== 0;
        break;
      case 10:
        v = dv.getBigUint64(p, true);
        break;
      case 11:
        v = dv.getBigInt64(p, true);
        break;
      default:
        v = dv.getFloat64(p, true);
    }
    p += n;
    return v;
  };
  const value = (t: number): unknown => {
    if (t === 8) return str();
    if (t === 9) {
      const et = u32();
      const n = u64();
      const out: unknown[] = [];
      for (let i = 0; i < n; i++) out.push(value(et));
      return out;
    }
    return scalar(t);
  };

  need(4);
  const magic = new TextDecoder().decode(bytes.subarray(0, 4));
  if (magic !== 'GGUF') throw new Error(`${path}: not a GGUF file (magic ${JSON.stringify(magic)})`);
  p = 4;
  const version = u32();
  const nTensors = u64();
  const nKv = u64();
  const metadata = new Map<string, unknown>();
  for (let i = 0; i < nKv; i++) {
    const key = str();
    metadata.set(key, value(u32()));
  }
  const infos: { name: string; ne: number[]; type: number; offset: number }[] = [];
  for (let i = 0; i < nTensors; i++) {
    const name = str();
    const nDims = u32();
    const ne: number[] = [];
    for (let d = 0; d < nDims; d++) ne.push(u64());
    const type = u32();
    infos.push({ name, ne, type, offset: u64() });
  }
  const alignment = Number(metadata.get('general.alignment') ?? 32);
  const dataStart = Math.ceil(p / alignment) * alignment;
  const sorted = [...infos].sort((a, b) => a.offset - b.offset);
  const tensors = new Map<string, FixtureTensor>();
  for (let i = 0; i < sorted.length; i++) {
    const t = sorted[i]!;
    const start = dataStart + t.offset;
    const end = i + 1 < sorted.length ? dataStart + sorted[i + 1]!.offset : bytes.length;
    if (start > bytes.length || end > bytes.length) throw new Error(`${path}: ${t.name} lies past the end`);
    tensors.set(t.name, { name: t.name, ne: t.ne, type: t.type, bytes: bytes.subarray(start, end) });
  }
  return { version, metadata, tensors };
}
