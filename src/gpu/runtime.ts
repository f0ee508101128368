// The WebGPU runtime under the backend: buffer pool, pipeline cache, command recording, uniforms,
// readback and GPU timing. Kernels call launch(); nothing here knows about any particular kernel.
//
// Recording model: launches are recorded into one command encoder (one compute pass) until flush(),
// which happens only on readback, on sync(), or when the uniform ring or query set fills. A whole
// forward pass is thus a handful of submits with no CPU round-trips inside.
import type { GpuDevice } from './device.js';
import { BufferGuard, GUARD_CHECKS_PER_SUBMIT, type GuardSubject, guardRegion } from './guard.js';
import { cacheKey, type ShaderParams, specialize } from './shader.js';

export type KernelCategory = 'linear' | 'attention' | 'merge' | 'other';

/** A uniform value: a plain number is a u32; {f} an f32; {i} an i32. */
export type UniformValue = number | { f: number } | { i: number };

export interface Launch {
  /** Name of the .wgsl file (without extension). */
  shader: string;
  params?: ShaderParams;
  entry?: string;
  /** Written to binding 0 as consecutive 4-byte words, in the order of the shader's Params struct. */
  uniforms?: UniformValue[];
  /** Storage buffers, bound at bindings 1, 2, ... in this order; an undefined entry leaves its binding out. */
  buffers: (GPUBuffer | undefined)[];
  /** Workgroup counts (x, y, z). */
  grid: readonly [number, number?, number?];
  category?: KernelCategory;
}

export interface KernelTiming {
  name: string;
  category: KernelCategory;
  ms: number;
}

const STORAGE_USAGE = 0x80 /* STORAGE */ | 0x4 /* COPY_SRC */ | 0x8; /* COPY_DST */
const UNIFORM_RING_BYTES = 1 << 18;
const QUERY_CAPACITY = 4096;
/**
 * Recorded launches are submitted in chunks of this many, so the GPU starts on the first blocks of a
 * forward while the CPU still records the rest. Measured on the H100 (flux-dev, 1024², ~1,200 launches,
 * ~80 ms to record): with one submit per forward the GPU idled for most of the recording.
 */
const SUBMIT_EVERY = 96;
const BIND_GROUP_CACHE = 16384;
/**
 * The largest tensor, whatever the adapter allows: kernels index elements with u32 arithmetic that
 * assumes indices, and the flat grid index (up to n + 256 * 65535), stay below 2^31
 * (docs/kernels/robustness.md).
 */
const MAX_TENSOR_BYTES = 2 ** 31 - 4;

/** The error of a run whose device went away ("reason: message" from device.ts). */
function deviceLost(r: string): Error {
  const at = r.indexOf(': ');
  const [reason, message] = at < 0 ? [r, 'device lost'] : [r.slice(0, at), r.slice(at + 2)];
  return new Error(`the GPU device was lost (${reason}): ${message}`);
}

export class GpuRuntime {
  readonly device: GPUDevice;
  private pipelines = new Map<
    string,
    { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout; id: number }
  >();
  /**
   * Bind groups by (pipeline, uniform slot, buffers). A repeated forward pass replays the same launches
   * on the same pooled buffers from the same ring offsets (every sync starts a fresh chunk), so after the
   * first pass createBindGroup is skipped. Cleared when buffers are destroyed (trim).
   */
  private bindGroups = new Map<string, GPUBindGroup>();
  private bufferIds = new WeakMap<GPUBuffer, number>();
  private nextId = 1;
  private free = new Map<number, GPUBuffer[]>();
  private pooledBytes = 0;
  private liveBytes = 0;
  private peakBytes = 0;

  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private launches = 0;
  private sinceSubmit = 0;

  private ringGpu: GPUBuffer;
  private ringCpu: ArrayBuffer;
  private ringU32: Uint32Array;
  private ringF32: Float32Array;
  private ringI32: Int32Array;
  private ringUsed = 0;
  private readonly ringAlign: number;

