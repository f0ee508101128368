// The operations every backend provides. Public methods validate their arguments (throwing errors that
// name the problem) and compute output shapes once, here; backends implement the *Impl methods.
// The CPU backend (src/cpu) is the reference for every WebGPU kernel (src/kernels).

import { QuantizedMatrix } from './quant/quantized-matrix.js';
import { RowSplitMatrix } from './row-split.js';
import { DTYPE_BYTES, type DType, Tensor } from './tensor.js';
import { type AbortFlag, abortError } from './util/abort.js';
import { checkShape, numel, type Shape, sameShape, shapeStr } from './util/shape.js';

/** gelu: exact (erf) GELU, PyTorch's default; gelu_tanh: its tanh approximation. */
export type Activation = 'none' | 'gelu' | 'gelu_tanh' | 'silu';
export const ACTIVATION_NAMES: readonly Activation[] = ['none', 'gelu', 'gelu_tanh', 'silu'];

export interface MatmulOptions {
  /** [N], added to every row. */
  bias?: Tensor;
  /** Applied after the bias. */
  activation?: Activation;
  /**
   * [G, W]: output row r, column n is multiplied by gate[floor(r / (M / G)), gateColumn + n] after the
   * activation (adaLN-Zero gates, G = batch). W = N unless the gate is a chunk of a wider table.
   */
  gate?: Tensor;
  /** First column of the gate in its rows (a chunk of the adaLN modulation table). Default 0. */
  gateColumn?: number;
  /** Same shape as the output, added last. */
  residual?: Tensor;
}

/**
 * Per-query-block key ranges for sparse attention. Query rows [i*blockSize, (i+1)*blockSize) attend only
 * to keys in the listed half-open ranges (empty ranges have start >= end). The ranges of one block must
 * not overlap (a key in two ranges would count twice in the GPU kernels; the CPU reference rejects it).
 * Shared by all batch elements and heads. ranges: u32 [ceil(Lq / blockSize), maxRanges, 2].
 */
export interface KeyRanges {
  blockSize: number;
  ranges: Tensor;
  /**
   * Optional: the same pattern over coarser query blocks (outer.blockSize a multiple of blockSize),
   * each entry a superset of (usually: the union of) its inner blocks' ranges. A kernel with a fixed
   * query tile larger than blockSize may stream the outer ranges and mask every row by its own block's
   * `ranges`; the result is defined by `ranges` alone (the CPU reference ignores `outer`).
   */
  outer?: { blockSize: number; ranges: Tensor };
}

/** Where shift and scale start in their rows, when they are chunks of a wider table. */
export interface ModulationColumns {
  shift?: number;
  scale?: number;
}

export interface AttentionOptions {
  /** Softmax scale; default 1/sqrt(headDim). */
  scale?: number;
  keyRanges?: KeyRanges;
}

export interface HeadsOptions {
  heads: number;
  headDim: number;
  /** First column of the slot in the source rows (0 for q, H·D for k, 2·H·D for v of a fused qkv). */
  column: number;
  /** RMSNorm over each head vector with this weight [headDim]. */
  norm?: Tensor;
  eps?: number;
  /** RoPE table f32 [B, L, headDim/2, 2] for the source rows, applied after the norm. */
  rope?: Tensor;
  /** Write into rows [seqOffset, seqOffset + L) of this [B, heads, Lout, headDim] tensor instead of a new one. */
  into?: Tensor;
  seqOffset?: number;
}

/** heads() options once checked: the output and its row offset resolved. */
export type HeadsLaunchOptions = HeadsOptions & { eps: number; out: Tensor; seqOffset: number };

export interface QkvHeadsOptions {
  heads: number;
  headDim: number;
  /** RMSNorm weights [headDim] of the queries and keys (Flux's QKNorm). */
  qNorm?: Tensor;
  kNorm?: Tensor;
  eps?: number;
  /** RoPE table f32 [B, L, headDim/2, 2], applied to q and k after the norm. */
  rope?: Tensor;
  /** Write k and v into rows [seqOffset, seqOffset + L) of these [B, heads, Lout, headDim] tensors. */
  kInto?: Tensor;
  vInto?: Tensor;
  seqOffset?: number;
}

export interface RandomOptions {
  seed: number;
  mean?: number;
  std?: number;
}

/** Data a backend staged for repeated writes (Backend.stage). */
export interface StagedData {
  /** The host array, where the backend keeps it (the CPU); undefined once it lives device-side. */
  readonly data?: Float32Array | Uint16Array | Uint32Array;
  readonly bytes: number;
  /** The backend's own handle (a mapped staging buffer on WebGPU). */
  readonly handle?: unknown;
  dispose(): void;
}

export interface BackendInfo {
  name: 'cpu' | 'webgpu';
  /** One line describing where it runs. */
  description: string;
  /** Dtypes this backend can store and compute. */
  dtypes: DType[];
}

type Scope = Set<Tensor>;

export abstract class Backend {
  abstract readonly name: 'cpu' | 'webgpu';
  abstract info(): BackendInfo;

  private scopes: Scope[] = [];
  /** When set and aborted, the next operation throws an AbortError (checked once per result made). */
  signal: AbortFlag | undefined;

  // ---- storage ------------------------------------------------------------------------------------
  protected abstract allocImpl(shape: Shape, dtype: DType): Tensor;
  protected abstract writeImpl(t: Tensor, data: Float32Array | Uint32Array | Uint16Array): void;
  protected abstract readImpl(t: Tensor): Promise<Float32Array | Uint32Array>;
  protected abstract reshapeImpl(t: Tensor, shape: Shape): Tensor;
  /** Called by Tensor.dispose(). */
  abstract release(t: Tensor): void;
  /** Submits recorded work (no-op on the CPU). */
  abstract flush(): void;
  /** Waits until all submitted work has finished. */
  abstract sync(): Promise<void>;
  /** Frees cached memory. The backend stays usable. */
  abstract trim(): void;
  /** Bytes currently held by live tensors and by the pool. */
  abstract memory(): { liveBytes: number; pooledBytes: number; peakBytes: number };
  /** Restarts the peak count from what is held now (to measure the peak of one stage). */
  abstract resetPeakMemory(): void;
  abstract destroy(): void;

  protected track(t: Tensor): Tensor {
    if (this.signal?.aborted) {
      t.dispose();
      throw abortError();
    }
    this.scopes.at(-1)?.add(t);
    return t;
  }

  supports(dtype: DType): boolean {
    return this.info().dtypes.includes(dtype);
  }

  protected checkDtypeSupported(dtype: DType): void {
    if (!(dtype in DTYPE_BYTES)) throw new TypeError(`unknown dtype "${dtype}" (expected f32, f16 or u32)`);
    if (!this.supports(dtype)) {
      throw new TypeError(
        `the ${this.name} backend (${this.info().description}) does not support dtype ${dtype}` +
          (dtype === 'f16' ? ': the adapter lacks the shader-f16 feature; compute in f32 instead' : ''),
      );
    }
  }

