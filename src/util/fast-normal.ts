// Fast seeded normal values for random weights (random-weight model folders, random components): a
// table of 65536 standard-normal samples (normalized to mean 0, std 1) indexed by a xorshift32 stream,
// two 16-bit indices per draw. Roughly 1 ns a value, so tens of billions of f16 weights can be written
// in minutes. The distribution is a 65536-point approximation of N(0, std²) (tails end near 4.5 σ):
// right for weights, not for statistics.
import { f32ToF16Bits } from './f16.js';
import { Rng } from './random.js';

const TABLE_SIZE = 65536;

let unitTable: Float64Array | null = null;

/** 65536 N(0, 1) samples from a fixed seed, shifted and scaled to mean 0 and std 1 exactly. */
function unit(): Float64Array {
  if (unitTable) return unitTable;
  const rng = new Rng(0x5eed);
  const t = new Float64Array(TABLE_SIZE);
  let mean = 0;
  for (let i = 0; i < TABLE_SIZE; i++) {
    t[i] = rng.normal();
    mean += t[i]!;
  }
  mean /= TABLE_SIZE;
  let sq = 0;
  for (let i = 0; i < TABLE_SIZE; i++) {
    t[i]! -= mean;
    sq += t[i]! * t[i]!;
  }
  const inv = 1 / Math.sqrt(sq / TABLE_SIZE);
  for (let i = 0; i < TABLE_SIZE; i++) t[i]! *= inv;
  unitTable = t;
  return t;
}

const f16Tables = new Map<number, Uint16Array>();
const f32Tables = new Map<number, Float32Array>();

function f16Table(std: number): Uint16Array {
  let t = f16Tables.get(std);
  if (!t) {
    const u = unit();
    t = new Uint16Array(TABLE_SIZE);
    for (let i = 0; i < TABLE_SIZE; i++) t[i] = f32ToF16Bits(u[i]! * std);
    f16Tables.set(std, t);
  }
  return t;
}

function f32Table(std: number): Float32Array {
  let t = f32Tables.get(std);
  if (!t) {
    const u = unit();
    t = new Float32Array(TABLE_SIZE);
    for (let i = 0; i < TABLE_SIZE; i++) t[i] = u[i]! * std;
    f32Tables.set(std, t);
  }
  return t;
}

/** A stream of N(0, std²) values; successive fills continue the stream (chunking does not change the values). */
export class FastNormal {
  private state: number;
  /** The unused upper half of the last draw after an odd-length fill (-1: none). */
  private spare = -1;

  constructor(
    seed: number,
    readonly std: number,
  ) {
    if (!(std >= 0) || !Number.isFinite(std)) throw new RangeError(`std must be finite and >= 0, got ${std}`);
    // splitmix32 of the seed; xorshift32 must not start at 0
    let z = (seed + 0x9e3779b9) >>> 0;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    this.state = (z ^ (z >>> 16)) >>> 0 || 0x6d2b79f5;
  }

  /** Fills `out` with f16 bit patterns. */
  fillF16(out: Uint16Array): Uint16Array {
    this.fill(out, f16Table(this.std));
    return out;
  }

  /** Fills `out` with f32 values. */
  fillF32(out: Float32Array): Float32Array {
    this.fill(out, f32Table(this.std));
    return out;
  }

  private fill(out: Uint16Array | Float32Array, table: Uint16Array | Float32Array): void {
    let x = this.state;
    const n = out.length;
    let i = 0;
    if (this.spare >= 0 && n > 0) {
      out[i++] = table[this.spare]!;
      this.spare = -1;
    }
    for (; i + 1 < n; i += 2) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      out[i] = table[x & 0xffff]!;
      out[i + 1] = table[(x >>> 16) & 0xffff]!;
    }
    if (i < n) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      out[i] = table[x & 0xffff]!;
      this.spare = (x >>> 16) & 0xffff;
    }
    this.state = x >>> 0;
  }
}

/** A 32-bit seed for one named tensor (FNV-1a of the name, mixed with a base seed). */
export function seedFor(name: string, base = 0): number {
  let h = 0x811c9dc5 ^ Math.imul(base >>> 0, 0x9e3779b1);
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
