// The work every thread (the main one and the pool's workers) does for one task: take the next job
// from a shared counter until none is left. A task's inputs, packed, and its parameters lie in the
// shared memory; the main thread writes them (gemm.ts) and reads the results.
import type { Activation } from '../../backend.js';
import { activate } from '../elementwise.js';
import { type KernelExports, MR, NR } from './kernels.js';

/** Int32 slots of the control block at the start of the memory. */
export const CTL = {
  /** bumped by the main thread to start a task; workers wait on it */
  generation: 0,
  /** the next job to take */
  next: 1,
  /** workers still busy with the current task */
  pending: 2,
  /** workers started and waiting */
  ready: 3,
  /** set by a worker whose job threw */
  failed: 4,
  kind: 5,
  /** first int32 parameter */
  params: 8,
  /** first float64 parameter, as an index of a Float64Array over the same memory */
  f64Params: 32,
} as const;
/** Bytes reserved for the control block; operands start after it. */
export const CONTROL_BYTES = 1024;

export const TASK = { matmul: 1, attention: 2 } as const;

export const ACTIVATIONS: readonly Activation[] = ['none', 'gelu_tanh', 'silu'];

/** Rows of the k loop per kernel call: a [KC][NR] panel of B (8 KiB) stays in L1. */
export const KC = 256;

/** One thread's handles on the shared memory. */
export class ThreadContext {
  f32!: Float32Array;
  i32!: Int32Array;
  f64!: Float64Array;
  private length = -1;

  constructor(
    readonly memory: WebAssembly.Memory,
    readonly kernels: KernelExports,
    /** 0 = the main thread, workers 1.. */
    readonly thread: number,
  ) {
    this.refresh();
  }

  /** New views after the memory grew (another thread may have grown it). */
  refresh(): void {
    const buffer = this.memory.buffer;
    if (buffer.byteLength === this.length) return;
    this.length = buffer.byteLength;
    this.f32 = new Float32Array(buffer);
    this.i32 = new Int32Array(buffer);
    this.f64 = new Float64Array(buffer);
  }
}

/** Runs jobs of the current task until the shared counter passes the last one. */
export function runJobs(ctx: ThreadContext): void {
  ctx.refresh();
  const p = ctx.i32.subarray(CTL.params, CTL.params + 24);
  const kind = ctx.i32[CTL.kind];
  const nJobs = kind === TASK.matmul ? p[10]! : p[16]!;
  for (;;) {
    const job = Atomics.add(ctx.i32, CTL.next, 1);
    if (job >= nJobs) return;
    if (kind === TASK.matmul) matmulJob(ctx, p, job);
    else attentionJob(ctx, p, job);
  }
}

/** The int32 parameters of a matmul task, in order. */
export interface MatmulParams {
  M: number;
  N: number;
  K: number;
  ap: number;
  bp: number;
  cp: number;
  /** A tiles per job */
  jobTiles: number;
  nJobs: number;
  act: number;
  bias: number;
  gate: number;
  gateRows: number;
  gateStride: number;
  gateColumn: number;
  residual: number;
}

export function writeMatmulParams(i32: Int32Array, o: MatmulParams): void {
  const mTiles = Math.ceil(o.M / MR);
  const nPanels = Math.ceil(o.N / NR);
  i32[CTL.kind] = TASK.matmul;
  i32.set(
    [
      o.M,
      o.N,
      o.K,
      mTiles,
      nPanels,
      o.ap,
      o.bp,
      o.cp,
      nPanels * NR * 4,
      o.jobTiles,
      o.nJobs,
      o.act,
      o.bias,
      o.gate,
      o.gateRows,
      o.gateStride,
      o.gateColumn,
      o.residual,
    ],
    CTL.params,
  );
}

/** C rows of one job: the kernel over k blocks, then the epilogue on those rows. */
function matmulJob(ctx: ThreadContext, p: Int32Array, job: number): void {
  const [M, N, K, mTiles, nPanels, ap, bp, cp, ldc, jobTiles] = p as unknown as number[];
  const t0 = job * jobTiles!;
  const tiles = Math.min(jobTiles!, mTiles! - t0);
  for (let k0 = 0; k0 < K!; k0 += KC) {
    const kc = Math.min(KC, K! - k0);
    ctx.kernels.gemm(
      ap! + (t0 * K! + k0) * MR * 4,
      bp! + k0 * NR * 4,
      cp! + t0 * MR * ldc!,
      ldc!,
      kc,
      K! * MR * 4,
      K! * NR * 4,
      tiles,
      nPanels!,
      k0 > 0 ? 1 : 0,
    );
  }
  const r0 = t0 * MR;
  const r1 = Math.min(M!, (t0 + tiles) * MR);
  epilogue(ctx, p, r0, r1, M!, N!, ldc! / 4);
}

/** bias, activation, gate and residual on rows [r0, r1) of C, in matmulRef's order. */
function epilogue(
  ctx: ThreadContext,
  p: Int32Array,
  r0: number,
  r1: number,
  M: number,
  N: number,
  ldc: number,
): void {
  const [act, bias, gate, gateRows, gateStride, gateColumn, residual] = [
    p[11]!,
    p[12]!,
    p[13]!,
    p[14]!,
    p[15]!,
    p[16]!,
    p[17]!,
  ];
  if (act === 0 && !bias && !gate && !residual) return;
  const f = ctx.f32;
  const c = p[7]! / 4;
  const activation = ACTIVATIONS[act]!;
  const rowsPerGate = gate ? M / gateRows : 0;
  for (let m = r0; m < r1; m++) {
    const y = c + m * ldc;
    const g = gate ? gate / 4 + Math.floor(m / rowsPerGate) * gateStride + gateColumn : 0;
    const res = residual / 4 + m * N;
    for (let n = 0; n < N; n++) {
      let v = f[y + n]!;
      if (bias) v += f[bias / 4 + n]!;
      if (act) v = activate(v, activation);
      if (gate) v *= f[g + n]!;
      if (residual) v += f[res + n]!;
      f[y + n] = v;
    }
  }
}

