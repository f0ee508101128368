// Launcher for attention: picks the kernel variant for this adapter (src/kernels/paths.ts).
import type { KeyRanges } from '../backend.js';
import type { GpuBackend } from '../gpu/backend.js';
import type { Tensor } from '../tensor.js';

/** Largest query-block size the SIMT kernel can use: a power of two <= 64 dividing the key-range block. */
function simtQueryBlock(blockSize: number | undefined): number {
  for (const bq of [64, 32, 16, 8, 4, 2]) if (blockSize === undefined || blockSize % bq === 0) return bq;
  return 1;
}

export function attention(
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
