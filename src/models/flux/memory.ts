// What a Flux transformer run needs in memory, estimated from the config and the run's sizes before
// anything is loaded: the parameters in the compute dtype plus the largest activations of one block
// (attention is computed in row blocks on every backend, so no L x L matrix is held).
import type { Backend } from '../../backend.js';
import { ggmlBytes, isQuantType } from '../../quant/ggml-types.js';
import { bytesText, MemoryLimitError, type MemoryNeed } from '../limits.js';
import type { WeightSource } from '../weights.js';
import type { FluxConfig } from './config.js';
import { mlpHidden } from './config.js';
import { canonicalShapes } from './layouts.js';
import { deviceParts } from './weights.js';

export interface FluxRunSize {
  /** Bytes per stored value: 4 for f32 (and for f16 on the CPU backend, which stores f32), 2 for f16. */
  valueBytes: number;
  batch: number;
  imageTokens: number;
  textTokens: number;
  /** The parameters' bytes as they will be held, when known from the file (quantized GGUF weights). */
  weights?: { bytes: number; largest: number };
  /**
   * The block matrices are quantized and the backend multiplies by decoding each whole matrix into a
   * scratch buffer first (dequantizesWholeMatrices): the pooled scratch buffers count as activations.
   */
  quantScratch?: boolean;
}

/** Whether a backend decodes a whole quantized matrix before multiplying (the CPU; WebGPU's 'dequantize' path). */
export function dequantizesWholeMatrices(be: Backend): boolean {
  const paths = (be as { paths?: { quantMatmul?: string } }).paths; // WebGPU's kernel paths
  return be.name === 'cpu' || paths?.quantMatmul !== 'fused';
}

/**
 * The scratch of decoding quantized matrices one at a time: the pool keeps one buffer per distinct
 * matrix size, so the distinct dense sizes of the blocks' matrices (device parts) add up.
 */
export function quantScratchBytes(c: FluxConfig, valueBytes: number): number {
  const sizes = new Set<number>();
  for (const [canon, shape] of canonicalShapes(c))
    if (shape.length === 2 && /^(double|single)_blocks\./.test(canon))
      for (const part of deviceParts(canon, shape, c))
        sizes.add(part.shape[0]! * part.shape[1]! * valueBytes);
  let n = 0;
  for (const s of sizes) n += s;
  return n;
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

/** The activations of one forward at the given size, and the widest of them. */
export function fluxActivationBytes(c: FluxConfig, s: FluxRunSize): { bytes: number; widest: number } {
  const rows = s.batch * (s.imageTokens + s.textTokens);
  const H = c.hidden_size;
  // a single block's fused linear1 output (qkv and MLP rows) is the widest activation; with its
  // input, the residual stream, q/k/v and the MLP output alive around it, ~2 of those and ~8 of width H
  const widest = rows * (3 * H + mlpHidden(c)) * s.valueBytes;
  // 3 + 10 (not 2 + 8): calibrated on the H100, FLUX.1-dev f16 at 1024² held 832 MB beyond its
  // parameters (attention's row-block temporaries and the pool's rounding), 5% under this estimate
  const scratch = s.quantScratch ? quantScratchBytes(c, s.valueBytes) : 0;
  return { bytes: 3 * widest + 10 * rows * H * s.valueBytes + scratch, widest };
}

/**
 * The memory of one forward (or one denoising step) at the given size. A weight matrix larger than
 * one tensor may be is held in row pieces (src/row-split.ts), so only activations count as largestTensor.
 */
export function fluxForwardNeed(c: FluxConfig, s: FluxRunSize, what: string): MemoryNeed {
  const params = s.weights ?? fluxParamBytes(c, s.valueBytes);
  const { bytes: activations, widest } = fluxActivationBytes(c, s);
  return {
    what,
    bytes: params.bytes + activations,
    largestTensor: widest,
    parts: `weights ${bytesText(params.bytes)} + activations ${bytesText(activations)}`,
    weightBytes: params.bytes,
    largestWeight: params.largest,
  };
}

/**
 * The parameters' bytes as loading will hold them: matrices stored block-quantized keep their stored
 * size, everything else takes `valueBytes` per value. Undefined for checkpoints without quantized
 * tensors (fluxParamBytes from the config is then exact).
 */
export function storedWeightBytes(
  ck: WeightSource,
  c: FluxConfig,
  valueBytes: number,
): { bytes: number; largest: number } | undefined {
  if (!ck.keys().some((k) => isQuantType(ck.info(k).dtype))) return undefined;
  const dense = fluxParamBytes(c, valueBytes);
  let quantizedSaving = 0;
  let largest = 0;
  for (const k of ck.keys()) {
    const { dtype, shape } = ck.info(k);
    const n = shape.reduce((a, d) => a * d, 1);
    const held = isQuantType(dtype) ? ggmlBytes(dtype, n) : n * valueBytes;
    if (isQuantType(dtype)) quantizedSaving += n * valueBytes - held;
    largest = Math.max(largest, held);
  }
  return { bytes: dense.bytes - quantizedSaving, largest };
}

/**
 * The device bytes the parameters may take (LoadOptions.maxParamBytes) when a whole run must fit in
 * `maxDeviceBytes`: that less the run's estimated activations. Throws a MemoryLimitError when the
 * activations alone do not fit.
 */
export function fluxParamBudget(c: FluxConfig, s: FluxRunSize, maxDeviceBytes: number): number {
  const a = fluxActivationBytes(c, s).bytes;
  if (a >= maxDeviceBytes)
    throw new MemoryLimitError(
      `the activations alone need about ${bytesText(a)} (batch ${s.batch}, ${s.imageTokens} + ${s.textTokens} tokens), more than the ${bytesText(maxDeviceBytes)} allowed: use a smaller size or batch, or allow more memory`,
    );
  return maxDeviceBytes - a;
}
