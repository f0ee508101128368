// The CPU backend: plain TypeScript, f64 accumulation. It runs whole models (slowly) and is the
// reference every WebGPU kernel is tested against. f16 tensors hold f16-rounded values in f32 arrays,
// so an f16 computation here rounds where the GPU stores f16.
import {
  type Activation,
  Backend,
  type BackendInfo,
  type Conv2dOptions,
  convPadRows,
  type GroupNormAffine,
  type HeadsLaunchOptions,
  type KeyRanges,
  type MaskedAttentionOptions,
  type MatmulOptions,
} from '../backend.js';
import { dequantize } from '../quant/dequant.js';
import type { QuantizedMatrix } from '../quant/quantized-matrix.js';
import { type DType, Tensor } from '../tensor.js';
import { f16BitsToF32, roundToF16 } from '../util/f16.js';
import { numel, type Shape } from '../util/shape.js';
import { rangeMask } from './attention.js';
import { conv2dRef, upsampleNearest2xRef } from './conv.js';
import { binaryRef, softmaxRef, unaryRef } from './elementwise.js';
import { gegluRef } from './geglu.js';
import { groupNormApplyRef, groupNormStatsRef } from './group-norm.js';
import { headsRef } from './heads.js';
import { cpuAttention, cpuMatmul } from './kernels.js';
import { copyAxisRef, gatherRef, scatterRef } from './layout.js';
import { maskedAttentionRef } from './masked-attention.js';
import { layerNormRef, modulateRef, rmsNormRef } from './norm.js';
import { randomRef } from './random.js';
import { absDiffSumsRef } from './reduce.js';
import { ropeRef } from './rope.js';

interface CpuStorage {
  data: Float32Array | Uint32Array;
  refs: number;
}

export interface CpuBackendOptions {
  /**
   * The WebAssembly SIMD matmul and attention on worker threads where they can run (default true; the
   * environment's TOMA_CPU_FAST=0 turns them off everywhere). false: the plain TypeScript kernels, which
   * accumulate in f64, so results do not depend on summation order (what exactness tests need).
   */
  fast?: boolean;
}

export class CpuBackend extends Backend {
  readonly name = 'cpu' as const;
  readonly fast: boolean;
  private live = 0;
  private peak = 0;

  constructor(o: CpuBackendOptions = {}) {
    super();
    this.fast = o.fast ?? true;
  }

  info(): BackendInfo {
    return {
      name: 'cpu',
      description: this.fast
        ? 'CPU backend (WebAssembly SIMD matmul and attention on worker threads where available; f16 emulated by rounding)'
        : 'CPU backend (plain TypeScript reference kernels; f16 emulated by rounding)',
      dtypes: ['f32', 'f16', 'u32'],
    };
  }

  /** The values of a tensor of this backend, without copying (do not modify). */
  data(t: Tensor): Float32Array {
    this.own(t, 'data');
    return (t.storage as CpuStorage).data as Float32Array;
  }

  u32(t: Tensor): Uint32Array {
    this.own(t, 'u32');
    return (t.storage as CpuStorage).data as Uint32Array;
  }

  /** Wraps a result array (rounding to f16 when needed) as a new tensor. */
  private wrap(data: Float32Array | Uint32Array, shape: Shape, dtype: DType): Tensor {
    const d = dtype === 'f16' ? roundToF16(data as Float32Array) : data;
    this.live += d.byteLength;
    this.peak = Math.max(this.peak, this.live);
    return new Tensor(this, shape, dtype, { data: d, refs: 1 } satisfies CpuStorage);
  }

  protected allocImpl(shape: Shape, dtype: DType): Tensor {
    const n = numel(shape);
    return this.wrap(dtype === 'u32' ? new Uint32Array(n) : new Float32Array(n), shape, dtype);
  }

  protected writeImpl(t: Tensor, data: Float32Array | Uint32Array | Uint16Array): void {
    const dst = (t.storage as CpuStorage).data;
    if (data instanceof Uint16Array) {
      for (let i = 0; i < data.length; i++) dst[i] = f16BitsToF32(data[i]!);
    } else if (t.dtype === 'f16') {
      dst.set(roundToF16(data as Float32Array));
    } else {
      dst.set(data);
    }
  }

  protected async readImpl(t: Tensor): Promise<Float32Array | Uint32Array> {
    return (t.storage as CpuStorage).data.slice();
  }

  protected reshapeImpl(t: Tensor, shape: Shape): Tensor {
    const s = t.storage as CpuStorage;
    s.refs++;
    return new Tensor(this, shape, t.dtype, s);
  }

  release(t: Tensor): void {
    const s = t.storage as CpuStorage;
    if (--s.refs === 0) this.live -= s.data.byteLength;
  }

  flush(): void {}
  /** Yields to the event loop, so a signal handler or a timer in this thread can run between steps. */
  async sync(): Promise<void> {
    await new Promise<void>((r) => setImmediate(r));
  }
  trim(): void {}
  memory() {
    return { liveBytes: this.live, pooledBytes: 0, peakBytes: this.peak };
  }

