// Launcher for attention: f16 with head dim 64 or 128 on adapters with subgroup matrices takes the
// tensor-core flash attention (attention_sgm.wgsl); everything else the SIMT kernel.
import type { KeyRanges } from '../backend.js';
import type { GpuBackend } from '../gpu/backend.js';
import type { Tensor } from '../tensor.js';

/** Largest query-block size the SIMT kernel can use: a power of two <= 64 dividing the key-range block. */
function simtQueryBlock(blockSize: number | undefined): number {
  for (const bq of [64, 32, 16, 8, 4, 2]) if (blockSize === undefined || blockSize % bq === 0) return bq;
  return 1;
}

/**
 * Subgroups per workgroup of the tensor-core kernel (16 query rows each): the fastest measured for
 * the head dim (8 for D=128, 4 for D=64; docs/kernels/attention.md), or fewer so that a workgroup's
 * rows never straddle two query blocks of a key-range table; 0 when not even 16 rows fit.
 */
export function sgmAttentionSubgroups(blockSize: number | undefined, D = 128): number {
  for (const sg of [8, 4, 2, 1]) {
    if (D === 64 && sg === 8) continue;
    if (blockSize === undefined || blockSize % (16 * sg) === 0) return sg;
  }
  return 0;
}

/** The subgroups per workgroup measured fastest for a head dim (docs/kernels/attention.md). */
function preferredSubgroups(D: number): number {
  return D === 64 ? 4 : 8;
}

/**
 * Whether the outer table of a key-range set lets the tensor-core kernel run its preferred workgroup
 * size where the fine blocks alone would force much smaller ones. Only for blocks of 16 or 32 rows
 * (1 or 2 subgroups: 30% of the speed of 8 in version 2's measurements): with blocks of 64 the outer
 * mode measured slower than 4-subgroup workgroups (H100, 2026-12-06: 1.00 vs 0.87 ms at 1024², 7.05 vs
 * 6.43 ms at 2048²; the union of two blocks' ranges costs more keys than the larger workgroup saves).
 */
function outerUsable(ranges: KeyRanges | undefined, D: number): boolean {
  if (!ranges?.outer) return false;
  const sg = preferredSubgroups(D);
  return (
    ranges.outer.blockSize === 16 * sg &&
    ranges.blockSize % 16 === 0 &&
    sgmAttentionSubgroups(ranges.blockSize, D) <= 2 &&
    ranges.ranges.dim(1) <= 8
  );
}

export interface SgmAttentionOptions {
  /** Lazy-rescale threshold in log2 units (P <= 2^THRESH must stay in f16 range). */
  threshold?: number;
  /** Subgroups (16 query rows each) per workgroup: 1, 2, 4 or 8; must divide a key-range block. */
  subgroups?: number;
  /**
   * Decide the rescale on the barrier that publishes P (3 barriers per key block instead of 4) and
   * rescale O after it; see attention_sgm.wgsl.
   */
  late?: boolean;
  /**
   * Stream the keys of `ranges.outer` (whose block size sets the workgroup's query rows) and mask
   * each subgroup's rows by their own block of `ranges`.
   */
  outer?: boolean;
}

export function attention(
  be: GpuBackend,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  scale: number,
  ranges: KeyRanges | undefined,
): Tensor {
  const D = q.dim(3);
  // Nothing to compute (D = 0 would also make the kernels' workgroup arrays empty, which WGSL rejects).
  if (q.size === 0) return be.alloc([q.dim(0), q.dim(2), q.dim(1) * D], q.dtype);
  if (be.paths.attention === 'subgroup-matrix' && q.dtype === 'f16' && (D === 64 || D === 128)) {
    // Short query blocks with an outer table: full-size workgroups that mask per subgroup.
    if (outerUsable(ranges, D)) return attentionSubgroupMatrix(be, q, k, v, scale, ranges, { outer: true });
    if (sgmAttentionSubgroups(ranges?.blockSize, D) > 0)
      return attentionSubgroupMatrix(be, q, k, v, scale, ranges);
  }
  return attentionSimt(be, q, k, v, scale, ranges);
}

