// Reference layout operations.

/**
 * Views src as [outer, srcAxis, inner] and dst as [outer, dstAxis, inner] and copies `count` slabs
 * src[:, srcStart + i, :] -> dst[:, dstStart + i, :].
 */
export function copyAxisRef(
  src: Float32Array | Uint32Array,
  dst: Float32Array | Uint32Array,
  outer: number,
  srcAxis: number,
  dstAxis: number,
  inner: number,
  srcStart: number,
  dstStart: number,
  count: number,
): void {
  for (let o = 0; o < outer; o++) {
    const s = (o * srcAxis + srcStart) * inner;
    const d = (o * dstAxis + dstStart) * inner;
    dst.set(src.subarray(s, s + count * inner), d);
  }
}

/** x [B, N, C], idx [B, M] -> [B, M, C]. Out-of-range indices give zero rows. */
export function gatherRef(
  x: Float32Array,
  B: number,
  N: number,
  C: number,
  idx: Uint32Array,
  M: number,
): Float32Array {
  const out = new Float32Array(B * M * C);
  for (let b = 0; b < B; b++) {
    for (let m = 0; m < M; m++) {
      const r = idx[b * M + m]!;
      if (r < N) out.set(x.subarray((b * N + r) * C, (b * N + r + 1) * C), (b * M + m) * C);
    }
  }
  return out;
}

/** Writes src [B, M, C] into rows idx [B, M] of dst [B, N, C] in place; indices >= N are skipped. */
export function scatterRef(
  src: Float32Array,
  B: number,
  M: number,
  C: number,
  idx: Uint32Array,
  dst: Float32Array,
  N: number,
): void {
  for (let b = 0; b < B; b++) {
    for (let m = 0; m < M; m++) {
      const r = idx[b * M + m]!;
      if (r < N) dst.set(src.subarray((b * M + m) * C, (b * M + m + 1) * C), (b * N + r) * C);
    }
  }
}