  /** Runs fn and disposes every tensor created inside it, except those it returns (a tensor, array or object of tensors). */
  tidy<T>(fn: () => T): T {
    const scope: Scope = new Set();
    this.scopes.push(scope);
    let result: T;
    try {
      result = fn();
    } finally {
      this.scopes.pop();
    }
    const keep = new Set<Tensor>();
    collectTensors(result, keep);
    for (const t of scope) {
      if (keep.has(t)) this.scopes.at(-1)?.add(t);
      else t.dispose();
    }
    return result;
  }

  /** Keeps a tensor alive past the enclosing tidy(). */
  keep(t: Tensor): Tensor {
    for (const s of this.scopes) s.delete(t);
    return t;
  }

  // ---- creation and transfer ----------------------------------------------------------------------
  empty(shape: Shape, dtype: DType = 'f32'): Tensor {
    checkShape(shape);
    this.checkDtypeSupported(dtype);
    return this.track(this.allocImpl(shape, dtype));
  }

  /** Uploads values. For f16 the numbers are rounded to f16; for u32 they must be non-negative integers. */
  tensor(data: ArrayLike<number>, shape: Shape, dtype: DType = 'f32'): Tensor {
    checkShape(shape);
    this.checkDtypeSupported(dtype);
    if (data.length !== numel(shape)) {
      throw new RangeError(
        `tensor(): ${data.length} values do not fill shape ${shapeStr(shape)} (${numel(shape)} elements)`,
      );
    }
    const t = this.allocImpl(shape, dtype);
    this.writeImpl(
      t,
      dtype === 'u32'
        ? Uint32Array.from(data)
        : data instanceof Float32Array
          ? data
          : Float32Array.from(data),
    );
    return this.track(t);
  }

  /** Uploads raw f16 bit patterns (as read from a checkpoint) into an f16 tensor. */
  fromF16Bits(bits: Uint16Array, shape: Shape): Tensor {
    checkShape(shape);
    this.checkDtypeSupported('f16');
    if (bits.length !== numel(shape))
      throw new RangeError(`fromF16Bits(): ${bits.length} values for shape ${shapeStr(shape)}`);
    const t = this.allocImpl(shape, 'f16');
    this.writeImpl(t, bits);
    return this.track(t);
  }

  /**
   * Overwrites a tensor's values in place: a Float32Array for f32 (or f16, rounded), a Uint16Array of
   * f16 bit patterns for f16, a Uint32Array for u32; exactly t.size values. On WebGPU the write is
   * ordered after every launch recorded so far (recorded work is submitted first), so work recorded
   * before it reads the old values and work recorded after it the new ones. A tensor with reshaped
   * views shares their storage: all of them see the new values.
   */
  write(t: Tensor, data: Float32Array | Uint16Array | Uint32Array): void {
    this.own(t, 'write', 'tensor');
    const ok =
      t.dtype === 'u32'
        ? data instanceof Uint32Array
        : t.dtype === 'f16'
          ? data instanceof Uint16Array || data instanceof Float32Array
          : data instanceof Float32Array;
    if (!ok) {
      const want =
        t.dtype === 'u32'
          ? 'a Uint32Array'
          : t.dtype === 'f16'
            ? 'a Uint16Array (f16 bits) or a Float32Array'
            : 'a Float32Array';
      throw new TypeError(`write(): ${t} takes ${want}, got ${data.constructor.name}`);
    }
    if (data.length !== t.size)
      throw new RangeError(`write(): ${data.length} values for ${t} (${t.size} elements)`);
    this.writeImpl(t, data);
  }

  /**
   * Host data kept where the device can copy it from without the host (streamed weights): WebGPU puts
   * it in a mapped staging buffer once, so each later writeStaged() is a copy recorded in order with
   * the launches (no host memcpy, no flush). `dtype` is the tensor dtype it will be written into.
   * Elsewhere it simply keeps the array. dispose() frees it.
   */
  stage(data: Float32Array | Uint16Array | Uint32Array, dtype: DType): StagedData {
    this.checkDtypeSupported(dtype);
    return { data, bytes: data.byteLength, dispose() {} };
  }

  /** Writes staged data into a tensor of the staged dtype and size, ordered after all work so far. */
  writeStaged(t: Tensor, s: StagedData): void {
    if (!s.data) throw new Error(`writeStaged(): data staged on another backend`);
    this.write(t, s.data);
  }

  zeros(shape: Shape, dtype: DType = 'f32'): Tensor {
    checkShape(shape);
    return this.tensor(new Float32Array(numel(shape)), shape, dtype);
  }

  /** Normal random values from a counter-based generator: the same seed gives the same numbers on every backend. */
  random(shape: Shape, dtype: DType, opts: RandomOptions): Tensor {
    checkShape(shape);
    this.checkDtypeSupported(dtype);
    if (dtype === 'u32') throw new TypeError('random(): dtype must be f32 or f16');
    return this.track(this.randomImpl(shape, dtype, opts.seed >>> 0, opts.mean ?? 0, opts.std ?? 1));
  }
  protected abstract randomImpl(shape: Shape, dtype: DType, seed: number, mean: number, std: number): Tensor;

  async read(t: Tensor): Promise<Float32Array> {
    this.own(t, 'read');
    const data = await this.readImpl(t);
    return data instanceof Float32Array ? data : Float32Array.from(data);
  }

  async readU32(t: Tensor): Promise<Uint32Array> {
    this.own(t, 'readU32');
    if (t.dtype !== 'u32') throw new TypeError(`readU32(): tensor is ${t.dtype}`);
    return (await this.readImpl(t)) as Uint32Array;
  }

  /** Same storage, new shape (no copy). The view keeps the storage alive until both are disposed. */
  reshape(t: Tensor, shape: Shape): Tensor {
    this.own(t, 'reshape');
    checkShape(shape);
    if (numel(shape) !== t.size) throw new RangeError(`reshape(): cannot view ${t} as ${shapeStr(shape)}`);
    return this.track(this.reshapeImpl(t, shape));
  }

  // ---- validation helpers -------------------------------------------------------------------------
  protected own(t: unknown, op: string, what = 'input'): asserts t is Tensor {
    if (!(t instanceof Tensor)) throw new TypeError(`${op}(): ${what} is not a Tensor`);
    if (t.backend !== this) throw new TypeError(`${op}(): ${what} ${t} belongs to another backend`);
    if (t.disposed) throw new Error(`${op}(): ${what} ${t} was disposed`);
  }

  private float(t: Tensor, op: string, what: string, dtype?: DType): void {
    this.own(t, op, what);
    if (t.dtype === 'u32') throw new TypeError(`${op}(): ${what} must be f32 or f16, got u32`);
    if (dtype && t.dtype !== dtype)
      throw new TypeError(`${op}(): ${what} is ${t.dtype} but the computation is ${dtype}`);
  }

  private expectShape(t: Tensor, shape: Shape, op: string, what: string): void {
    if (!sameShape(t.shape, shape))
      throw new RangeError(`${op}(): ${what} has shape ${shapeStr(t.shape)}, expected ${shapeStr(shape)}`);
  }

