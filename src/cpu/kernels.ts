// Which implementation the CPU backend runs: the WebAssembly SIMD path on worker threads (fast/) where
// it can run the call, else the plain TypeScript one. matmulRef and attentionRef stay the references
// both are tested against.
import type { AttentionRefShape } from './attention.js';
import { attentionFast } from './attention.js';
import { attentionWasm, matmulWasm } from './fast/index.js';
import { type MatmulRefOptions, matmulBlocked } from './matmul.js';

/** y[M, N] = act(x[M, K] · w[N, K]ᵀ + bias) * gate + residual; `fast` false: the plain path only. */
export function cpuMatmul(
  fast: boolean,
  x: Float32Array,
  w: Float32Array,
  M: number,
  N: number,
  K: number,
  o: MatmulRefOptions = {},
): Float32Array {
  return (fast ? matmulWasm(x, w, M, N, K, o) : undefined) ?? matmulBlocked(x, w, M, N, K, o);
}

/** q [B, H, Lq, D], k/v [B, H, Lk, D] -> [B, Lq, H*D]; key ranges (sparse attention) run in TypeScript. */
export function cpuAttention(
  fast: boolean,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  s: AttentionRefShape,
  scale: number,
  keyRanges?: { ranges: Uint32Array; maxRanges: number; blockSize: number },
): Float32Array {
  return (
    (fast && !keyRanges ? attentionWasm(q, k, v, s, scale) : undefined) ??
    attentionFast(q, k, v, s, scale, keyRanges)
  );
}
