// Launcher for matmul() with a weight in a ggml block format (QuantizedMatrix).
import type { MatmulOptions } from '../backend.js';
import type { GpuBackend } from '../gpu/backend.js';
import type { QuantizedMatrix } from '../quant/quantized-matrix.js';
import type { Tensor } from '../tensor.js';
import type { Shape } from '../util/shape.js';

export function matmulQuant(
  _be: GpuBackend,
  _x: Tensor,
  w: QuantizedMatrix,
  _o: MatmulOptions,
  _M: number,
  _N: number,
  _K: number,
  _outShape: Shape,
): Tensor {
  throw new Error(`matmul with a ${w.type} weight on WebGPU: not implemented yet`);
}