  // ---- linear algebra -----------------------------------------------------------------------------
  /** y = act(x · wᵀ + bias) * gate + residual, with x [..., K] and w [N, K] (the nn.Linear layout). */
  matmul(x: Tensor, w: Tensor | QuantizedMatrix | RowSplitMatrix, opts: MatmulOptions = {}): Tensor {
    if (w instanceof RowSplitMatrix) return this.matmulRowSplit(x, w, opts);
    this.float(x, 'matmul', 'x');
    if (w instanceof QuantizedMatrix) {
      this.own(w.data, 'matmul', 'quantized weight');
      if (x.rank < 1) throw new RangeError(`matmul(): x must be [..., K]; got ${shapeStr(x.shape)}`);
    } else this.float(w, 'matmul', 'weight', x.dtype);
    if (x.rank < 1 || w.shape.length !== 2)
      throw new RangeError(
        `matmul(): x must be [..., K] and weight [N, K]; got ${shapeStr(x.shape)} and ${shapeStr(w.shape)}`,
      );
    const K = x.dim(-1);
    const [N, Kw] = w.shape as [number, number];
    if (K !== Kw) throw new RangeError(`matmul(): x has K=${K} but weight ${shapeStr(w.shape)} has K=${Kw}`);
    const outShape = [...x.shape.slice(0, -1), N];
    const M = numel(x.shape.slice(0, -1)); // not x.size / K: K may be 0
    if (opts.bias) {
      this.float(opts.bias, 'matmul', 'bias', x.dtype);
      this.expectShape(opts.bias, [N], 'matmul', 'bias');
    }
    const act = opts.activation ?? 'none';
    if (!ACTIVATION_NAMES.includes(act)) throw new TypeError(`matmul(): unknown activation "${act}"`);
    if (opts.gate) {
      this.float(opts.gate, 'matmul', 'gate', x.dtype);
      const g = opts.gate;
      const col = opts.gateColumn ?? 0;
      if (!Number.isInteger(col) || col < 0)
        throw new RangeError(`matmul(): gateColumn must be a non-negative integer, got ${col}`);
      if (g.rank !== 2 || g.dim(1) < col + N || g.dim(0) === 0 || M % g.dim(0) !== 0) {
        throw new RangeError(
          `matmul(): gate must be [G, W] with G dividing the ${M} rows and W >= gateColumn + ${N} = ${col + N}, got ${shapeStr(g.shape)}`,
        );
      }
    } else if (opts.gateColumn !== undefined) {
      throw new TypeError('matmul(): gateColumn without a gate');
    }
    if (opts.residual) {
      this.float(opts.residual, 'matmul', 'residual', x.dtype);
      this.expectShape(opts.residual, outShape, 'matmul', 'residual');
    }
    const o = { ...opts, activation: act };
    if (w instanceof QuantizedMatrix) return this.track(this.matmulQuantImpl(x, w, o, M, N, K, outShape));
    return this.track(this.matmulImpl(x, w, o, M, N, K, outShape));
  }
  /**
   * matmul() with a weight held as row pieces: each piece computes its output columns (bias, gate and
   * residual columns taken to match), concatenated along the last axis. Each output value is the same
   * dot product an unsplit matmul computes.
   */
  private matmulRowSplit(x: Tensor, w: RowSplitMatrix, opts: MatmulOptions): Tensor {
    this.float(x, 'matmul', 'x');
    const [N, Kw] = w.shape;
    if (x.rank < 1 || x.dim(-1) !== Kw)
      throw new RangeError(`matmul(): x ${shapeStr(x.shape)} does not match the weight ${w}`);
    const outShape = [...x.shape.slice(0, -1), N];
    if (opts.bias) this.expectShape(opts.bias, [N], 'matmul', 'bias');
    if (opts.residual) this.expectShape(opts.residual, outShape, 'matmul', 'residual');
    return this.tidy(() => {
      const cols: Tensor[] = [];
      let r0 = 0;
      for (const p of w.parts) {
        const n = p.shape[0]!;
        cols.push(
          this.matmul(x, p, {
            bias: opts.bias && this.slice(opts.bias, 0, r0, n),
            activation: opts.activation,
            gate: opts.gate,
            gateColumn: opts.gate ? (opts.gateColumn ?? 0) + r0 : opts.gateColumn,
            residual: opts.residual && this.slice(opts.residual, -1, r0, n),
          }),
        );
        r0 += n;
      }
      return cols.length === 1 ? cols[0]! : this.concat(cols, -1);
    });
  }

  /** matmul() with a weight kept in a ggml block format (dequantized on the fly, in x's dtype). */
  protected abstract matmulQuantImpl(
    x: Tensor,
    w: QuantizedMatrix,
    o: MatmulOptions,
    M: number,
    N: number,
    K: number,
    outShape: Shape,
  ): Tensor;
  protected abstract matmulImpl(
    x: Tensor,
    w: Tensor,
    o: MatmulOptions,
    M: number,
    N: number,
    K: number,
    outShape: Shape,
  ): Tensor;