/** The int32 parameters of an attention task (no key ranges), in order. */
export interface AttentionParams {
  B: number;
  H: number;
  Lq: number;
  Lk: number;
  D: number;
  /** packed Q tiles, K panels and V panels of every (b, h); the output [B, Lq, H*D] */
  qp: number;
  kp: number;
  vp: number;
  out: number;
  /** per-thread scratch: thread t's at scratch + t * scratchBytes */
  scratch: number;
  scratchBytes: number;
  /** query tiles per job */
  jobTiles: number;
}

/** Query tiles per attention job: the scores of 64 rows against every key stay in L2 for small Lk. */
export const ATTENTION_JOB_TILES = 16;

/** Scratch bytes one thread needs for attention over Lk keys of D dims. */
export function attentionScratchBytes(Lk: number, D: number): number {
  const rows = ATTENTION_JOB_TILES * MR;
  const kPanels = Math.ceil(Lk / NR);
  const dPanels = Math.ceil(D / NR);
  return 4 * (rows * kPanels * NR + rows * Lk + rows * dPanels * NR);
}

export function writeAttentionParams(i32: Int32Array, f64: Float64Array, o: AttentionParams, scale: number) {
  const qTiles = Math.ceil(o.Lq / MR);
  const jobsPerHead = Math.ceil(qTiles / o.jobTiles);
  i32[CTL.kind] = TASK.attention;
  i32.set(
    [
      o.B,
      o.H,
      o.Lq,
      o.Lk,
      o.D,
      o.qp,
      o.kp,
      o.vp,
      o.out,
      o.scratch,
      o.scratchBytes,
      o.jobTiles,
      qTiles,
      jobsPerHead,
      0,
      0,
      o.B * o.H * jobsPerHead,
    ],
    CTL.params,
  );
  f64[CTL.f64Params] = scale;
}

/**
 * One block of query rows of one (b, h): S = Q Kᵀ by the kernel, softmax rows in JS (f64 sums)
 * written straight into the packed layout of the second product, then O = P V by the kernel.
 */
function attentionJob(ctx: ThreadContext, p: Int32Array, job: number): void {
  const [, H, Lq, Lk, D, qp, kp, vp, out, scratch, scratchBytes, jobTiles, qTiles, jobsPerHead] =
    p as unknown as number[];
  const scale = ctx.f64[CTL.f64Params]!;
  const bh = Math.floor(job / jobsPerHead!);
  const t0 = (job % jobsPerHead!) * jobTiles!;
  const tiles = Math.min(jobTiles!, qTiles! - t0);
  const kPanels = Math.ceil(Lk! / NR);
  const dPanels = Math.ceil(D! / NR);
  const rows = ATTENTION_JOB_TILES * MR;
  const ldS = kPanels * NR;
  const ldO = dPanels * NR;
  const sAt = scratch! + ctx.thread * scratchBytes!;
  const pAt = sAt + rows * ldS * 4;
  const oAt = pAt + rows * Lk! * 4;
  const qAt = qp! + (bh * qTiles! + t0) * D! * MR * 4;
  const kAt = kp! + bh * kPanels * D! * NR * 4;
  const vAt = vp! + bh * dPanels * Lk! * NR * 4;
  for (let k0 = 0; k0 < D!; k0 += KC) {
    const kc = Math.min(KC, D! - k0);
    ctx.kernels.gemm(
      qAt + k0 * MR * 4,
      kAt + k0 * NR * 4,
      sAt,
      ldS * 4,
      kc,
      D! * MR * 4,
      D! * NR * 4,
      tiles,
      kPanels,
      k0 > 0 ? 1 : 0,
    );
  }
  const f = ctx.f32;
  const s = sAt / 4;
  const pk = pAt / 4;
  const inv = new Float64Array(tiles * MR);
  for (let r = 0; r < tiles * MR; r++) {
    const row = s + r * ldS;
    let max = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < Lk!; j++) max = Math.max(max, f[row + j]! * scale);
    let sum = 0;
    const tile = pk + Math.floor(r / MR) * Lk! * MR + (r % MR);
    for (let j = 0; j < Lk!; j++) {
      const e = Math.exp(f[row + j]! * scale - max);
      f[tile + j * MR] = e;
      sum += e;
    }
    inv[r] = 1 / sum;
  }
  for (let k0 = 0; k0 < Lk!; k0 += KC) {
    const kc = Math.min(KC, Lk! - k0);
    ctx.kernels.gemm(
      pAt + k0 * MR * 4,
      vAt + k0 * NR * 4,
      oAt,
      ldO * 4,
      kc,
      Lk! * MR * 4,
      Lk! * NR * 4,
      tiles,
      dPanels,
      k0 > 0 ? 1 : 0,
    );
  }
  const b = Math.floor(bh / H!);
  const h = bh % H!;
  const o = oAt / 4;
  const rowEnd = Math.min(Lq!, (t0 + tiles) * MR);
  for (let i = t0 * MR; i < rowEnd; i++) {
    const src = o + (i - t0 * MR) * ldO;
    const dst = out! / 4 + (b * Lq! + i) * H! * D! + h * D!;
    const scaleRow = inv[i - t0 * MR]!;
    for (let d = 0; d < D!; d++) f[dst + d] = f[src + d]! * scaleRow;
  }
}
