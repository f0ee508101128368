// Launchers for row-wise kernels: LayerNorm, RMSNorm, adaLN modulation (fused with LayerNorm), softmax.
import type { GpuBackend } from '../gpu/backend.js';
import { grid1d } from '../gpu/runtime.js';
import type { Tensor } from '../tensor.js';

interface NormSpec {
  mode: 0 | 1 | 2;
  eps: number;
  weight?: Tensor;
  bias?: Tensor;
  shift?: Tensor;
  scale?: Tensor;
  columns?: { shift: number; scale: number };
}

function norm(be: GpuBackend, x: Tensor, s: NormSpec): Tensor {
  const C = x.dim(-1);
  const y = be.alloc(x.shape, x.dtype);
  if (y.size === 0) return y; // rows of no values, or no rows (and x.size / C would be NaN)
  const rows = x.size / C;
  const rowsPerBatch = s.shift ? rows / s.shift.dim(0) : 1;
  be.rt.launch({
    shader: 'norm',
    params: {
      T: x.dtype,
      F16: x.dtype === 'f16',
      MODE: s.mode,
      WEIGHT: !!s.weight,
      BIAS: !!s.bias,
      MODULATE: !!s.shift,
    },
    uniforms: [
      rows,
      C,
      rowsPerBatch,
      { f: s.eps },
      s.shift ? s.shift.dim(1) : C,
      s.columns?.shift ?? 0,
      s.columns?.scale ?? 0,
    ],
    buffers: [
      be.buf(x),
      be.buf(y),
      s.weight && be.buf(s.weight),
      s.bias && be.buf(s.bias),
      s.shift && be.buf(s.shift),
      s.scale && be.buf(s.scale),
    ],
    grid: grid1d(rows),
  });
  return y;
}

export function layerNorm(
  be: GpuBackend,
  x: Tensor,
  weight: Tensor | undefined,
  bias: Tensor | undefined,
  eps: number,
): Tensor {
  return norm(be, x, { mode: 1, eps, weight, bias });
}

export function rmsNorm(be: GpuBackend, x: Tensor, weight: Tensor | undefined, eps: number): Tensor {
  return norm(be, x, { mode: 2, eps, weight });
}

export function modulate(
  be: GpuBackend,
  x: Tensor,
  shift: Tensor,
  scale: Tensor,
  normEps: number | undefined,
  columns: { shift: number; scale: number } = { shift: 0, scale: 0 },
): Tensor {
  return norm(be, x, { mode: normEps === undefined ? 0 : 1, eps: normEps ?? 0, shift, scale, columns });
}

export function softmax(be: GpuBackend, x: Tensor): Tensor {
  const C = x.dim(-1);
  const y = be.alloc(x.shape, x.dtype);
  if (y.size === 0) return y;
  const rows = x.size / C;
  be.rt.launch({
    shader: 'softmax',
    params: { T: x.dtype, F16: x.dtype === 'f16' },
    uniforms: [rows, C],
    buffers: [be.buf(x), be.buf(y)],
    grid: grid1d(rows),
  });
  return y;
}