  resetPeakMemory(): void {
    this.peak = this.live;
  }
  destroy(): void {}

  protected randomImpl(shape: Shape, dtype: DType, seed: number, mean: number, std: number): Tensor {
    return this.wrap(randomRef(numel(shape), seed, mean, std), shape, dtype);
  }

  protected matmulImpl(
    x: Tensor,
    w: Tensor,
    o: MatmulOptions,
    M: number,
    N: number,
    K: number,
    outShape: Shape,
  ): Tensor {
    return this.matmulDense(x, this.data(w), o, M, N, K, outShape);
  }

  /** y = act(x · wᵀ + bias) * gate + residual with w as host values (both matmul entry points). */
  private matmulDense(
    x: Tensor,
    w: Float32Array,
    o: MatmulOptions,
    M: number,
    N: number,
    K: number,
    outShape: Shape,
  ): Tensor {
    const y = cpuMatmul(this.fast, this.data(x), w, M, N, K, {
      bias: o.bias && this.data(o.bias),
      activation: o.activation,
      gate: o.gate && this.data(o.gate),
      gateRows: o.gate?.dim(0),
      gateStride: o.gate?.dim(1),
      gateColumn: o.gateColumn,
      residual: o.residual && this.data(o.residual),
    });
    return this.wrap(y, outShape, x.dtype);
  }

  /** Dequantizes the whole weight (exactly, as gguf-py does), rounds it to f16 for f16 math, multiplies. */
  protected matmulQuantImpl(
    x: Tensor,
    w: QuantizedMatrix,
    o: MatmulOptions,
    M: number,
    N: number,
    K: number,
    outShape: Shape,
  ): Tensor {
    const words = this.u32(w.data);
    const bytes = new Uint8Array(words.buffer, words.byteOffset, N * w.rowBytes);
    let dense = dequantize(w.type, bytes, N * K);
    if (x.dtype === 'f16') dense = roundToF16(dense);
    return this.matmulDense(x, dense, o, M, N, K, outShape);
  }

  protected attentionImpl(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    scale: number,
    ranges: KeyRanges | undefined,
  ): Tensor {
    const [B, H, Lq, D] = q.shape as [number, number, number, number];
    const Lk = k.dim(2);
    let kr: { ranges: Uint32Array; maxRanges: number; blockSize: number } | undefined;
    if (ranges) {
      const r = this.u32(ranges.ranges);
      rangeMask(r, ranges.ranges.dim(1), ranges.blockSize); // validates: no overlapping ranges
      kr = { ranges: r, maxRanges: ranges.ranges.dim(1), blockSize: ranges.blockSize };
    }
    const y = cpuAttention(
      this.fast,
      this.data(q),
      this.data(k),
      this.data(v),
      { B, H, Lq, Lk, D },
      scale,
      kr,
    );
    return this.wrap(y, [B, Lq, H * D], q.dtype);
  }

  protected layerNormImpl(x: Tensor, w: Tensor | undefined, b: Tensor | undefined, eps: number): Tensor {
    const y = layerNormRef(this.data(x), x.dim(-1), eps, w && this.data(w), b && this.data(b));
    return this.wrap(y, x.shape, x.dtype);
  }

  protected rmsNormImpl(x: Tensor, w: Tensor | undefined, eps: number): Tensor {
    return this.wrap(rmsNormRef(this.data(x), x.dim(-1), eps, w && this.data(w)), x.shape, x.dtype);
  }

  protected modulateImpl(
    x: Tensor,
    shift: Tensor,
    scale: Tensor,
    normEps: number | undefined,
    columns: { shift: number; scale: number },
  ): Tensor {
    const [B, L, C] = x.shape as [number, number, number];
    const table = { stride: shift.dim(1), shift: columns.shift, scale: columns.scale };
    return this.wrap(
      modulateRef(this.data(x), B, L, C, this.data(shift), this.data(scale), normEps, table),
      x.shape,
      x.dtype,
    );
  }

  protected ropeImpl(x: Tensor, table: Tensor): Tensor {
    const [B, H, L, D] = x.shape as [number, number, number, number];
    return this.wrap(ropeRef(this.data(x), B, H, L, D, this.data(table)), x.shape, x.dtype);
  }

  protected headsImpl(src: Tensor, o: HeadsLaunchOptions): void {
    const [B, L, W] = src.shape as [number, number, number];
    const out = this.data(o.out);
    headsRef(this.data(src), {
      B,
      L,
      W,
      H: o.heads,
      D: o.headDim,
      column: o.column,
      norm: o.norm && this.data(o.norm),
      eps: o.eps,
      rope: o.rope && this.data(o.rope),
      out,
      Lout: o.out.dim(2),
      seqOffset: o.seqOffset,
    });
    if (o.out.dtype === 'f16') out.set(roundToF16(out));
  }

