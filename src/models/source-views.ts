// A checkpoint seen under other key names: each exposed key reads a stored tensor, optionally one block
// of rows of it or its transpose. Single-file releases keep several models in one file under prefixes
// (SDXL: first_stage_model., conditioner.embedders.N....) and some in another naming (OpenCLIP); a view
// gives a loader the names and shapes it expects without copying the file.
import { shapeStr } from '../util/shape.js';
import { WeightError, type WeightSource } from './weights.js';

/** Where an exposed tensor lives in the underlying source. */
export interface StoredPart {
  key: string;
  /** Rows [start, start + count) of the stored tensor's first axis (fused q/k/v projections). */
  rows?: [number, number];
  /** The stored 2-D tensor transposed (a projection kept as x · W instead of W · x). */
  transpose?: boolean;
}

export class MappedSource implements WeightSource {
  constructor(
    readonly src: WeightSource,
    private readonly parts: Map<string, StoredPart>,
    /** Names the file and the view in error messages. */
    readonly path: string,
  ) {}

  keys(): string[] {
    return [...this.parts.keys()];
  }

  has(key: string): boolean {
    return this.parts.has(key);
  }

  /** The stored key an exposed key reads (for messages). */
  storedKey(key: string): string {
    return this.part(key).key;
  }

  info(key: string): { dtype: string; shape: number[] } {
    const p = this.part(key);
    const { dtype, shape } = this.src.info(p.key);
    if (p.rows) {
      const [start, count] = p.rows;
      if (shape.length < 1 || start + count > shape[0]!)
        throw new WeightError(
          `${this.src.path}: tensor "${p.key}" has shape ${shapeStr(shape)}, too few rows for rows ${start}..${start + count} (read as "${key}")`,
        );
      return { dtype, shape: [count, ...shape.slice(1)] };
    }
    if (p.transpose) {
      if (shape.length !== 2)
        throw new WeightError(
          `${this.src.path}: tensor "${p.key}" has shape ${shapeStr(shape)}, expected a matrix (read transposed as "${key}")`,
        );
      return { dtype, shape: [shape[1]!, shape[0]!] };
    }
    return { dtype, shape };
  }

  readF32(key: string): Float32Array {
    return this.view(key, this.src.readF32(this.part(key).key));
  }

  readF16Bits(key: string): Uint16Array {
    return this.view(key, this.src.readF16Bits(this.part(key).key));
  }

  private part(key: string): StoredPart {
    const p = this.parts.get(key);
    if (!p) throw new WeightError(`${this.path}: no tensor named "${key}"`);
    return p;
  }

  private view<T extends Float32Array | Uint16Array>(key: string, data: T): T {
    const p = this.part(key);
    const stored = this.src.info(p.key).shape;
    this.info(key); // checks that the part fits the stored tensor
    if (p.rows) {
      const row = stored.slice(1).reduce((a, b) => a * b, 1);
      return data.slice(p.rows[0] * row, (p.rows[0] + p.rows[1]) * row) as T;
    }
    if (p.transpose) {
      const [R, C] = stored as [number, number];
      const out = new (data.constructor as { new (n: number): T })(R * C);
      for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) out[c * R + r] = data[r * C + c]!;
      return out;
    }
    return data;
  }
}

/** The tensors under `prefix`, named without it. Throws when there are none. */
export function prefixedSource(src: WeightSource, prefix: string, what: string): MappedSource {
  const parts = new Map<string, StoredPart>();
  for (const k of src.keys()) if (k.startsWith(prefix)) parts.set(k.slice(prefix.length), { key: k });
  if (parts.size === 0)
    throw new WeightError(`${src.path}: no tensor starts with "${prefix}" (where ${what} is kept)`);
  return new MappedSource(src, parts, `${src.path} [${prefix}*]`);
}
