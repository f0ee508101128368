// Launcher for attention with an additive bias, causal masking and key padding (masked_attention.wgsl).
import type { MaskedAttentionOptions } from '../backend.js';
import type { GpuBackend } from '../gpu/backend.js';
import type { Tensor } from '../tensor.js';

export function maskedAttention(
  be: GpuBackend,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  scale: number,
  o: MaskedAttentionOptions,
): Tensor {
  const [B, H, Lq, D] = q.shape as [number, number, number, number];
  const Lk = k.dim(2);
  const out = be.alloc([B, Lq, H * D], q.dtype);
  if (out.size === 0) return out; // nothing to compute (D = 0 would also give WGSL empty arrays)
  const BQ = 64;
  // K and V blocks in workgroup memory: 2 * BK * D * 4 bytes must fit
  const wgBytes = be.caps.limits.maxComputeWorkgroupStorageSize ?? 16384;
  let BK = 16;
  while (BK > 1 && 2 * BK * D * 4 + 4 * BK > wgBytes) BK /= 2;
  if (2 * BK * D * 4 + 4 * BK > wgBytes)
    throw new RangeError(
      `maskedAttention: head dim ${D} needs ${8 * D + 4} bytes of workgroup memory, the adapter allows ${wgBytes}`,
    );
  be.rt.launch({
    shader: 'masked_attention',
    params: {
      T: q.dtype,
      F16: q.dtype === 'f16',
      D,
      BQ,
      BK,
      CAUSAL: !!o.causal,
      BIAS: !!o.bias,
      KEYMASK: !!o.keyMask,
    },
    uniforms: [H, Lq, Lk, { f: scale }, o.bias?.rank === 4 ? H * Lq * Lk : 0],
    buffers: [
      be.buf(q),
      be.buf(k),
      be.buf(v),
      be.buf(out),
      o.bias && be.buf(o.bias),
      o.keyMask && be.buf(o.keyMask),
    ],
    grid: [Math.ceil(Lq / BQ), B * H],
    category: 'attention',
  });
  return out;
}
