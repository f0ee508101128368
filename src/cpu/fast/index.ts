// The fast path's two operations, each returning undefined where the fast path cannot run the call
// (unavailable, or the operands exceed its memory): the caller then runs the plain one
// (../kernels.ts makes that choice).
import type { AttentionRefShape } from '../attention.js';
import { applyEpilogue, type MatmulRefOptions } from '../matmul.js';
import { MR, NR } from './kernels.js';
import { packColumns, packPanels } from './pack.js';
import { fastCpu } from './pool.js';
import {
  ACTIVATIONS,
  ATTENTION_JOB_TILES,
  attentionScratchBytes,
  CONTROL_BYTES,
  writeAttentionParams,
  writeMatmulParams,
} from './tasks.js';

/** A bump allocator over the shared memory, 16-byte aligned, after the control block. */
class Layout {
  end = CONTROL_BYTES;
  take(bytes: number): number {
    const at = this.end;
    this.end += Math.ceil(bytes / 16) * 16;
    return at;
  }
}

/** Rows of A per job: a block of [KC] x 128 rows (128 KiB) stays in L2, and each thread gets several. */
function matmulJobTiles(mTiles: number, threads: number): number {
  return Math.max(1, Math.min(32, Math.ceil(mTiles / (threads * 4))));
}

/** matmulRef's function (y = act(x·wᵀ + bias) * gate + residual) with f32 accumulation. */
export function matmulWasm(
  x: Float32Array,
  w: Float32Array,
  M: number,
  N: number,
  K: number,
  o: MatmulRefOptions = {},
): Float32Array | undefined {
  if (o.activation === 'gelu') {
    // the WebAssembly epilogue has no erf: the product and bias there, the rest here in the same order
    const y = matmulWasm(x, w, M, N, K, { bias: o.bias });
    if (y) applyEpilogue(y, M, N, { ...o, bias: undefined });
    return y;
  }
  const fast = fastCpu();
  if (!fast || M === 0 || N === 0 || K === 0) return undefined;
  const mTiles = Math.ceil(M / MR);
  const nPanels = Math.ceil(N / NR);
  const ldc = nPanels * NR;
  const L = new Layout();
  const xp = L.take(M * K * 4);
  const ap = L.take(mTiles * MR * K * 4);
  const bp = L.take(nPanels * NR * K * 4);
  const cp = L.take(mTiles * MR * ldc * 4);
  const bias = o.bias ? L.take(N * 4) : 0;
  const gate = o.gate ? L.take(o.gate.length * 4) : 0;
  const residual = o.residual ? L.take(M * N * 4) : 0;
  // slack: the epilogue reads whole groups of four, up to three floats past an operand
  if (!fast.reserve(L.end + 16)) return undefined;
  const { f32, i32 } = fast.ctx;
  f32.set(x.subarray(0, M * K), xp / 4);
  packColumns(w, N, K, f32, bp / 4);
  if (o.bias) f32.set(o.bias.subarray(0, N), bias / 4);
  if (o.gate) f32.set(o.gate, gate / 4);
  if (o.residual) f32.set(o.residual.subarray(0, M * N), residual / 4);
  const jobTiles = matmulJobTiles(mTiles, fast.threads);
  const nJobs = Math.ceil(mTiles / jobTiles);
  writeMatmulParams(i32, {
    M,
    N,
    K,
    xp,
    ap,
    bp,
    cp,
    jobTiles,
    nJobs,
    act: ACTIVATIONS.indexOf(o.activation ?? 'none'),
    bias,
    gate,
    gateRows: o.gateRows ?? 1,
    gateStride: o.gateStride ?? N,
    gateColumn: o.gateColumn ?? 0,
    residual,
  });
  fast.run(nJobs);
  const y = new Float32Array(M * N);
  const c = fast.ctx.f32; // the same memory; run() does not grow it
  if (ldc === N) y.set(c.subarray(cp / 4, cp / 4 + M * N));
  else for (let m = 0; m < M; m++) y.set(c.subarray(cp / 4 + m * ldc, cp / 4 + m * ldc + N), m * N);
  return y;
}

/** attentionRef's function without a mask (q [B,H,Lq,D], k/v [B,H,Lk,D] -> [B,Lq,H*D]), f32 products. */
export function attentionWasm(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  s: AttentionRefShape,
  scale: number,
): Float32Array | undefined {
  const fast = fastCpu();
  const { B, H, Lq, Lk, D } = s;
  if (!fast || B * H * Lq * Lk * D === 0) return undefined;
  const BH = B * H;
  const qTiles = Math.ceil(Lq / MR);
  const kPanels = Math.ceil(Lk / NR);
  const dPanels = Math.ceil(D / NR);
  const L = new Layout();
  const qx = L.take(BH * Lq * D * 4);
  const qp = L.take(BH * qTiles * MR * D * 4);
  const kp = L.take(BH * kPanels * NR * D * 4);
  const vp = L.take(BH * dPanels * NR * Lk * 4);
  const out = L.take(B * Lq * H * D * 4);
  const scratchBytes = attentionScratchBytes(Lk, D);
  const scratch = L.take(fast.threads * scratchBytes);
  if (!fast.reserve(L.end)) return undefined;
  const f32 = fast.ctx.f32;
  f32.set(q.subarray(0, BH * Lq * D), qx / 4);
  for (let bh = 0; bh < BH; bh++) {
    packColumns(k.subarray(bh * Lk * D, (bh + 1) * Lk * D), Lk, D, f32, kp / 4 + bh * kPanels * NR * D);
    packPanels(v.subarray(bh * Lk * D, (bh + 1) * Lk * D), Lk, D, f32, vp / 4 + bh * dPanels * NR * Lk);
  }
  const jobTiles = ATTENTION_JOB_TILES;
  writeAttentionParams(fast.ctx.i32, {
    B,
    H,
    Lq,
    Lk,
    D,
    qx,
    scale,
    qp,
    kp,
    vp,
    out,
    scratch,
    scratchBytes,
    jobTiles,
  });
  fast.run(BH * Math.ceil(qTiles / jobTiles));
  return fast.ctx.f32.slice(out / 4, out / 4 + B * Lq * H * D);
}
