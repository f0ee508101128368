// The work every thread (the main one and the pool's workers) does for one task: take the next job
// from a shared counter until none is left. A task's inputs, packed, and its parameters lie in the
// shared memory; the main thread writes them (gemm.ts) and reads the results.
import type { Activation } from '../../backend.js';
import { type KernelExports, MR, NR } from './kernels.js';
import { packRows } from './pack.js';

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
} as const;
/** Bytes reserved for the control block; operands start after it. */
export const CONTROL_BYTES = 1024;

export const TASK = { matmul: 1, attention: 2 } as const;

/** The WebAssembly epilogue's activation codes; exact GELU runs its erf in TypeScript (index.ts). */
export const ACTIVATIONS: readonly Activation[] = ['none', 'gelu_tanh', 'silu'];

/** Rows of the k loop per kernel call: a [KC][NR] panel of B (8 KiB) stays in L1. */
export const KC = 256;

/** One thread's handles on the shared memory. */
export class ThreadContext {
  f32!: Float32Array;
  i32!: Int32Array;
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
  /** x row-major (each job packs its rows into ap) */
  xp: number;
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
      o.xp,
    ],
    CTL.params,
  );
}

/** C rows of one job: the kernel over k blocks, then the epilogue on those rows. */
function matmulJob(ctx: ThreadContext, p: Int32Array, job: number): void {
  const [M, N, K, mTiles, nPanels, ap, bp, cp, ldc, jobTiles] = p as unknown as number[];
  const t0 = job * jobTiles!;
  const tiles = Math.min(jobTiles!, mTiles! - t0);
  const r0 = t0 * MR;
  const r1 = Math.min(M!, (t0 + tiles) * MR);
  const xp = p[18]! / 4;
  packRows(ctx.f32.subarray(xp + r0 * K!, xp + r1 * K!), r1 - r0, K!, ctx.f32, ap! / 4 + t0 * K! * MR);
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
  epilogue(ctx, p, r0, r1, M!, N!, ldc! / 4);
}

/** bias, activation, gate and residual on rows [r0, r1) of C, in matmulRef's order (in the kernel). */
function epilogue(
  ctx: ThreadContext,
  p: Int32Array,
  r0: number,
  r1: number,
  M: number,
  N: number,
  ldc: number,
): void {
  const [cp, act, bias, gate, gateRows, gateStride, gateColumn, residual] = [
    p[7]!,
    p[11]!,
    p[12]!,
    p[13]!,
    p[14]!,
    p[15]!,
    p[16]!,
    p[17]!,
  ];
  if (act === 0 && !bias && !gate && !residual) return;
  const rowsPerGate = gate ? M / gateRows : 0;
  // whole groups of four: the row's padding columns take the excess (operands have slack after them)
  const groups = Math.ceil(N / 4);
  for (let m = r0; m < r1; m++) {
    const g = gate ? gate + (Math.floor(m / rowsPerGate) * gateStride + gateColumn) * 4 : 0;
    ctx.kernels.epilogue(cp + m * ldc * 4, bias, g, residual ? residual + m * N * 4 : 0, groups, act);
  }
}

/** The int32 parameters of an attention task (no key ranges), in order. */
export interface AttentionParams {
  B: number;
  H: number;
  Lq: number;
  Lk: number;
  D: number;
  /** q as given (each job packs its rows, times the scale, into qp) */
  qx: number;
  scale: number;
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

/** Scratch bytes one thread needs for attention over Lk keys of D dims: S, P, O and row sums. */
export function attentionScratchBytes(Lk: number, D: number): number {
  const rows = ATTENTION_JOB_TILES * MR;
  const kPanels = Math.ceil(Lk / NR);
  const dPanels = Math.ceil(D / NR);
  return 4 * (rows * kPanels * NR + rows * roundUp4(Lk) + rows * dPanels * NR + rows);
}

const roundUp4 = (n: number) => Math.ceil(n / 4) * 4;

export function writeAttentionParams(i32: Int32Array, o: AttentionParams) {
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
      o.qx,
      0, // the scale, as an f32 below
    ],
    CTL.params,
  );
  new Float32Array(i32.buffer, i32.byteOffset)[CTL.params + 18] = o.scale;
}

