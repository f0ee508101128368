// Random weights for any component, by key: a WeightSource whose tensors are drawn on demand (on the
// host, or directly on the device for benchmarks), and the initialisation rule shared with the
// random-weight model folders. The rule keeps activations finite through deep stacks: matrices and
// convolutions N(0, 1/fan_in), norm scales 1, norm biases 0, other biases and embedding tables N(0, 0.02²).
import type { Backend } from '../backend.js';
import type { Tensor } from '../tensor.js';
import { fromF16Array } from '../util/f16.js';
import { FastNormal, seedFor } from '../util/fast-normal.js';
import type { ComputeDType, WeightSource } from './weights.js';

export type Init = { kind: 'ones' } | { kind: 'zeros' } | { kind: 'normal'; std: number };

const EMBEDDING_TABLE =
  /(token_embedding|position_embedding|embed_tokens|relative_attention_bias)\.weight$|^shared\.weight$/;

/** How the tensor `key` of shape `shape` is initialised. */
export function initFor(key: string, shape: readonly number[]): Init {
  if (EMBEDDING_TABLE.test(key)) return { kind: 'normal', std: 0.02 };
  if (shape.length <= 1) {
    if (/\.(weight|scale)$/.test(key)) return { kind: 'ones' }; // every 1-D weight is a norm scale
    return /norm/.test(key) && !/linear/.test(key) ? { kind: 'zeros' } : { kind: 'normal', std: 0.02 };
  }
  const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
  return { kind: 'normal', std: 1 / Math.sqrt(fanIn) };
}

function fill(init: Init, out: Float32Array | Uint16Array, seed: number): void {
  if (init.kind === 'normal') {
    const g = new FastNormal(seed, init.std);
    if (out instanceof Uint16Array) g.fillF16(out);
    else g.fillF32(out);
  } else if (init.kind === 'ones') out.fill(out instanceof Uint16Array ? 0x3c00 : 1);
  else out.fill(0);
}

export interface RandomWeightOptions {
  /** Base seed mixed into every tensor's own seed (so each tensor is the same whichever order it is read in). */
  seed?: number;
  /** Make tensors with the backend's random op on the device instead of on the host (no host work for large weights). */
  onDevice?: boolean;
  /** What info() reports as the stored dtype (default F16). */
  storedDtype?: 'F16' | 'F32';
}

/** A checkpoint-shaped source of random tensors: keys and shapes from a shape map. */
export class RandomWeightSource implements WeightSource {
  readonly deviceTensor?: (be: Backend, key: string, shape: readonly number[], dtype: ComputeDType) => Tensor;
  private readonly seed: number;
  private readonly storedDtype: 'F16' | 'F32';

  constructor(
    readonly path: string,
    readonly shapes: Map<string, number[]>,
    o: RandomWeightOptions = {},
  ) {
    this.seed = o.seed ?? 0;
    this.storedDtype = o.storedDtype ?? 'F16';
    if (o.onDevice) this.deviceTensor = (be, key, shape, dtype) => this.onDevice(be, key, shape, dtype);
  }

  keys(): string[] {
    return [...this.shapes.keys()];
  }

  has(key: string): boolean {
    return this.shapes.has(key);
  }

  info(key: string): { dtype: string; shape: number[] } {
    const shape = this.shapes.get(key);
    if (!shape) throw new Error(`${this.path}: no tensor named "${key}"`);
    return { dtype: this.storedDtype, shape };
  }

  /** For F16 storage, the f16 values (what reading a written folder gives). */
  readF32(key: string): Float32Array {
    if (this.storedDtype === 'F16') return fromF16Array(this.readF16Bits(key));
    const shape = this.info(key).shape;
    const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
    fill(initFor(key, shape), out, seedFor(key, this.seed));
    return out;
  }

  readF16Bits(key: string): Uint16Array {
    const shape = this.info(key).shape;
    const out = new Uint16Array(shape.reduce((a, b) => a * b, 1));
    fill(initFor(key, shape), out, seedFor(key, this.seed));
    return out;
  }

  /** `key` names the tensor for its seed and initialisation; `shape` is the device shape (any layout of the same size). */
  private onDevice(be: Backend, key: string, shape: readonly number[], dtype: ComputeDType): Tensor {
    const init = initFor(key, shape);
    const n = shape.reduce((a, b) => a * b, 1);
    if (init.kind === 'normal')
      return be.random(shape, dtype, { seed: seedFor(key, this.seed), std: init.std });
    return be.tensor(new Float32Array(n).fill(init.kind === 'ones' ? 1 : 0), shape, dtype);
  }
}
