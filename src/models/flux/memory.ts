// What a Flux transformer run needs in memory, estimated from the config and the run's sizes before
// anything is loaded: the parameters in the compute dtype plus the largest activations of one block
// (attention is computed in row blocks on every backend, so no L x L matrix is held).
import { bytesText, type MemoryNeed } from '../limits.js';
import type { FluxConfig } from './config.js';
import { mlpHidden } from './config.js';
import { canonicalShapes } from './layouts.js';

export interface FluxRunSize {
  /** Bytes per stored value: 4 for f32 (and for f16 on the CPU backend, which stores f32), 2 for f16. */
  valueBytes: number;
  batch: number;
  imageTokens: number;
  textTokens: number;
}

/** Parameter bytes and the largest parameter, in the compute dtype. */
export function fluxParamBytes(c: FluxConfig, valueBytes: number): { bytes: number; largest: number } {
  let bytes = 0;
  let largest = 0;
  for (const shape of canonicalShapes(c).values()) {
    const b = shape.reduce((a, d) => a * d, 1) * valueBytes;
    bytes += b;
    largest = Math.max(largest, b);
  }
  return { bytes, largest };
}

/** The memory of one forward (or one denoising step) at the given size. */
export function fluxForwardNeed(c: FluxConfig, s: FluxRunSize, what: string): MemoryNeed {
  const params = fluxParamBytes(c, s.valueBytes);
  const rows = s.batch * (s.imageTokens + s.textTokens);
  const H = c.hidden_size;
  // a single block's fused linear1 output (qkv and MLP rows) is the widest activation; with its
  // input, the residual stream, q/k/v and the MLP output alive around it, ~2 of those and ~8 of width H
  const widest = rows * (3 * H + mlpHidden(c)) * s.valueBytes;
  const activations = 2 * widest + 8 * rows * H * s.valueBytes;
  return {
    what,
    bytes: params.bytes + activations,
    largestTensor: Math.max(params.largest, widest),
    parts: `weights ${bytesText(params.bytes)} + activations ${bytesText(activations)}`,
    weightBytes: params.bytes,
    largestWeight: params.largest,
  };
}
