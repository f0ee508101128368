// Argument checks shared by the token-reduction ops (src/merge/*): the same checks run before the CPU
// reference and before the GPU launcher, and their errors name the op, the argument and the problem.
import type { Backend } from '../backend.js';
import { CpuBackend } from '../cpu/backend.js';
import { GpuBackend } from '../gpu/backend.js';
import { type DType, Tensor } from '../tensor.js';
import { shapeStr } from '../util/shape.js';

/** Throws unless t is a live tensor of backend be with one of the dtypes and the expected shape (null = any size). */
export function checkTensor(
  be: Backend,
  t: unknown,
  op: string,
  what: string,
  dtypes: readonly DType[],
  shape: readonly (number | null)[],
): asserts t is Tensor {
  if (!(t instanceof Tensor)) throw new TypeError(`${op}(): ${what} is not a Tensor`);
  if (t.backend !== be) throw new TypeError(`${op}(): ${what} ${t} belongs to another backend`);
  if (t.disposed) throw new Error(`${op}(): ${what} ${t} was disposed`);
  if (!dtypes.includes(t.dtype))
    throw new TypeError(`${op}(): ${what} must be ${dtypes.join(' or ')}, got ${t.dtype}`);
  if (t.rank !== shape.length || shape.some((d, i) => d !== null && d !== t.shape[i])) {
    const want = `[${shape.map((d) => d ?? '*').join(', ')}]`;
    throw new RangeError(`${op}(): ${what} has shape ${shapeStr(t.shape)}, expected ${want}`);
  }
}

/** Which implementation runs: the WGSL kernels or the CPU reference. */
export function implFor(be: Backend, op: string): 'gpu' | 'cpu' {
  if (be instanceof GpuBackend) return 'gpu';
  if (be instanceof CpuBackend) return 'cpu';
  throw new TypeError(`${op}(): unsupported backend ${be.name}`);
}

/** The values of a CPU tensor (no copy). */
export function cpuData(be: Backend, t: Tensor): Float32Array {
  return (be as CpuBackend).data(t);
}

export function cpuU32(be: Backend, t: Tensor): Uint32Array {
  return (be as CpuBackend).u32(t);
}

export function checkPositiveFinite(v: number, op: string, what: string): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
    throw new RangeError(`${op}(): ${what} must be a positive finite number, got ${v}`);
}