export function attentionSimt(
  be: GpuBackend,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  scale: number,
  ranges: KeyRanges | undefined,
): Tensor {
  const [B, H, Lq, D] = q.shape as [number, number, number, number];
  const Lk = k.dim(2);
  const out = be.alloc([B, Lq, H * D], q.dtype);
  const BQ = simtQueryBlock(ranges?.blockSize);
  // K and V blocks in workgroup memory: 2 * BK * D * 4 bytes must fit (32 KiB on SwiftShader).
  const wgBytes = be.caps.limits.maxComputeWorkgroupStorageSize ?? 16384;
  let BK = 16;
  while (BK > 1 && 2 * BK * D * 4 > wgBytes) BK /= 2;
  if (2 * BK * D * 4 > wgBytes)
    throw new RangeError(
      `attention: head dim ${D} needs ${8 * D} bytes of workgroup memory, the adapter allows ${wgBytes}`,
    );
  be.rt.launch({
    shader: 'attention_simt',
    params: { T: q.dtype, F16: q.dtype === 'f16', D, BQ, BK, RANGES: !!ranges },
    uniforms: [H, Lq, Lk, { f: scale }, ranges?.blockSize ?? 1, ranges ? ranges.ranges.dim(1) : 1],
    buffers: [be.buf(q), be.buf(k), be.buf(v), be.buf(out), ranges && be.buf(ranges.ranges)],
    grid: [Math.ceil(Lq / BQ), B * H],
    category: 'attention',
  });
  return out;
}

/** The tensor-core kernel: f16, D = 64 or 128. */
export function attentionSubgroupMatrix(
  be: GpuBackend,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  scale: number,
  ranges: KeyRanges | undefined,
  opts: SgmAttentionOptions = {},
): Tensor {
  const [B, H, Lq, D] = q.shape as [number, number, number, number];
  const Lk = k.dim(2);
  if (q.dtype !== 'f16' || (D !== 64 && D !== 128)) {
    throw new TypeError(`attention_sgm: needs f16 with head dim 64 or 128, got ${q.dtype} D=${D}`);
  }
  const outer = opts.outer ? ranges?.outer : undefined;
  if (opts.outer && (!outer || ranges!.blockSize % 16 !== 0 || outer.blockSize % 16 !== 0)) {
    throw new RangeError(
      'attention_sgm: the outer mode needs keyRanges.outer and block sizes that are multiples of 16',
    );
  }
  const SG = outer ? outer.blockSize / 16 : (opts.subgroups ?? sgmAttentionSubgroups(ranges?.blockSize, D));
  if (
    ![1, 2, 4, 8].includes(SG) ||
    (ranges && !outer && ranges.blockSize % (16 * SG) !== 0) ||
    (outer && outer.blockSize % ranges!.blockSize !== 0)
  ) {
    throw new RangeError(
      `attention_sgm: ${SG} subgroups of 16 query rows do not tile keyRanges.blockSize ${ranges?.blockSize}`,
    );
  }
  const threshold = opts.threshold ?? 14;
  // P = 2^(score - lazy max) <= 2^threshold must stay finite in f16 (max 65504).
  if (!(threshold >= 0 && threshold <= 15)) {
    throw new RangeError(`attention_sgm: threshold must be in [0, 15], got ${threshold}`);
  }
  const out = be.alloc([B, Lq, H * D], 'f16');
  be.rt.launch({
    shader: 'attention_sgm',
    params: {
      D,
      D128: D === 128,
      SG,
      THRESH: threshold.toFixed(1),
      RANGES: !!ranges,
      OUTER: !!outer,
      ...(outer ? { FINE_R: ranges!.ranges.dim(1) } : {}),
      // Measured: late rescale helps D=64 (fewer barriers matter more there), not D=128.
      LATE: opts.late ?? D === 64,
    },
    uniforms: [
      H,
      Lq,
      Lk,
      { f: scale * Math.LOG2E },
      ranges?.blockSize ?? 1,
      ranges ? ranges.ranges.dim(1) : 1,
      outer?.blockSize ?? 1,
      outer ? outer.ranges.dim(1) : 1,
    ],
    buffers: [
      be.buf(q),
      be.buf(k),
      be.buf(v),
      be.buf(out),
      ranges && be.buf(ranges.ranges),
      outer && be.buf(outer.ranges),
    ],
    grid: [Math.ceil(Lq / (16 * SG)), B * H],
    category: 'attention',
  });
  return out;
}
