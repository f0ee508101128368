// The WebGPU backend: tensors in GPU buffers from a pool, kernels from src/kernels.
import {
  type Activation,
  Backend,
  type BackendInfo,
  type Conv2dOptions,
  type GroupNormAffine,
  type HeadsLaunchOptions,
  type KeyRanges,
  type MaskedAttentionOptions,
  type MatmulOptions,
  type StagedData,
} from '../backend.js';
import { attention } from '../kernels/attention.js';
import { conv2d } from '../kernels/conv2d.js';
import { binary, cast, random, unary } from '../kernels/elementwise.js';
import { geglu } from '../kernels/geglu.js';
import { groupNormApply, groupNormStats } from '../kernels/group-norm.js';
import { heads, qkvHeads } from '../kernels/heads.js';
import { copyAxis, gather, scatter } from '../kernels/layout.js';
import { maskedAttention } from '../kernels/masked-attention.js';
import { matmul } from '../kernels/matmul.js';
import { matmulQuant } from '../kernels/matmul-quant.js';
import { layerNorm, modulate, rmsNorm, softmax } from '../kernels/norm.js';
import { choosePaths, type KernelPaths, type PathOverrides } from '../kernels/paths.js';
import { absDiffSums } from '../kernels/reduce.js';
import { rope } from '../kernels/rope.js';
import { upsampleNearest2x } from '../kernels/upsample.js';
import type { QuantizedMatrix } from '../quant/quantized-matrix.js';
import { DTYPE_BYTES, type DType, Tensor } from '../tensor.js';
import { f32ToF16Bits, fromF16Array } from '../util/f16.js';
import { numel, type Shape } from '../util/shape.js';
import { type DeviceOptions, type GpuDevice, requestGpu } from './device.js';
import { GpuRuntime } from './runtime.js';

interface GpuStorage {
  buffer: GPUBuffer;
  refs: number;
}

export interface GpuBackendOptions extends DeviceOptions {
  paths?: PathOverrides;
}

export class GpuBackend extends Backend {
  readonly name = 'webgpu' as const;
  readonly rt: GpuRuntime;
  readonly paths: KernelPaths;

  static async create(opts: GpuBackendOptions = {}): Promise<GpuBackend> {
    return new GpuBackend(await requestGpu(opts), opts.paths);
  }

  constructor(
    readonly gpu: GpuDevice,
    overrides: PathOverrides = {},
  ) {
    super();
    this.rt = new GpuRuntime(gpu);
    this.paths = choosePaths(gpu.caps, overrides);
  }

  get caps() {
    return this.gpu.caps;
  }

  info(): BackendInfo {
    const a = this.caps.adapter;
    const name = [a.vendor, a.architecture, a.description].filter(Boolean).join(' ') || 'unknown adapter';
    return {
      name: 'webgpu',
      description: `WebGPU on ${name}`,
      dtypes: this.caps.f16 ? ['f32', 'f16', 'u32'] : ['f32', 'u32'],
    };
  }

  /** The GPU buffer behind a tensor of this backend. */
  buf(t: Tensor): GPUBuffer {
    return (t.storage as GpuStorage).buffer;
  }

  /** A new, uninitialised output tensor (not tracked by tidy; the public op that returns it tracks it). */
  alloc(shape: Shape, dtype: DType): Tensor {
    return this.allocImpl(shape, dtype);
  }

  protected allocImpl(shape: Shape, dtype: DType): Tensor {
    const buffer = this.rt.acquire(numel(shape) * DTYPE_BYTES[dtype]);
    return new Tensor(this, shape, dtype, { buffer, refs: 1 } satisfies GpuStorage);
  }

  protected writeImpl(t: Tensor, data: Float32Array | Uint32Array | Uint16Array): void {
    let src: ArrayBufferView = data;
    if (t.dtype === 'f16' && !(data instanceof Uint16Array)) {
      const bits = new Uint16Array(data.length);
      for (let i = 0; i < data.length; i++) bits[i] = f32ToF16Bits(data[i]!);
      src = bits;
    }
    this.rt.write(this.buf(t), src);
  }