  /**
   * softmax(q·kᵀ·scale)·v with q [B, H, Lq, D], k and v [B, H, Lk, D]; returns [B, Lq, H*D]
   * (heads interleaved per token, ready for the output projection).
   */
  attention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
    this.float(q, 'attention', 'q');
    this.float(k, 'attention', 'k', q.dtype);
    this.float(v, 'attention', 'v', q.dtype);
    if (q.rank !== 4 || k.rank !== 4 || v.rank !== 4)
      throw new RangeError(
        `attention(): q, k, v must be [B, H, L, D]; got ${shapeStr(q.shape)}, ${shapeStr(k.shape)}, ${shapeStr(v.shape)}`,
      );
    const [B, H, Lq, D] = q.shape as [number, number, number, number];
    const Lk = k.dim(2);
    this.expectShape(k, [B, H, Lk, D], 'attention', 'k');
    this.expectShape(v, [B, H, Lk, D], 'attention', 'v');
    if (Lk === 0) throw new RangeError('attention(): no keys');
    const scale = opts.scale ?? 1 / Math.sqrt(D);
    if (opts.keyRanges) {
      const { blockSize, ranges } = opts.keyRanges;
      this.own(ranges, 'attention', 'keyRanges.ranges');
      if (!Number.isInteger(blockSize) || blockSize <= 0)
        throw new RangeError(`attention(): keyRanges.blockSize must be a positive integer, got ${blockSize}`);
      const nb = Math.ceil(Lq / blockSize);
      if (ranges.dtype !== 'u32' || ranges.rank !== 3 || ranges.dim(0) !== nb || ranges.dim(2) !== 2) {
        throw new RangeError(
          `attention(): keyRanges.ranges must be u32 [${nb}, R, 2], got ${ranges.dtype}${shapeStr(ranges.shape)}`,
        );
      }
      const outer = opts.keyRanges.outer;
      if (outer) {
        this.own(outer.ranges, 'attention', 'keyRanges.outer.ranges');
        if (!Number.isInteger(outer.blockSize) || outer.blockSize <= 0 || outer.blockSize % blockSize !== 0)
          throw new RangeError(
            `attention(): keyRanges.outer.blockSize must be a positive multiple of blockSize ${blockSize}, got ${outer.blockSize}`,
          );
        const nbo = Math.ceil(Lq / outer.blockSize);
        const o = outer.ranges;
        if (o.dtype !== 'u32' || o.rank !== 3 || o.dim(0) !== nbo || o.dim(2) !== 2)
          throw new RangeError(
            `attention(): keyRanges.outer.ranges must be u32 [${nbo}, R, 2], got ${o.dtype}${shapeStr(o.shape)}`,
          );
      }
    }
    return this.track(this.attentionImpl(q, k, v, scale, opts.keyRanges));
  }
  protected abstract attentionImpl(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    scale: number,
    ranges: KeyRanges | undefined,
  ): Tensor;

  // ---- normalisation ------------------------------------------------------------------------------
  /** LayerNorm over the last dimension; weight and bias [C] optional (no affine when absent). */
  layerNorm(x: Tensor, opts: { weight?: Tensor; bias?: Tensor; eps?: number } = {}): Tensor {
    this.float(x, 'layerNorm', 'x');
    const C = x.dim(-1);
    for (const [what, t] of [
      ['weight', opts.weight],
      ['bias', opts.bias],
    ] as const) {
      if (t) {
        this.float(t, 'layerNorm', what, x.dtype);
        this.expectShape(t, [C], 'layerNorm', what);
      }
    }
    return this.track(this.layerNormImpl(x, opts.weight, opts.bias, opts.eps ?? 1e-6));
  }
  protected abstract layerNormImpl(
    x: Tensor,
    w: Tensor | undefined,
    b: Tensor | undefined,
    eps: number,
  ): Tensor;

  /** RMSNorm over the last dimension: x / sqrt(mean(x²) + eps) * weight. */
  rmsNorm(x: Tensor, weight: Tensor | undefined, eps = 1e-6): Tensor {
    this.float(x, 'rmsNorm', 'x');
    if (weight) {
      this.float(weight, 'rmsNorm', 'weight', x.dtype);
      this.expectShape(weight, [x.dim(-1)], 'rmsNorm', 'weight');
    }
    return this.track(this.rmsNormImpl(x, weight, eps));
  }
  protected abstract rmsNormImpl(x: Tensor, w: Tensor | undefined, eps: number): Tensor;

  /**
   * adaLN modulation x * (1 + scale) + shift, x [B, L, C], shift/scale [B, C]. With `normEps` set, a
   * LayerNorm without affine runs first (fused; that is what every Flux block does). shift and scale
   * may also be chunks of wider tables [B, W]: columns [columns.shift, +C) and [columns.scale, +C)
   * (the adaLN modulation output, without copying the chunks out).
   */
  modulate(
    x: Tensor,
    shift: Tensor,
    scale: Tensor,
    normEps?: number,
    columns: ModulationColumns = {},
  ): Tensor {
    this.float(x, 'modulate', 'x');
    if (x.rank !== 3) throw new RangeError(`modulate(): x must be [B, L, C], got ${shapeStr(x.shape)}`);
    const [B, , C] = x.shape as [number, number, number];
    const cols = { shift: columns.shift ?? 0, scale: columns.scale ?? 0 };
    for (const [what, t] of [
      ['shift', shift],
      ['scale', scale],
    ] as const) {
      this.float(t, 'modulate', what, x.dtype);
      const col = cols[what];
      if (!Number.isInteger(col) || col < 0)
        throw new RangeError(`modulate(): columns.${what} must be a non-negative integer, got ${col}`);
      if (columns[what] === undefined) this.expectShape(t, [B, C], 'modulate', what);
      else if (t.rank !== 2 || t.dim(0) !== B || t.dim(1) < col + C)
        throw new RangeError(
          `modulate(): ${what} must be [${B}, W] with W >= ${col} + ${C}, got ${shapeStr(t.shape)}`,
        );
    }
    if (columns.shift !== undefined && columns.scale !== undefined && shift.dim(1) !== scale.dim(1))
      throw new RangeError('modulate(): shift and scale tables must have the same width');
    return this.track(this.modulateImpl(x, shift, scale, normEps, cols));
  }
  protected abstract modulateImpl(
    x: Tensor,
    shift: Tensor,
    scale: Tensor,
    normEps: number | undefined,
    columns: { shift: number; scale: number },
  ): Tensor;

  // ---- positional ---------------------------------------------------------------------------------
  /**
   * Rotary embedding in the Flux layout: x [B, H, L, D]; table f32 [B, L, D/2, 2] holding (cos, sin) per
   * rotated pair; pair (x[2i], x[2i+1]) -> (cos·x0 − sin·x1, sin·x0 + cos·x1). Build tables with buildRopeTable().
   */
  rope(x: Tensor, table: Tensor): Tensor {
    this.float(x, 'rope', 'x');
    if (x.rank !== 4 || x.dim(3) % 2 !== 0)
      throw new RangeError(`rope(): x must be [B, H, L, D] with even D, got ${shapeStr(x.shape)}`);
    const [B, , L, D] = x.shape as [number, number, number, number];
    this.float(table, 'rope', 'table', 'f32');
    this.expectShape(table, [B, L, D / 2, 2], 'rope', 'table');
    return this.track(this.ropeImpl(x, table));
  }
  protected abstract ropeImpl(x: Tensor, table: Tensor): Tensor;

  /**
   * Attention heads from projection rows: src [B, L, W] -> [B, H, L, D] with out[b, h, l] =
   * rope(rmsnorm(src[b, l, column + h·D : column + (h+1)·D])). Norm and RoPE are optional. With `into`
   * the rows land at seqOffset.. of an existing [B, H, Lout, D] tensor (e.g. joint text|image keys),
   * which is returned.
   */
  heads(src: Tensor, o: HeadsOptions): Tensor {
    const { out, seqOffset } = this.checkHeads(src, o);
    this.headsImpl(src, { ...o, eps: o.eps ?? 1e-6, out, seqOffset });
    return out;
  }

  /**
   * The q, k and v heads of a fused qkv projection [B, L, ≥3·H·D] in one call: q from columns [0, H·D)
   * with qNorm and RoPE, k from [H·D, 2·H·D) with kNorm and RoPE (into kInto at seqOffset when given),
   * v from [2·H·D, 3·H·D) (into vInto). The same as three heads() calls; backends may fuse them.
   */
  qkvHeads(src: Tensor, o: QkvHeadsOptions): { q: Tensor; k: Tensor; v: Tensor } {
    const { heads, headDim, eps } = o;
    const HD = heads * headDim;
    const base = { heads, headDim, eps, rope: o.rope };
    const q: HeadsOptions = { ...base, column: 0, norm: o.qNorm };
    const k: HeadsOptions = {
      ...base,
      column: HD,
      norm: o.kNorm,
      into: o.kInto,
      seqOffset: o.kInto ? o.seqOffset : undefined,
    };
    const v: HeadsOptions = {
      heads,
      headDim,
      eps,
      column: 2 * HD,
      into: o.vInto,
      seqOffset: o.vInto ? o.seqOffset : undefined,
    };
    if (!o.kInto !== !o.vInto) throw new RangeError('qkvHeads(): give both kInto and vInto, or neither');
    if (!o.kInto && o.seqOffset) throw new RangeError('qkvHeads(): seqOffset needs kInto and vInto');
    const outs = [q, k, v].map((h) => this.checkHeads(src, h));
    const e = eps ?? 1e-6;
    this.qkvHeadsImpl(src, [
      { ...q, eps: e, ...outs[0]! },
      { ...k, eps: e, ...outs[1]! },
      { ...v, eps: e, ...outs[2]! },
    ]);
    return { q: outs[0]!.out, k: outs[1]!.out, v: outs[2]!.out };
  }

  /** Default: three heads launches (the CPU reference); the WebGPU backend fuses them. */
  protected qkvHeadsImpl(
    src: Tensor,
    slots: [HeadsLaunchOptions, HeadsLaunchOptions, HeadsLaunchOptions],
  ): void {
    for (const s of slots) this.headsImpl(src, s);
  }

  /** Validates a heads() call; returns the output (a new tracked tensor or `into`) and its row offset. */
  private checkHeads(src: Tensor, o: HeadsOptions): { out: Tensor; seqOffset: number } {
    this.float(src, 'heads', 'src');
    if (src.rank !== 3) throw new RangeError(`heads(): src must be [B, L, W], got ${shapeStr(src.shape)}`);
    const [B, L, W] = src.shape as [number, number, number];
    const { heads: H, headDim: D, column } = o;
    if (!Number.isInteger(H) || H < 1 || !Number.isInteger(D) || D < 2 || D % 2)
      throw new RangeError(`heads(): heads must be >= 1 and headDim even, got ${H} and ${D}`);
    if (!Number.isInteger(column) || column < 0 || column + H * D > W)
      throw new RangeError(`heads(): columns [${column}, ${column + H * D}) exceed the row width ${W}`);
    if (o.norm) {
      this.float(o.norm, 'heads', 'norm', src.dtype);
      this.expectShape(o.norm, [D], 'heads', 'norm');
    }
    if (o.rope) {
      this.float(o.rope, 'heads', 'rope', 'f32');
      this.expectShape(o.rope, [B, L, D / 2, 2], 'heads', 'rope');
    }
    const seqOffset = o.seqOffset ?? 0;
    let out: Tensor;
    if (o.into) {
      this.float(o.into, 'heads', 'into', src.dtype);
      const t = o.into;
      if (
        t.rank !== 4 ||
        t.dim(0) !== B ||
        t.dim(1) !== H ||
        t.dim(3) !== D ||
        !Number.isInteger(seqOffset) ||
        seqOffset < 0 ||
        seqOffset + L > t.dim(2)
      ) {
        throw new RangeError(
          `heads(): into ${t} cannot take ${L} rows at ${seqOffset} of [${B}, ${H}, *, ${D}]`,
        );
      }
      out = t;
    } else {
      if (seqOffset !== 0) throw new RangeError('heads(): seqOffset needs `into`');
      out = this.track(this.allocImpl([B, H, L, D], src.dtype));
    }
    return { out, seqOffset };
  }
  protected abstract headsImpl(src: Tensor, o: HeadsLaunchOptions): void;

  // ---- elementwise --------------------------------------------------------------------------------
  softmax(x: Tensor): Tensor {
    this.float(x, 'softmax', 'x');
    return this.track(this.softmaxImpl(x));
  }
  protected abstract softmaxImpl(x: Tensor): Tensor;

  add(a: Tensor, b: Tensor): Tensor {
    return this.binary('add', a, b);
  }
  mul(a: Tensor, b: Tensor): Tensor {
    return this.binary('mul', a, b);
  }
  private binary(op: 'add' | 'mul', a: Tensor, b: Tensor): Tensor {
    this.float(a, op, 'a');
    this.float(b, op, 'b', a.dtype);
    this.expectShape(b, a.shape, op, 'b');
    return this.track(this.binaryImpl(op, a, b));
  }
  protected abstract binaryImpl(op: 'add' | 'mul', a: Tensor, b: Tensor): Tensor;

  /** x * s. */
  scale(x: Tensor, s: number): Tensor {
    this.float(x, 'scale', 'x');
    if (!Number.isFinite(s)) throw new RangeError(`scale(): factor must be finite, got ${s}`);
    return this.track(this.unaryImpl(x, 'none', s));
  }

  activation(x: Tensor, act: Activation): Tensor {
    this.float(x, 'activation', 'x');
    if (!ACTIVATION_NAMES.includes(act)) throw new TypeError(`activation(): unknown activation "${act}"`);
    return this.track(this.unaryImpl(x, act, 1));
  }
  /** act(x * s). */
  protected abstract unaryImpl(x: Tensor, act: Activation, s: number): Tensor;

  /**
   * GEGLU of a projection's output: x [..., 2n] -> [..., n] = x[..., :n] · gelu(x[..., n:]) with the exact
   * (erf) GELU, PyTorch's default. Diffusers' GEGLU feed-forward (SD / SDXL UNets) computes
   * `hidden, gate = proj(x).chunk(2, -1); hidden * gelu(gate)`; this is its second half in one pass.
   */
  geglu(x: Tensor): Tensor {
    this.float(x, 'geglu', 'x');
    if (x.rank < 1 || x.dim(-1) % 2 !== 0)
      throw new RangeError(`geglu(): x must be [..., 2n] (an even last dimension), got ${shapeStr(x.shape)}`);
    return this.track(this.gegluImpl(x));
  }
  protected abstract gegluImpl(x: Tensor): Tensor;

  cast(x: Tensor, dtype: DType): Tensor {
    this.float(x, 'cast', 'x');
    this.checkDtypeSupported(dtype);
    if (dtype === 'u32') throw new TypeError('cast(): target must be f32 or f16');
    return this.track(this.castImpl(x, dtype));
  }
  protected abstract castImpl(x: Tensor, dtype: DType): Tensor;

  // ---- reductions ---------------------------------------------------------------------------------
  /**
   * Per leading index i of x and ref ([R, ...], same shape and dtype): f32 [R, 2] holding
   * (Σ|x − ref|, Σ|ref|) over the other dimensions. Step caches measure the relative change of a feature
   * between sampling steps with it (Σ|x − ref| / Σ|ref|, per batch row; rows are summed per image on
   * the host). Summed in f32 in two levels (chunks of a row, then the chunks), so a 4096 x 3072 row keeps
   * about 1e-6 relative accuracy.
   */
  absDiffSums(x: Tensor, ref: Tensor): Tensor {
    this.float(x, 'absDiffSums', 'x');
    this.float(ref, 'absDiffSums', 'ref', x.dtype);
    if (x.rank < 1) throw new RangeError('absDiffSums(): x must have at least one dimension (the rows)');
    this.expectShape(ref, x.shape, 'absDiffSums', 'ref');
    return this.track(this.absDiffSumsImpl(x, ref));
  }
  protected abstract absDiffSumsImpl(x: Tensor, ref: Tensor): Tensor;

  // ---- layout -------------------------------------------------------------------------------------
  /** Concatenates along `axis`; all other dimensions must match. */
  concat(ts: Tensor[], axis: number): Tensor {
    if (ts.length === 0) throw new RangeError('concat(): no tensors');
    const first = ts[0]!;
    const ax = normAxis(axis, first.rank, 'concat');
    for (const [i, t] of ts.entries()) {
      this.own(t, 'concat', `tensor ${i}`);
      if (t.dtype !== first.dtype)
        throw new TypeError(`concat(): tensor ${i} is ${t.dtype}, tensor 0 is ${first.dtype}`);
      if (t.rank !== first.rank || t.shape.some((d, j) => j !== ax && d !== first.shape[j])) {
        throw new RangeError(
          `concat(): tensor ${i} has shape ${shapeStr(t.shape)}, incompatible with ${shapeStr(first.shape)} along axis ${ax}`,
        );
      }
    }
    const shape = [...first.shape];
    shape[ax] = ts.reduce((s, t) => s + t.shape[ax]!, 0);
    const out = this.allocImpl(shape, first.dtype);
    let offset = 0;
    for (const t of ts) {
      this.copyAxisImpl(t, out, ax, 0, offset, t.shape[ax]!);
      offset += t.shape[ax]!;
    }
    return this.track(out);
  }

  /** The slice [start, start + length) along `axis`, as a new tensor. */
  slice(x: Tensor, axis: number, start: number, length: number): Tensor {
    this.own(x, 'slice', 'x');
    const ax = normAxis(axis, x.rank, 'slice');
    if (
      !Number.isInteger(start) ||
      !Number.isInteger(length) ||
      start < 0 ||
      length < 0 ||
      start + length > x.shape[ax]!
    ) {
      throw new RangeError(
        `slice(): [${start}, ${start + length}) is outside axis ${ax} of ${shapeStr(x.shape)}`,
      );
    }
    const shape = [...x.shape];
    shape[ax] = length;
    const out = this.allocImpl(shape, x.dtype);
    this.copyAxisImpl(x, out, ax, start, 0, length);
    return this.track(out);
  }

  /** Splits along `axis` into pieces of the given sizes (which must add up to the axis length). */
  split(x: Tensor, axis: number, sizes: number[]): Tensor[] {
    this.own(x, 'split', 'x');
    const ax = normAxis(axis, x.rank, 'split');
    const total = sizes.reduce((a, b) => a + b, 0);
    if (total !== x.shape[ax])
      throw new RangeError(
        `split(): sizes ${JSON.stringify(sizes)} add up to ${total}, axis ${ax} of ${shapeStr(x.shape)} is ${x.shape[ax]}`,
      );
    let start = 0;
    return sizes.map((n) => {
      const s = this.slice(x, ax, start, n);
      start += n;
      return s;
    });
  }
  /** Copies `count` slabs along `axis` from src (starting at srcStart) into dst (starting at dstStart). */
  protected abstract copyAxisImpl(
    src: Tensor,
    dst: Tensor,
    axis: number,
    srcStart: number,
    dstStart: number,
    count: number,
  ): void;

  /** Row gather: x [B, N, C], idx u32 [B, M] -> [B, M, C] with out[b, m] = x[b, idx[b, m]]. */
  gather(x: Tensor, idx: Tensor): Tensor {
    this.own(x, 'gather', 'x');
    this.own(idx, 'gather', 'idx');
    if (x.rank !== 3 || idx.rank !== 2 || idx.dtype !== 'u32' || idx.dim(0) !== x.dim(0)) {
      throw new RangeError(
        `gather(): expected x [B, N, C] and u32 idx [B, M]; got ${x.dtype}${shapeStr(x.shape)} and ${idx.dtype}${shapeStr(idx.shape)}`,
      );
    }
    return this.track(this.gatherImpl(x, idx));
  }
  protected abstract gatherImpl(x: Tensor, idx: Tensor): Tensor;

  /**
   * Row scatter: writes src [B, M, C] into rows idx u32 [B, M] of a [B, N, C] tensor. With `into`
   * the rows are written in place (other rows kept) and `into` is returned; otherwise a new zero
   * tensor with N rows is made. Indices >= N are ignored; duplicate indices leave one of the rows.
   */
  scatter(src: Tensor, idx: Tensor, target: { rows: number } | { into: Tensor }): Tensor {
    this.own(src, 'scatter', 'src');
    this.own(idx, 'scatter', 'idx');
    if (
      src.rank !== 3 ||
      idx.rank !== 2 ||
      idx.dtype !== 'u32' ||
      idx.dim(0) !== src.dim(0) ||
      idx.dim(1) !== src.dim(1)
    ) {
      throw new RangeError(
        `scatter(): expected src [B, M, C] and u32 idx [B, M]; got ${src.dtype}${shapeStr(src.shape)} and ${idx.dtype}${shapeStr(idx.shape)}`,
      );
    }
    let dst: Tensor;
    if ('into' in target) {
      this.own(target.into, 'scatter', 'into');
      const d = target.into;
      if (d.rank !== 3 || d.dim(0) !== src.dim(0) || d.dim(2) !== src.dim(2) || d.dtype !== src.dtype) {
        throw new RangeError(`scatter(): into ${d} does not match src ${src}`);
      }
      dst = d;
    } else {
      if (!Number.isInteger(target.rows) || target.rows < 0)
        throw new RangeError(`scatter(): rows must be a non-negative integer, got ${target.rows}`);
      dst = this.zeros([src.dim(0), target.rows, src.dim(2)], src.dtype);
    }
    this.scatterImpl(src, idx, dst);
    return dst;
  }
  protected abstract scatterImpl(src: Tensor, idx: Tensor, dst: Tensor): void;

  // ==== text encoders and the autoencoder (T5, CLIP, Flux AE) =====================================
  // Attention with an additive bias and masks, 2-D convolution, group normalisation and nearest
  // upsampling. Images are channels-last (NHWC): a convolution is then an implicit GEMM whose K axis
  // (tap, channel) reads contiguous memory, and the 1x1 convolutions and attention of the autoencoder
  // are plain matmuls over [B, H*W, C] rows.

  /**
   * softmax(q·kᵀ·scale + bias + masks)·v with q [B, H, Lq, D], k and v [B, H, Lk, D]; returns
   * [B, Lq, H*D] like attention(). bias: f32 [H, Lq, Lk] (shared by the batch) or [B, H, Lq, Lk].
   * causal: key j > query i is excluded. keyMask: u32 [B, Lk], 0 = padding: such a key's score becomes
   * the lowest f32 (what adding finfo(f32).min does in PyTorch), so a row whose keys are all padding
   * averages them uniformly, as Hugging Face models do.
   */
  maskedAttention(q: Tensor, k: Tensor, v: Tensor, opts: MaskedAttentionOptions = {}): Tensor {
    const op = 'maskedAttention';
    this.float(q, op, 'q');
    this.float(k, op, 'k', q.dtype);
    this.float(v, op, 'v', q.dtype);
    if (q.rank !== 4 || k.rank !== 4 || v.rank !== 4)
      throw new RangeError(
        `${op}(): q, k, v must be [B, H, L, D]; got ${shapeStr(q.shape)}, ${shapeStr(k.shape)}, ${shapeStr(v.shape)}`,
      );
    const [B, H, Lq, D] = q.shape as [number, number, number, number];
    const Lk = k.dim(2);
    this.expectShape(k, [B, H, Lk, D], op, 'k');
    this.expectShape(v, [B, H, Lk, D], op, 'v');
    if (Lk === 0) throw new RangeError(`${op}(): no keys`);
    const scale = opts.scale ?? 1 / Math.sqrt(D);
    if (!Number.isFinite(scale)) throw new RangeError(`${op}(): scale must be finite, got ${scale}`);
    if (opts.bias) {
      this.float(opts.bias, op, 'bias', 'f32');
      const b = opts.bias;
      const ok3 = sameShape(b.shape, [H, Lq, Lk]);
      const ok4 = sameShape(b.shape, [B, H, Lq, Lk]);
      if (!ok3 && !ok4)
        throw new RangeError(
          `${op}(): bias must be [${H}, ${Lq}, ${Lk}] or [${B}, ${H}, ${Lq}, ${Lk}], got ${shapeStr(b.shape)}`,
        );
    }
    if (opts.keyMask) {
      this.own(opts.keyMask, op, 'keyMask');
      if (opts.keyMask.dtype !== 'u32' || !sameShape(opts.keyMask.shape, [B, Lk]))
        throw new RangeError(
          `${op}(): keyMask must be u32 [${B}, ${Lk}], got ${opts.keyMask.dtype}${shapeStr(opts.keyMask.shape)}`,
        );
    }
    if (opts.causal && Lq > Lk)
      throw new RangeError(`${op}(): causal attention needs Lq <= Lk, got Lq=${Lq}, Lk=${Lk}`);
    return this.track(this.maskedAttentionImpl(q, k, v, scale, opts));
  }
  protected abstract maskedAttentionImpl(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    scale: number,
    opts: MaskedAttentionOptions,
  ): Tensor;

  /**
   * 2-D convolution, channels-last: x [B, H, W, Cin], weight [Cout, KH, KW, Cin] (PyTorch's
   * [Cout, Cin, KH, KW] permuted; see convWeightToOHWI), odd KH and KW; zero "same" padding and stride 1
   * unless `padding` / `stride` say otherwise (then the output side is
   * floor((in + before + after - K) / stride) + 1, PyTorch's rule).
   * Returns [B, H', W', Cout] (H' = 2H and W' = 2W with `upsample`, else H and W at stride 1) =
   * conv(upsample?(x)) + bias + residual, then ReLU with `relu`. `upsample` reads x through a nearest-neighbour 2x upsampling
   * without materialising it. `top` / `bottom` [B, p, W, Cin] hold the input rows just above and below
   * x, used instead of zero padding (row bands of a larger image); p = ceil((KH-1)/2 / (upsample ? 2 : 1)).
   */
  conv2d(x: Tensor, weight: Tensor, opts: Conv2dOptions = {}): Tensor {
    const op = 'conv2d';
    this.float(x, op, 'x');
    this.float(weight, op, 'weight', x.dtype);
    if (x.rank !== 4)
      throw new RangeError(`${op}(): x must be [B, H, W, C] (NHWC), got ${shapeStr(x.shape)}`);
    const [B, H, W, Cin] = x.shape as [number, number, number, number];
    if (weight.rank !== 4 || weight.dim(3) !== Cin)
      throw new RangeError(
        `${op}(): weight must be [Cout, KH, KW, ${Cin}] (channels last), got ${shapeStr(weight.shape)}`,
      );
    const [Cout, KH, KW] = weight.shape as [number, number, number, number];
    if (KH % 2 !== 1 || KW % 2 !== 1)
      throw new RangeError(`${op}(): kernel ${KH}x${KW} must have odd sizes (same padding)`);
    const up = opts.upsample ? 2 : 1;
    const stride = opts.stride ?? 1;
    if (stride !== 1 && stride !== 2) throw new RangeError(`${op}(): stride must be 1 or 2, got ${stride}`);
    if (opts.padding) {
      const { before, after } = opts.padding;
      if (KH !== KW) throw new RangeError(`${op}(): padding is for square kernels, got ${KH}x${KW}`);
      for (const [what, v] of [
        ['before', before],
        ['after', after],
      ] as const)
        if (!Number.isInteger(v) || v < 0 || v >= KH)
          throw new RangeError(`${op}(): padding.${what} must be an integer in [0, ${KH}), got ${v}`);
      if (stride === 1 && before + after !== KH - 1)
        throw new RangeError(
          `${op}(): with stride 1 the padding must keep the size (before + after = ${KH - 1}), got ${before} + ${after}`,
        );
    }
    const pad = convPadding(KH, KW, opts.padding);
    if ((stride === 2 || opts.padding) && (opts.upsample || opts.top || opts.bottom))
      throw new RangeError(`${op}(): stride 2 and padding do not combine with upsample or top/bottom rows`);
    const Ho = convOutSize(H * up, KH, stride, pad.h);
    const Wo = convOutSize(W * up, KW, stride, pad.w);
    if ((Ho < 1 || Wo < 1) && H > 0 && W > 0)
      throw new RangeError(
        `${op}(): a ${H}x${W} input is too small for a ${KH}x${KW} kernel with this padding`,
      );
    const outShape = [B, Ho, Wo, Cout];
    if (opts.bias) {
      this.float(opts.bias, op, 'bias', x.dtype);
      this.expectShape(opts.bias, [Cout], op, 'bias');
    }
    if (opts.residual) {
      this.float(opts.residual, op, 'residual', x.dtype);
      this.expectShape(opts.residual, outShape, op, 'residual');
    }
    const p = convPadRows(KH, up);
    for (const side of ['top', 'bottom'] as const) {
      const t = opts[side];
      if (!t) continue;
      this.float(t, op, side, x.dtype);
      if (p === 0)
        throw new RangeError(`${op}(): a ${KH}x${KW} kernel reads no rows outside x; drop ${side}`);
      this.expectShape(t, [B, p, W, Cin], op, side);
    }
    return this.track(this.conv2dImpl(x, weight, opts, outShape));
  }
  protected abstract conv2dImpl(x: Tensor, weight: Tensor, opts: Conv2dOptions, outShape: Shape): Tensor;

  /**
   * Group-norm statistics of channels-last tensors [B, ..., C] taken together (e.g. the row bands of one
   * image): channel c is in group floor(c / (C / groups)); mean and biased variance over every position
   * of every tensor. Returns f32 [B, groups, 2] holding (mean, 1 / sqrt(var + eps)).
   */
  groupNormStats(xs: Tensor[], groups: number, eps: number): Tensor {
    const op = 'groupNormStats';
    if (xs.length === 0) throw new RangeError(`${op}(): no tensors`);
    const first = xs[0]!;
    for (const [i, x] of xs.entries()) {
      this.float(x, op, `tensor ${i}`, first.dtype);
      if (x.rank < 2 || x.dim(0) !== first.dim(0) || x.dim(-1) !== first.dim(-1))
        throw new RangeError(
          `${op}(): tensor ${i} ${shapeStr(x.shape)} must be [B, ..., C] with the B and C of tensor 0 ${shapeStr(first.shape)}`,
        );
    }
    const C = first.dim(-1);
    if (!Number.isInteger(groups) || groups < 1 || groups > 256 || 256 % groups !== 0 || C % groups !== 0)
      throw new RangeError(`${op}(): groups must divide both 256 and the ${C} channels, got ${groups}`);
    if (!(eps >= 0)) throw new RangeError(`${op}(): eps must be >= 0, got ${eps}`);
    return this.track(this.groupNormStatsImpl(xs, groups, eps));
  }
  protected abstract groupNormStatsImpl(xs: Tensor[], groups: number, eps: number): Tensor;

  /** (x - mean) * rstd * weight + bias with stats from groupNormStats(), then SiLU when `silu`. */
  groupNormApply(x: Tensor, stats: Tensor, opts: GroupNormAffine = {}): Tensor {
    const op = 'groupNormApply';
    this.float(x, op, 'x');
    this.float(stats, op, 'stats', 'f32');
    if (x.rank < 2) throw new RangeError(`${op}(): x must be [B, ..., C], got ${shapeStr(x.shape)}`);
    const C = x.dim(-1);
    const G = stats.dim(1);
    if (stats.rank !== 3 || stats.dim(0) !== x.dim(0) || stats.dim(2) !== 2 || C % G !== 0)
      throw new RangeError(
        `${op}(): stats must be f32 [${x.dim(0)}, G, 2] with G dividing ${C}, got ${shapeStr(stats.shape)}`,
      );
    for (const what of ['weight', 'bias'] as const) {
      const t = opts[what];
      if (t) {
        this.float(t, op, what, x.dtype);
        this.expectShape(t, [C], op, what);
      }
    }
    return this.track(this.groupNormApplyImpl(x, stats, opts));
  }
  protected abstract groupNormApplyImpl(x: Tensor, stats: Tensor, opts: GroupNormAffine): Tensor;

  /** GroupNorm over a channels-last tensor [B, ..., C] (nn.GroupNorm semantics), SiLU fused on request. */
  groupNorm(x: Tensor, opts: GroupNormOptions): Tensor {
    return this.tidy(() => {
      const stats = this.groupNormStats([x], opts.groups, opts.eps ?? 1e-5);
      return this.groupNormApply(x, stats, opts);
    });
  }

  /** The largest tensor this backend can hand to a kernel, in bytes (WebGPU: maxStorageBufferBindingSize). */
  maxTensorBytes(): number {
    return Number.POSITIVE_INFINITY;
  }

  /** Nearest-neighbour 2x upsampling of x [B, H, W, C]: out[b, y, x] = in[b, y >> 1, x >> 1]. */
  upsampleNearest2x(x: Tensor): Tensor {
    this.float(x, 'upsampleNearest2x', 'x');
    if (x.rank !== 4)
      throw new RangeError(`upsampleNearest2x(): x must be [B, H, W, C] (NHWC), got ${shapeStr(x.shape)}`);
    return this.track(this.upsampleNearest2xImpl(x));
  }
  protected abstract upsampleNearest2xImpl(x: Tensor): Tensor;
}

