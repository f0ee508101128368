// Loading a model's parameters tensor by tensor from a checkpoint (or anything shaped like one), with
// errors that name the file, the key and what was expected. Each tensor is read, optionally reshaped
// or transformed on the host, uploaded in the compute dtype and kept; dispose() frees them all.
import type { Backend } from '../backend.js';
import { isQuantType, type QuantTypeName } from '../quant/ggml-types.js';
import { bytesToWords, QuantizedMatrix } from '../quant/quantized-matrix.js';
import type { Tensor } from '../tensor.js';
import { numel, shapeStr } from '../util/shape.js';

export type ComputeDType = 'f32' | 'f16';

/** What loading needs from a checkpoint: src/io/safetensors.ts Checkpoint has this shape. */
export interface WeightSource {
  readonly path: string;
  keys(): string[];
  has(key: string): boolean;
  info(key: string): { dtype: string; shape: number[] };
  readF32(key: string): Float32Array;
  readF16Bits(key: string): Uint16Array;
  /** Optional (GGUF files): the raw blocks of a tensor stored in a ggml block format. */
  readQuantized?(key: string): { type: QuantTypeName; shape: number[]; bytes: Uint8Array };
  /**
   * Optional: makes the tensor directly on the device (random weights for benchmarks), in place of a
   * host read and upload; `shape` is the device shape. Host transforms are skipped for such tensors.
   */
  deviceTensor?(be: Backend, key: string, shape: readonly number[], dtype: ComputeDType): Tensor;
}

export class WeightError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WeightError';
  }
}

/** Keys of an inputs/outputs file that a checkpoint may also hold (the fixtures keep both in one file). */
export const isIoKey = (k: string): boolean => k.startsWith('in.') || k === 'out' || k.startsWith('out.');

/** Device tensors owned by one model, freed together. */
export class ParamStore {
  private readonly tensors: Tensor[] = [];
  bytes = 0;

  add(t: Tensor): Tensor {
    this.tensors.push(t);
    this.bytes += t.size * (t.dtype === 'f16' ? 2 : 4);
    return t;
  }

  /** Keeps a quantized matrix (its block storage) with the model's tensors. */
  addQuantized(q: QuantizedMatrix): QuantizedMatrix {
    this.add(q.data);
    return q;
  }

  dispose(): void {
    for (const t of this.tensors) t.dispose();
    this.tensors.length = 0;
    this.bytes = 0;
  }
}

/** Reads one model's keys (under an optional prefix) from a source, checking shapes. */
export class WeightReader {
  constructor(
    readonly be: Backend,
    readonly src: WeightSource,
    readonly dtype: ComputeDType,
    readonly store: ParamStore,
    /** Prepended to every key, e.g. "text_model." */
    readonly prefix: string,
    /** What the checkpoint should be, for error messages ("a T5 encoder"). */
    readonly what: string,
    /** matrix() keeps block-quantized matrices quantized (default) instead of expanding them. */
    readonly keepQuantized = true,
  ) {}

  has(key: string): boolean {
    return this.src.has(this.prefix + key);
  }

  shape(key: string): number[] {
    const full = this.prefix + key;
    if (!this.src.has(full))
      throw new WeightError(
        `${this.src.path}: tensor "${full}" is missing (${this.what} checkpoint needs it)`,
      );
    return this.src.info(full).shape;
  }

  check(key: string, shape: readonly number[]): void {
    const s = this.shape(key);
    if (s.length !== shape.length || s.some((d, i) => d !== shape[i]))
      throw new WeightError(
        `${this.src.path}: tensor "${this.prefix + key}" has shape ${shapeStr(s)}, expected ${shapeStr(shape)} for ${this.what}`,
      );
  }

  /** The values as f32 on the host, after checking the stored shape (`stored`, default `shape`). */
  f32(key: string, stored: readonly number[]): Float32Array {
    this.check(key, stored);
    return this.src.readF32(this.prefix + key);
  }

  /**
   * A device tensor of the given shape. The stored tensor must have `stored` (default: the same) element
   * layout; `transform` rewrites host values first (permutations, scaling, ...).
   */
  load(
    key: string,
    shape: readonly number[],
    opts: {
      stored?: readonly number[];
      dtype?: ComputeDType;
      transform?: (v: Float32Array) => Float32Array;
    } = {},
  ): Tensor {
    const dtype = opts.dtype ?? this.dtype;
    const stored = opts.stored ?? shape;
    this.check(key, stored);
    let t: Tensor;
    if (this.src.deviceTensor) {
      t = this.src.deviceTensor(this.be, this.prefix + key, shape, dtype);
    } else if (dtype === 'f16' && !opts.transform) {
      t = this.be.fromF16Bits(this.src.readF16Bits(this.prefix + key), shape);
    } else {
      let v = this.src.readF32(this.prefix + key);
      if (opts.transform) v = opts.transform(v);
      t = this.be.tensor(v, shape, dtype);
    }
    return this.store.add(this.be.keep(t));
  }