/**
 * One block of query rows of one (b, h): S = Q Kᵀ, softmax rows written straight into the packed
 * layout of the second product, O = P V, all by the kernel; then O / row sums into the output.
 */
function attentionJob(ctx: ThreadContext, p: Int32Array, job: number): void {
  const [, H, Lq, Lk, D, qp, kp, vp, out, scratch, scratchBytes, jobTiles, qTiles, jobsPerHead] =
    p as unknown as number[];
  const bh = Math.floor(job / jobsPerHead!);
  const t0 = (job % jobsPerHead!) * jobTiles!;
  const tiles = Math.min(jobTiles!, qTiles! - t0);
  const kPanels = Math.ceil(Lk! / NR);
  const dPanels = Math.ceil(D! / NR);
  const Lk4 = roundUp4(Lk!);
  const rows = ATTENTION_JOB_TILES * MR;
  const ldS = kPanels * NR;
  const ldO = dPanels * NR;
  const sAt = scratch! + ctx.thread * scratchBytes!;
  const pAt = sAt + rows * ldS * 4;
  const oAt = pAt + rows * Lk4 * 4;
  const sumsAt = oAt + rows * ldO * 4;
  const qAt = qp! + (bh * qTiles! + t0) * D! * MR * 4;
  const f = ctx.f32;
  const q0 = p[17]! / 4 + (bh * Lq! + t0 * MR) * D!;
  const qRows = Math.min(Lq!, (t0 + tiles) * MR) - t0 * MR;
  // the scale goes into Q, so the softmax sees final scores (and padding keys stay at -Infinity)
  packRows(f.subarray(q0, q0 + qRows * D!), qRows, D!, f, qAt / 4, f[CTL.params + 18]!);
  const kAt = kp! + bh * kPanels * D! * NR * 4;
  const vAt = vp! + bh * dPanels * Lk! * NR * 4;
  const k = ctx.kernels;
  for (let k0 = 0; k0 < D!; k0 += KC) {
    const kc = Math.min(KC, D! - k0);
    k.gemm(
      qAt + k0 * MR * 4,
      kAt + k0 * NR * 4,
      sAt,
      ldS * 4,
      kc,
      D! * MR * 4,
      D! * NR * 4,
      tiles,
      kPanels,
      k0 ? 1 : 0,
    );
  }
  if (Lk4 > Lk!) {
    // the padding keys' scores (0 from the zero-padded panels) must not count
    for (let r = 0; r < tiles * MR; r++)
      f.fill(Number.NEGATIVE_INFINITY, sAt / 4 + r * ldS + Lk!, sAt / 4 + r * ldS + Lk4);
  }
  for (let t = 0; t < tiles; t++) {
    k.softmax(sAt + t * MR * ldS * 4, ldS * 4, pAt + t * Lk4 * MR * 4, Lk4 / 4, sumsAt + t * MR * 4);
  }
  for (let k0 = 0; k0 < Lk!; k0 += KC) {
    const kc = Math.min(KC, Lk! - k0);
    k.gemm(
      pAt + k0 * MR * 4,
      vAt + k0 * NR * 4,
      oAt,
      ldO * 4,
      kc,
      Lk4 * MR * 4,
      Lk! * NR * 4,
      tiles,
      dPanels,
      k0 ? 1 : 0,
    );
  }
  const b = Math.floor(bh / H!);
  const h = bh % H!;
  const o = oAt / 4;
  const rowEnd = Math.min(Lq!, (t0 + tiles) * MR);
  for (let i = t0 * MR; i < rowEnd; i++) {
    const src = o + (i - t0 * MR) * ldO;
    const dst = out! / 4 + (b * Lq! + i) * H! * D! + h * D!;
    const inv = 1 / f[sumsAt / 4 + i - t0 * MR]!;
    for (let d = 0; d < D!; d++) f[dst + d] = f[src + d]! * inv;
  }
}