  protected softmaxImpl(x: Tensor): Tensor {
    return this.wrap(softmaxRef(this.data(x), x.dim(-1)), x.shape, x.dtype);
  }

  protected binaryImpl(op: 'add' | 'mul', a: Tensor, b: Tensor): Tensor {
    return this.wrap(binaryRef(op, this.data(a), this.data(b)), a.shape, a.dtype);
  }

  protected unaryImpl(x: Tensor, act: Activation, s: number): Tensor {
    return this.wrap(unaryRef(this.data(x), act, s), x.shape, x.dtype);
  }

  protected gegluImpl(x: Tensor): Tensor {
    const n = x.dim(-1) / 2;
    return this.wrap(gegluRef(this.data(x), n), [...x.shape.slice(0, -1), n], x.dtype);
  }

  protected castImpl(x: Tensor, dtype: DType): Tensor {
    return this.wrap(this.data(x).slice(), x.shape, dtype);
  }

  protected absDiffSumsImpl(x: Tensor, ref: Tensor): Tensor {
    const rows = x.dim(0);
    return this.wrap(absDiffSumsRef(this.data(x), this.data(ref), rows, x.size / rows), [rows, 2], 'f32');
  }

  protected copyAxisImpl(
    src: Tensor,
    dst: Tensor,
    axis: number,
    srcStart: number,
    dstStart: number,
    count: number,
  ): void {
    const outer = numel(src.shape.slice(0, axis));
    const inner = numel(src.shape.slice(axis + 1));
    const s = (src.storage as CpuStorage).data;
    const d = (dst.storage as CpuStorage).data;
    copyAxisRef(s, d, outer, src.shape[axis]!, dst.shape[axis]!, inner, srcStart, dstStart, count);
  }

  protected gatherImpl(x: Tensor, idx: Tensor): Tensor {
    const [B, N, C] = x.shape as [number, number, number];
    const M = idx.dim(1);
    return this.wrap(gatherRef(this.data(x), B, N, C, this.u32(idx), M), [B, M, C], x.dtype);
  }

  protected scatterImpl(src: Tensor, idx: Tensor, dst: Tensor): void {
    const [B, M, C] = src.shape as [number, number, number];
    scatterRef(this.data(src), B, M, C, this.u32(idx), this.data(dst), dst.dim(1));
  }

  // ==== text encoders and the autoencoder ===========================================================
  protected maskedAttentionImpl(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    scale: number,
    o: MaskedAttentionOptions,
  ): Tensor {
    const [B, H, Lq, D] = q.shape as [number, number, number, number];
    const Lk = k.dim(2);
    const y = maskedAttentionRef(this.data(q), this.data(k), this.data(v), { B, H, Lq, Lk, D }, scale, {
      bias: o.bias && this.data(o.bias),
      biasPerBatch: o.bias?.rank === 4,
      causal: o.causal,
      keyMask: o.keyMask && this.u32(o.keyMask),
    });
    return this.wrap(y, [B, Lq, H * D], q.dtype);
  }

  protected conv2dImpl(x: Tensor, w: Tensor, o: Conv2dOptions, outShape: Shape): Tensor {
    const [B, H, W, Cin] = x.shape as [number, number, number, number];
    const [Cout, KH, KW] = w.shape as [number, number, number, number];
    const y = conv2dRef(
      this.data(x),
      this.data(w),
      { B, H, W, Cin, Cout, KH, KW },
      {
        bias: o.bias && this.data(o.bias),
        residual: o.residual && this.data(o.residual),
        upsample: o.upsample,
        relu: o.relu,
        top: o.top && this.data(o.top),
        bottom: o.bottom && this.data(o.bottom),
        padRows: convPadRows(KH, o.upsample ? 2 : 1),
        stride: o.stride,
        padding: o.padding,
      },
    );
    return this.wrap(y, outShape, x.dtype);
  }

  protected groupNormStatsImpl(xs: Tensor[], groups: number, eps: number): Tensor {
    const B = xs[0]!.dim(0);
    const C = xs[0]!.dim(-1);
    const parts = xs.map((x) => ({ data: this.data(x), S: x.size / (B * C) }));
    return this.wrap(groupNormStatsRef(parts, B, C, groups, eps), [B, groups, 2], 'f32');
  }

  protected groupNormApplyImpl(x: Tensor, stats: Tensor, o: GroupNormAffine): Tensor {
    const y = groupNormApplyRef(
      this.data(x),
      x.dim(0),
      x.dim(-1),
      this.data(stats),
      stats.dim(1),
      o.weight && this.data(o.weight),
      o.bias && this.data(o.bias),
      !!o.silu,
    );
    return this.wrap(y, x.shape, x.dtype);
  }

  protected upsampleNearest2xImpl(x: Tensor): Tensor {
    const [B, H, W, C] = x.shape as [number, number, number, number];
    return this.wrap(upsampleNearest2xRef(this.data(x), B, H, W, C), [B, 2 * H, 2 * W, C], x.dtype);
  }
}