export interface MaskedAttentionOptions {
  /** Softmax scale; default 1/sqrt(headDim). T5 uses 1. */
  scale?: number;
  /** f32 [H, Lq, Lk] or [B, H, Lq, Lk], added to the scaled scores. */
  bias?: Tensor;
  /** Key j is excluded for query i when j > i. */
  causal?: boolean;
  /** u32 [B, Lk]; 0 marks padding keys. */
  keyMask?: Tensor;
}

export interface Conv2dOptions {
  /** [Cout]. */
  bias?: Tensor;
  /** [B, H', W', Cout], added last. */
  residual?: Tensor;
  /** Nearest 2x upsampling of the input, fused into the convolution. */
  upsample?: boolean;
  /** max(0, ·) of the result, after the residual (TAESD's conv → ReLU and fuse(conv + skip)). */
  relu?: boolean;
  /** Input rows just above x, [B, p, W, Cin] (instead of zero padding). */
  top?: Tensor;
  /** Input rows just below x, [B, p, W, Cin]. */
  bottom?: Tensor;
  /**
   * 2 for a strided (downsampling) convolution: out[oy, ox] reads in[2 oy + ky - before, 2 ox + kx - before].
   * Default 1. Neither stride 2 nor `padding` combines with upsample or top/bottom.
   */
  stride?: 1 | 2;
  /**
   * Zero padding before (top, left) and after (bottom, right) the input, the same on both axes.
   * Default (K - 1) / 2 on each side ("same"); with stride 1 before + after must be K - 1. The output
   * side is floor((in + before + after - K) / stride) + 1. Diffusers' VAE encoder downsamples with
   * { before: 0, after: 1 }.
   */
  padding?: { before: number; after: number };
}

