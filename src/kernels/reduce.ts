// Launchers for reductions: absDiffSums (abs_diff_partial, then abs_diff_combine).
import type { GpuBackend } from '../gpu/backend.js';
import type { Tensor } from '../tensor.js';

/**
 * Elements per chunk: at least 4 per thread of the 256, and at most 1024 chunks per row, so each
 * thread's serial f32 sum stays short (48 values for a 4096 x 3072 row) and phase 2 reads few partials.
 */
export function absDiffChunkSize(per: number): number {
  return Math.max(1024, Math.ceil(per / 1024));
}

export function absDiffSums(be: GpuBackend, x: Tensor, ref: Tensor): Tensor {
  const rows = x.dim(0);
  const per = x.size / rows;
  const out = be.alloc([rows, 2], 'f32');
  if (rows === 0) return out;
  if (per === 0) {
    be.rt.fill(be.buf(out), 0);
    return out;
  }
  const chunkSize = absDiffChunkSize(per);
  const chunks = Math.ceil(per / chunkSize);
  const partial = be.alloc([rows, chunks, 2], 'f32');
  be.rt.launch({
    shader: 'abs_diff_partial',
    params: { T: x.dtype, F16: x.dtype === 'f16' },
    uniforms: [per, chunkSize, chunks],
    buffers: [be.buf(x), be.buf(ref), be.buf(partial)],
    grid: [chunks, rows],
  });
  be.rt.launch({
    shader: 'abs_diff_combine',
    uniforms: [chunks],
    buffers: [be.buf(partial), be.buf(out)],
    grid: [rows],
  });
  partial.dispose();
  return out;
}