  /**
   * A MAP_WRITE | COPY_SRC buffer filled once (mappedAtCreation); writeStaged() records a copy from it.
   * Measured on the H100 (docs/memory-plan.md): queue.writeBuffer of 1.5 GiB of streamed blocks per
   * forward kept the host busy for ~0.7 s; recorded copies leave it to the GPU's copy over PCIe.
   */
  override stage(data: Float32Array | Uint16Array | Uint32Array, dtype: DType): StagedData {
    let src: ArrayBufferView = data;
    if (dtype === 'f16' && !(data instanceof Uint16Array)) {
      const bits = new Uint16Array(data.length);
      for (let i = 0; i < data.length; i++) bits[i] = f32ToF16Bits(data[i]!);
      src = bits;
    }
    const bytes = src.byteLength;
    const buffer = this.gpu.device.createBuffer({
      size: Math.max(4, Math.ceil(bytes / 4) * 4),
      usage: GPUBufferUsage.MAP_WRITE | GPUBufferUsage.COPY_SRC,
      mappedAtCreation: true,
    });
    new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(src.buffer, src.byteOffset, bytes));
    buffer.unmap();
    this.stagedBytes += buffer.size;
    return {
      bytes,
      handle: buffer,
      dispose: () => {
        this.stagedBytes -= buffer.size;
        buffer.destroy();
      },
    };
  }

  override writeStaged(t: Tensor, s: StagedData): void {
    this.own(t, 'writeStaged', 'tensor');
    const bytes = t.size * DTYPE_BYTES[t.dtype];
    const staging = s.handle as GPUBuffer | undefined;
    if (!staging || typeof staging.destroy !== 'function' || s.bytes !== bytes)
      throw new RangeError(`writeStaged(): ${s.bytes} staged bytes for ${t} (${bytes} bytes)`);
    this.rt.copyIn(staging, this.buf(t), Math.ceil(bytes / 4) * 4);
  }

  /** Bytes of host-side staging buffers (Backend.stage): not device memory, not in memory(). */
  stagedBytes = 0;

  protected async readImpl(t: Tensor): Promise<Float32Array | Uint32Array> {
    const bytes = await this.rt.read(this.buf(t), t.size * DTYPE_BYTES[t.dtype]);
    if (t.dtype === 'f16') return fromF16Array(new Uint16Array(bytes));
    if (t.dtype === 'u32') return new Uint32Array(bytes);
    return new Float32Array(bytes);
  }

  protected reshapeImpl(t: Tensor, shape: Shape): Tensor {
    const s = t.storage as GpuStorage;
    s.refs++;
    return new Tensor(this, shape, t.dtype, s);
  }

  release(t: Tensor): void {
    const s = t.storage as GpuStorage;
    if (--s.refs === 0) this.rt.releaseBuffer(s.buffer);
  }

  flush(): void {
    this.rt.flush();
  }
  sync(): Promise<void> {
    return this.rt.sync();
  }
  trim(): void {
    this.rt.trim();
  }
  memory() {
    return this.rt.memory();
  }

  resetPeakMemory(): void {
    this.rt.resetPeak();
  }
  destroy(): void {
    this.rt.destroy();
    this.gpu.device.destroy();
  }

  protected randomImpl(shape: Shape, dtype: DType, seed: number, mean: number, std: number): Tensor {
    return random(this, shape, dtype, seed, mean, std);
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
    return matmul(this, x, w, o, M, N, K, outShape);
  }
  protected matmulQuantImpl(
    x: Tensor,
    w: QuantizedMatrix,
    o: MatmulOptions,
    M: number,
    N: number,
    K: number,
    outShape: Shape,
  ): Tensor {
    return matmulQuant(this, x, w, o, M, N, K, outShape, this.paths.quantMatmul);
  }
  protected attentionImpl(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    scale: number,
    ranges: KeyRanges | undefined,
  ): Tensor {
    return attention(this, q, k, v, scale, ranges);
  }
  protected layerNormImpl(x: Tensor, w: Tensor | undefined, b: Tensor | undefined, eps: number): Tensor {
    return layerNorm(this, x, w, b, eps);
  }
  protected rmsNormImpl(x: Tensor, w: Tensor | undefined, eps: number): Tensor {
    return rmsNorm(this, x, w, eps);
  }
  protected modulateImpl(
    x: Tensor,
    shift: Tensor,
    scale: Tensor,
    normEps: number | undefined,
    columns: { shift: number; scale: number },
  ): Tensor {
    return modulate(this, x, shift, scale, normEps, columns);
  }
  protected ropeImpl(x: Tensor, table: Tensor): Tensor {
    return rope(this, x, table);
  }
  protected headsImpl(src: Tensor, o: HeadsLaunchOptions): void {
    heads(this, src, o);
  }
  protected override qkvHeadsImpl(
    src: Tensor,
    slots: [HeadsLaunchOptions, HeadsLaunchOptions, HeadsLaunchOptions],
  ): void {
    if (!qkvHeads(this, src, slots)) super.qkvHeadsImpl(src, slots);
  }
  protected softmaxImpl(x: Tensor): Tensor {
    return softmax(this, x);
  }
  protected binaryImpl(op: 'add' | 'mul', a: Tensor, b: Tensor): Tensor {
    return binary(this, op, a, b);
  }
  protected unaryImpl(x: Tensor, act: Activation, s: number): Tensor {
    return unary(this, x, act, s);
  }
  protected gegluImpl(x: Tensor): Tensor {
    return geglu(this, x);
  }
  protected castImpl(x: Tensor, dtype: DType): Tensor {
    return cast(this, x, dtype);
  }
  protected absDiffSumsImpl(x: Tensor, ref: Tensor): Tensor {
    return absDiffSums(this, x, ref);
  }
  protected copyAxisImpl(
    src: Tensor,
    dst: Tensor,
    axis: number,
    srcStart: number,
    dstStart: number,
    count: number,
  ): void {
    copyAxis(this, src, dst, axis, srcStart, dstStart, count);
  }
  protected gatherImpl(x: Tensor, idx: Tensor): Tensor {
    return gather(this, x, idx);
  }
  protected scatterImpl(src: Tensor, idx: Tensor, dst: Tensor): void {
    scatter(this, src, idx, dst);
  }

  // ==== text encoders and the autoencoder ===========================================================
  protected maskedAttentionImpl(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    scale: number,
    o: MaskedAttentionOptions,
  ): Tensor {
    return maskedAttention(this, q, k, v, scale, o);
  }
  protected conv2dImpl(x: Tensor, w: Tensor, o: Conv2dOptions, outShape: Shape): Tensor {
    return conv2d(this, x, w, o, outShape);
  }
  protected groupNormStatsImpl(xs: Tensor[], groups: number, eps: number): Tensor {
    return groupNormStats(this, xs, groups, eps);
  }
  protected groupNormApplyImpl(x: Tensor, stats: Tensor, o: GroupNormAffine): Tensor {
    return groupNormApply(this, x, stats, o);
  }
  protected upsampleNearest2xImpl(x: Tensor): Tensor {
    return upsampleNearest2x(this, x);
  }
  override maxTensorBytes(): number {
    return this.rt.maxTensorBytes();
  }
}