/** The zero padding of a convolution along each axis (Conv2dOptions.padding with its default). */
export function convPadding(
  kh: number,
  kw: number,
  padding?: { before: number; after: number },
): { h: { before: number; after: number }; w: { before: number; after: number } } {
  if (padding) return { h: padding, w: padding };
  return {
    h: { before: (kh - 1) / 2, after: (kh - 1) / 2 },
    w: { before: (kw - 1) / 2, after: (kw - 1) / 2 },
  };
}

/** Output side of a convolution over `size` input positions. */
export function convOutSize(
  size: number,
  k: number,
  stride: number,
  pad: { before: number; after: number },
): number {
  return Math.floor((size + pad.before + pad.after - k) / stride) + 1;
}

export interface GroupNormAffine {
  /** [C]. */
  weight?: Tensor;
  /** [C]. */
  bias?: Tensor;
  /** Apply SiLU after the affine transform. */
  silu?: boolean;
}

export interface GroupNormOptions extends GroupNormAffine {
  groups: number;
  /** Default 1e-5 (nn.GroupNorm); the Flux autoencoder uses 1e-6. */
  eps?: number;
}

/** How many input rows outside x a convolution with kernel height kh reads on each side. */
export function convPadRows(kh: number, upsample: 1 | 2): number {
  return Math.ceil((kh - 1) / 2 / upsample);
}

function normAxis(axis: number, rank: number, op: string): number {
  const ax = axis < 0 ? rank + axis : axis;
  if (!Number.isInteger(ax) || ax < 0 || ax >= rank)
    throw new RangeError(`${op}(): axis ${axis} is out of range for rank ${rank}`);
  return ax;
}

function collectTensors(v: unknown, out: Set<Tensor>): void {
  if (v instanceof Tensor) out.add(v);
  else if (Array.isArray(v)) for (const x of v) collectTensors(x, out);
  else if (v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    for (const x of Object.values(v)) collectTensors(x, out);
  }
}