  /**
   * A weight matrix [N, K]: kept in its ggml block format when the source stores it block-quantized
   * (GGUF) and `keepQuantized` is on (the matmul kernels decode it as they go), else as load() makes it.
   */
  matrix(
    key: string,
    shape: readonly [number, number],
    opts: { dtype?: ComputeDType } = {},
  ): Tensor | QuantizedMatrix {
    return this.matrixRows([key], [shape], opts);
  }

  /** concatRows() for weight matrices: all parts quantized in one type stay quantized, concatenated. */
  matrixRows(
    keys: string[],
    shapes: (readonly [number, number])[],
    opts: { dtype?: ComputeDType } = {},
  ): Tensor | QuantizedMatrix {
    const full = keys.map((k) => this.prefix + k);
    const types = new Set(full.map((k) => (this.src.has(k) ? this.src.info(k).dtype : '')));
    const type = [...types][0]!;
    if (this.keepQuantized && this.src.readQuantized && types.size === 1 && isQuantType(type)) {
      keys.forEach((k, i) => {
        this.check(k, shapes[i]!);
      });
      const parts = full.map((k) => this.src.readQuantized!(k).bytes);
      const bytes = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
      let o = 0;
      for (const p of parts) {
        bytes.set(p, o);
        o += p.length;
      }
      const words = bytesToWords(bytes);
      const rows = shapes.reduce((a, s) => a + s[0], 0);
      const data = this.be.keep(this.be.tensor(words, [words.length], 'u32'));
      return this.store.addQuantized(new QuantizedMatrix(type, [rows, shapes[0]![1]], data));
    }
    if (keys.length === 1) return this.load(keys[0]!, shapes[0]!, opts);
    return this.concatRows(
      keys,
      shapes.map((s) => [...s]),
      opts.dtype,
    );
  }

  /** Uploads host values computed from several tensors (e.g. a fused q|k|v matrix). */
  upload(values: Float32Array, shape: readonly number[], dtype: ComputeDType = this.dtype): Tensor {
    return this.store.add(this.be.keep(this.be.tensor(values, shape, dtype)));
  }

  /** The row-wise concatenation of several [n_i, ...] tensors, as one device tensor. */
  concatRows(keys: string[], shapes: number[][], dtype: ComputeDType = this.dtype): Tensor {
    keys.forEach((k, i) => {
      this.check(k, shapes[i]!);
    });
    const rows = shapes.reduce((a, s) => a + s[0]!, 0);
    const shape = [rows, ...shapes[0]!.slice(1)];
    if (this.src.deviceTensor)
      return this.store.add(
        this.be.keep(
          this.src.deviceTensor(this.be, keys.map((k) => this.prefix + k).join('|'), shape, dtype),
        ),
      );
    // f16 bit patterns pass through untouched (no f32 round trip for a 9 GB T5)
    const parts =
      dtype === 'f16'
        ? keys.map((k) => this.src.readF16Bits(this.prefix + k))
        : keys.map((k) => this.src.readF32(this.prefix + k));
    const out = dtype === 'f16' ? new Uint16Array(numel(shape)) : new Float32Array(numel(shape));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    const t =
      out instanceof Uint16Array ? this.be.fromF16Bits(out, shape) : this.be.tensor(out, shape, dtype);
    return this.store.add(this.be.keep(t));
  }

  /** Indices n for which `${stem}${n}${suffix}` exists, checked to be 0..count-1. */
  countIndexed(stem: string, suffix: string): number {
    const re = new RegExp(`^${escapeRegExp(this.prefix + stem)}(\\d+)${escapeRegExp(suffix)}$`);
    const found = new Set<number>();
    for (const k of this.src.keys()) {
      const m = re.exec(k);
      if (m) found.add(Number(m[1]));
    }
    for (let i = 0; i < found.size; i++)
      if (!found.has(i))
        throw new WeightError(
          `${this.src.path}: "${this.prefix}${stem}${i}${suffix}" is missing (found indices ${[...found].sort((a, b) => a - b).join(', ')})`,
        );
    return found.size;
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