  private errors: string[] = [];
  /** When set, every buffer handed out by acquire() is first filled with NaN (tests use this). */
  poison = false;
  /** Guard mode (GpuDevice.guard): canaries around every buffer, checked after every launch and copy. */
  private readonly guard: BufferGuard | null;

  // GPU timing (only while profiling)
  private querySet: GPUQuerySet | null = null;
  private profiling = false;
  private pendingQueries: { name: string; category: KernelCategory }[] = [];
  private timingReads: Promise<void>[] = [];
  private timings: KernelTiming[] = [];

  constructor(readonly gpu: GpuDevice) {
    this.device = gpu.device;
    this.ringAlign = Math.max(256, this.device.limits.minUniformBufferOffsetAlignment);
    this.ringGpu = this.device.createBuffer({
      label: 'uniform ring',
      size: UNIFORM_RING_BYTES,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    this.ringCpu = new ArrayBuffer(UNIFORM_RING_BYTES);
    this.ringU32 = new Uint32Array(this.ringCpu);
    this.ringF32 = new Float32Array(this.ringCpu);
    this.ringI32 = new Int32Array(this.ringCpu);
    this.guard = gpu.guard ? new BufferGuard(this.device) : null;
    this.device.addEventListener('uncapturederror', (ev) => {
      const e = (ev as GPUUncapturedErrorEvent).error;
      this.errors.push(e.message);
    });
  }

  // ---- errors -------------------------------------------------------------------------------------
  /** Throws if the device reported an error or was lost since the last check. */
  checkErrors(): void {
    if (this.gpu.lostReason) throw deviceLost(this.gpu.lostReason);
    if (this.errors.length) {
      const msg = this.errors.splice(0).join('\n');
      throw new Error(`WebGPU error: ${msg}`);
    }
  }

  // ---- buffers ------------------------------------------------------------------------------------
  /**
   * A storage buffer of at least `bytes` bytes from the pool. Sizes are rounded up to 16 bytes; in
   * guard mode to 4 (so an overrun of one word reaches the canary) and the data sits at an offset
   * (dataOffset(); write, read, copy and launch bindings apply it).
   */
  acquire(bytes: number): GPUBuffer {
    const size = this.guard
      ? Math.max(4, Math.ceil(bytes / 4) * 4)
      : Math.max(16, Math.ceil(bytes / 16) * 16);
    const maxBytes = this.maxTensorBytes();
    if (size > maxBytes) {
      throw new RangeError(
        `a tensor of ${size} bytes exceeds the largest tensor: ${maxBytes} bytes (this adapter's maxStorageBufferBindingSize ${this.device.limits.maxStorageBufferBindingSize}, at most 2^31 - 4${this.guard ? `, less ${this.guard.overhead} bytes of guard canaries` : ''})`,
      );
    }
    const list = this.free.get(size);
    let buf = list?.pop();
    if (buf) this.pooledBytes -= size;
    else
      buf = this.guard
        ? this.guard.create(size, STORAGE_USAGE)
        : this.device.createBuffer({ size, usage: STORAGE_USAGE });
    this.liveBytes += size;
    this.peakBytes = Math.max(this.peakBytes, this.liveBytes + this.pooledBytes);
    if (this.poison) this.fill(buf, 0xffffffff);
    return buf;
  }

  /** Returns a buffer to the pool. Safe while recorded work still uses it: later work is ordered after. */
  releaseBuffer(buf: GPUBuffer): void {
    const size = this.byteSize(buf);
    this.liveBytes -= size;
    const list = this.free.get(size);
    if (list) list.push(buf);
    else this.free.set(size, [buf]);
    this.pooledBytes += size;
  }

  trim(): void {
    this.flush();
    this.bindGroups.clear(); // they may reference the buffers destroyed below
    for (const list of this.free.values())
      for (const b of list) {
        this.guard?.forget(b);
        b.destroy();
      }
    this.free.clear();
    this.pooledBytes = 0;
  }

  /** Tensor bytes (as rounded by acquire()); guard canaries are not counted (guardStats gives their size). */
  memory() {
    return { liveBytes: this.liveBytes, pooledBytes: this.pooledBytes, peakBytes: this.peakBytes };
  }

  /**
   * The largest tensor acquire() hands out: maxStorageBufferBindingSize (at most 2^31 - 4), less the
   * canaries in guard mode.
   */
  maxTensorBytes(): number {
    const max = Math.min(this.device.limits.maxStorageBufferBindingSize, MAX_TENSOR_BYTES);
    // The check kernel binds a guarded buffer whole, canaries included.
    return this.guard ? Math.floor((max - this.guard.overhead) / 4) * 4 : max;
  }

  /** Whether this runtime is in guard mode. */
  get guarded(): boolean {
    return this.guard !== null;
  }

  /** Canary bytes per buffer in guard mode (0 otherwise), and the launches and copies checked so far. */
  get guardStats(): { overheadBytes: number; checks: number } {
    return { overheadBytes: this.guard?.overhead ?? 0, checks: this.guard?.checks ?? 0 };
  }

  /** Bytes of a buffer's data: what kernels see bound, and what write() / read() / copy() may touch. */
  byteSize(buf: GPUBuffer): number {
    return guardRegion(buf)?.size ?? buf.size;
  }

  /** Where a buffer's data starts (non-zero only for guarded buffers). */
  dataOffset(buf: GPUBuffer): number {
    return guardRegion(buf)?.offset ?? 0;
  }

  private bindingOf(buffer: GPUBuffer): GPUBufferBinding {
    const r = guardRegion(buffer);
    return r ? { buffer, offset: r.offset, size: r.size } : { buffer };
  }

  resetPeak(): void {
    this.peakBytes = this.liveBytes + this.pooledBytes;
  }

  /** Writes data at the start of buf's data, ordered after all work recorded so far. */
  write(buf: GPUBuffer, data: ArrayBufferView): void {
    if (this.encoder) this.flush(); // recorded commands may still read this (pooled) buffer's old contents
    let bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (bytes.byteLength % 4) {
      const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
      padded.set(bytes);
      bytes = padded;
    }
    const base = this.dataOffset(buf);
    if (bytes.byteLength > this.byteSize(buf))
      throw new RangeError(`write(): ${bytes.byteLength} bytes into a ${this.byteSize(buf)}-byte buffer`);
    // Large uploads go in slices so Dawn's staging memory stays bounded.
    const CHUNK = 64 << 20;
    for (let o = 0; o < bytes.byteLength; o += CHUNK) {
      const n = Math.min(CHUNK, bytes.byteLength - o);
      this.device.queue.writeBuffer(buf, base + o, bytes.buffer, bytes.byteOffset + o, n);
    }
  }

  async read(buf: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
    const size = Math.ceil(bytes / 4) * 4;
    if (size > this.byteSize(buf))
      throw new RangeError(`read(): ${bytes} bytes from a ${this.byteSize(buf)}-byte buffer`);
    const staging = this.device.createBuffer({
      size,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    this.ensureEncoder();
    this.endPass();
    this.encoder!.copyBufferToBuffer(buf, this.dataOffset(buf), staging, 0, size);
    this.flush();
    try {
      await Promise.race([
        staging.mapAsync(GPUMapMode.READ),
        this.gpu.lost.then((r) => {
          throw deviceLost(r);
        }),
      ]);
      this.checkErrors();
      const data = staging.getMappedRange().slice(0, bytes);
      await this.guard?.verify(); // all work up to this read is done
      return data;
    } finally {
      staging.destroy();
    }
  }

  // ---- pipelines ----------------------------------------------------------------------------------
  pipeline(shader: string, params: ShaderParams = {}, entry = 'main'): GPUComputePipeline {
    return this.pipelineEntry(shader, params, entry).pipeline;
  }

  private pipelineEntry(shader: string, params: ShaderParams, entry: string) {
    const key = `${cacheKey(shader, params)}:${entry}`;
    let p = this.pipelines.get(key);
    if (!p) {
      const code = specialize(shader, params);
      const module = this.device.createShaderModule({ label: key, code });
      const pipeline = this.device.createComputePipeline({
        label: key,
        layout: 'auto',
        compute: { module, entryPoint: entry },
      });
      p = { pipeline, layout: pipeline.getBindGroupLayout(0), id: this.nextId++ };
      this.pipelines.set(key, p);
    }
    return p;
  }

  private idOf(buffer: GPUBuffer): number {
    let id = this.bufferIds.get(buffer);
    if (id === undefined) {
      id = this.nextId++;
      this.bufferIds.set(buffer, id);
    }
    return id;
  }

  /** Compiles a pipeline and reports WGSL or validation errors for it (with the source line numbers). */
  async compile(shader: string, params: ShaderParams = {}, entry = 'main'): Promise<void> {
    const code = specialize(shader, params);
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ label: shader, code });
    const info = await module.getCompilationInfo();
    const msgs = info.messages.filter((m) => m.type === 'error');
    if (msgs.length) {
      await this.device.popErrorScope();
      throw new Error(
        `${cacheKey(shader, params)}: ${msgs.map((m) => `line ${m.lineNum}: ${m.message}`).join('\n')}`,
      );
    }
    this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: entry } });
    const err = await this.device.popErrorScope();
    if (err) throw new Error(`${cacheKey(shader, params)}: ${err.message}`);
  }

  get pipelineCount(): number {
    return this.pipelines.size;
  }

  // ---- recording ----------------------------------------------------------------------------------
  private ensureEncoder(): void {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  launch(l: Launch): void {
    const [gx, gy = 1, gz = 1] = l.grid;
    if (gx === 0 || gy === 0 || gz === 0) return;
    const maxDim = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (gx > maxDim || gy > maxDim || gz > maxDim) {
      throw new RangeError(
        `${l.shader}: grid ${gx}x${gy}x${gz} exceeds maxComputeWorkgroupsPerDimension ${maxDim}`,
      );
    }
    const words = l.uniforms?.length ?? 0;
    if (this.ringUsed + Math.max(words * 4, 16) > UNIFORM_RING_BYTES) this.flush();
    if (this.profiling && this.pendingQueries.length * 2 + 2 > QUERY_CAPACITY) this.flush();

    const { pipeline, layout, id } = this.pipelineEntry(l.shader, l.params ?? {}, l.entry ?? 'main');
    let key = `${id}`;
    let uniformSize = 0;
    const uniformOffset = this.ringUsed;
    if (words) {
      const base = this.ringUsed / 4;
      l.uniforms!.forEach((v, i) => {
        if (typeof v === 'number') this.ringU32[base + i] = v >>> 0;
        else if ('f' in v) this.ringF32[base + i] = v.f;
        else this.ringI32[base + i] = v.i;
      });
      uniformSize = Math.max(16, Math.ceil((words * 4) / 16) * 16);
      this.ringUsed += Math.ceil(uniformSize / this.ringAlign) * this.ringAlign;
      key += `:u${uniformOffset}/${uniformSize}`;
    }
    for (const buffer of l.buffers) key += buffer ? `:${this.idOf(buffer)}` : ':-';
    let bindGroup = this.bindGroups.get(key);
    if (!bindGroup) {
      const entries: GPUBindGroupEntry[] = [];
      if (words)
        entries.push({
          binding: 0,
          resource: { buffer: this.ringGpu, offset: uniformOffset, size: uniformSize },
        });
      for (const [i, buffer] of l.buffers.entries())
        if (buffer) entries.push({ binding: i + 1, resource: this.bindingOf(buffer) });
      bindGroup = this.device.createBindGroup({ layout, entries });
      if (this.bindGroups.size >= BIND_GROUP_CACHE) this.bindGroups.clear();
      this.bindGroups.set(key, bindGroup);
    }

    this.ensureEncoder();
    if (this.profiling && this.querySet) {
      this.endPass();
      const q = this.pendingQueries.length * 2;
      this.pendingQueries.push({ name: l.shader, category: l.category ?? 'other' });
      const pass = this.encoder!.beginComputePass({
        timestampWrites: {
          querySet: this.querySet,
          beginningOfPassWriteIndex: q,
          endOfPassWriteIndex: q + 1,
        },
      });
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(gx, gy, gz);
      pass.end();
    } else {
      if (!this.pass) this.pass = this.encoder!.beginComputePass();
      this.pass.setPipeline(pipeline);
      this.pass.setBindGroup(0, bindGroup);
      this.pass.dispatchWorkgroups(gx, gy, gz);
    }
    this.launches++;
    if (this.guard) this.guardCheck(l, l.buffers);
    if (++this.sinceSubmit >= SUBMIT_EVERY) this.flush();
  }

  /** Fills a buffer's data with a 32-bit pattern, in order with the launches. */
  fill(buf: GPUBuffer, value: number): void {
    const n = this.byteSize(buf) / 4;
    this.launch({
      shader: 'fill_u32',
      uniforms: [n, value],
      buffers: [buf],
      grid: grid1d(Math.ceil(n / 256)),
    });
  }

  /** Records a copy from a staging buffer (not the runtime's: no canaries) to the start of dst's data. */
  copyIn(staging: GPUBuffer, dst: GPUBuffer, bytes: number): void {
    if (bytes > this.byteSize(dst) || bytes > staging.size)
      throw new RangeError(`copyIn(): ${bytes} bytes into a ${this.byteSize(dst)}-byte buffer`);
    this.ensureEncoder();
    this.endPass();
    this.encoder!.copyBufferToBuffer(staging, 0, dst, this.dataOffset(dst), bytes);
    if (this.guard) this.guardCheck('copy', [dst]);
  }

  /** Records a buffer-to-buffer copy in order with the launches (offsets into the buffers' data). */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    if (this.guard && (srcOffset + bytes > this.byteSize(src) || dstOffset + bytes > this.byteSize(dst))) {
      throw new RangeError(
        `copy(): ${bytes} bytes from offset ${srcOffset} of ${this.byteSize(src)} to offset ${dstOffset} of ${this.byteSize(dst)}`,
      );
    }
    this.ensureEncoder();
    this.endPass();
    this.encoder!.copyBufferToBuffer(
      src,
      this.dataOffset(src) + srcOffset,
      dst,
      this.dataOffset(dst) + dstOffset,
      bytes,
    );
    if (this.guard) this.guardCheck('copy', [src, dst]);
  }

  /**
   * Guard mode: checks the canaries of the buffers a launch or copy just bound, in the same pass (the
   * check kernel binds them whole). Not a launch: not counted, not timed.
   */
  private guardCheck(subject: GuardSubject, buffers: readonly (GPUBuffer | undefined)[]): void {
    const guard = this.guard!;
    const label =
      subject === 'copy'
        ? (i: number) => (i ? "the copy's destination" : "the copy's source")
        : (i: number) => `binding ${i + 1}`;
    for (const slots of guard.groups(buffers, label)) {
      const { pipeline, layout, id } = this.pipelineEntry('guard_check', guard.params(slots.length), 'main');
      let key = `${id}`;
      for (const s of slots) key += `:${this.idOf(s.buffer)}`;
      let bindGroup = this.bindGroups.get(key);
      if (!bindGroup) {
        const entries: GPUBindGroupEntry[] = [
          { binding: 0, resource: { buffer: guard.state } },
          ...slots.map((s, i) => ({ binding: i + 1, resource: { buffer: s.buffer } })),
        ];
        bindGroup = this.device.createBindGroup({ layout, entries });
        if (this.bindGroups.size >= BIND_GROUP_CACHE) this.bindGroups.clear();
        this.bindGroups.set(key, bindGroup);
      }
      this.ensureEncoder();
      if (!this.pass) this.pass = this.encoder!.beginComputePass();
      this.pass.setPipeline(pipeline);
      this.pass.setBindGroup(0, bindGroup);
      this.pass.dispatchWorkgroups(1);
      guard.recorded(subject, this.launches, slots);
    }
    guard.countChecked();
    if (guard.pendingChecks >= GUARD_CHECKS_PER_SUBMIT) this.flush();
  }

  /**
   * The whole allocation behind a buffer, guard canaries included, without verifying them (guard
   * diagnostics and tests). Waits for the work recorded so far.
   */
  async readRaw(buf: GPUBuffer): Promise<Uint32Array> {
    const staging = this.device.createBuffer({
      size: buf.size,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    this.ensureEncoder();
    this.endPass();
    this.encoder!.copyBufferToBuffer(buf, 0, staging, 0, buf.size);
    this.flush();
    try {
      await staging.mapAsync(GPUMapMode.READ);
      this.checkErrors();
      return new Uint32Array(staging.getMappedRange().slice(0));
    } finally {
      staging.destroy();
    }
  }

  /** Submits everything recorded so far. */
  flush(): void {
    if (!this.encoder) return;
    this.endPass();
    if (this.ringUsed) {
      this.device.queue.writeBuffer(this.ringGpu, 0, this.ringCpu, 0, this.ringUsed);
      this.ringUsed = 0;
    }
    let timing: {
      buf: GPUBuffer;
      resolve: GPUBuffer;
      entries: { name: string; category: KernelCategory }[];
    } | null = null;
    if (this.profiling && this.querySet && this.pendingQueries.length) {
      const n = this.pendingQueries.length * 2;
      const resolve = this.device.createBuffer({
        size: n * 8,
        usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
      });
      const buf = this.device.createBuffer({
        size: n * 8,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      });
      this.encoder.resolveQuerySet(this.querySet, 0, n, resolve, 0);
      this.encoder.copyBufferToBuffer(resolve, 0, buf, 0, n * 8);
      timing = { buf, resolve, entries: this.pendingQueries };
      this.pendingQueries = [];
    }
    this.guard?.beforeSubmit(this.encoder);
    this.device.queue.submit([this.encoder.finish()]);
    this.encoder = null;
    this.sinceSubmit = 0;
    if (timing) {
      // Only after the submit: destroying a buffer that recorded work uses invalidates the submit.
      timing.resolve.destroy();
      const { buf, entries } = timing;
      this.timingReads.push(
        buf.mapAsync(GPUMapMode.READ).then(() => {
          const t = new BigInt64Array(buf.getMappedRange());
          entries.forEach((e, i) => {
            const ns = Number(t[2 * i + 1]! - t[2 * i]!);
            this.timings.push({ name: e.name, category: e.category, ms: ns / 1e6 });
          });
          buf.destroy();
        }),
      );
    }
    this.checkErrors();
  }

  async sync(): Promise<void> {
    this.flush();
    await Promise.race([
      this.device.queue.onSubmittedWorkDone(),
      this.gpu.lost.then((r) => {
        throw deviceLost(r);
      }),
    ]);
    this.checkErrors();
    await this.guard?.verify();
  }

  get launchCount(): number {
    return this.launches;
  }

  // ---- timing -------------------------------------------------------------------------------------
  get canTime(): boolean {
    return this.gpu.caps.timestampQuery;
  }

  /** Starts per-kernel GPU timing (each launch gets its own timestamped pass, which adds a little overhead). */
  startTiming(): void {
    if (!this.canTime) throw new Error('this adapter has no timestamp-query feature');
    this.flush();
    this.querySet ??= this.device.createQuerySet({ type: 'timestamp', count: QUERY_CAPACITY });
    this.profiling = true;
    this.timings = [];
  }

  async stopTiming(): Promise<KernelTiming[]> {
    this.flush();
    this.profiling = false;
    await Promise.all(this.timingReads);
    this.timingReads = [];
    const t = this.timings;
    this.timings = [];
    return t;
  }

  destroy(): void {
    this.trim();
    this.guard?.destroy();
    this.ringGpu.destroy();
    this.querySet?.destroy();
  }
}

/** Splits n workgroups into an (x, y) grid within the per-dimension limit; kernels rebuild the flat index. */
export function grid1d(n: number, maxDim = 65535): [number, number] {
  if (n <= maxDim) return [n, 1];
  const y = Math.ceil(n / maxDim);
  return [Math.ceil(n / y), y];
}
