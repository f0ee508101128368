// The WebGPU device flags of every command that makes a backend: --robust, --guard and the deprecated
// --unsafe-disable-robustness (docs/kernels/robustness.md).
import type { GpuBackendOptions } from '../gpu/backend.js';
import { UsageError } from './args.js';

export const GPU_OPTIONS = {
  robust: { type: 'boolean' },
  guard: { type: 'boolean' },
  'unsafe-disable-robustness': { type: 'boolean' },
} as const;

const ROBUST_USAGE = `  --robust       keep WebGPU's bounds clamps in every kernel (what browsers always do). Node's default
                 is off: only this project's kernels run and every shape is checked before a launch;
                 the clamps cost 517.7 vs 400.3 ms per Flux-dev forward on an H100. Also TOMA_ROBUST=1`;
const GUARD_USAGE = `  --guard        canaries around every GPU buffer, checked after every launch: an out-of-bounds write
                 fails with the kernel's name (diagnosis; slower). Also TOMA_GUARD=1`;
const DEPRECATED_USAGE =
  '  --unsafe-disable-robustness   deprecated: robustness off is the default now (kept for one release)';

export const GPU_USAGE = [ROBUST_USAGE, GUARD_USAGE, DEPRECATED_USAGE].join('\n');

/** The same for `toma doctor`, where guard mode is the default. */
export const DOCTOR_GPU_USAGE = [
  ROBUST_USAGE,
  '  --no-guard     check the kernels without canaries (what programs run by default)',
  DEPRECATED_USAGE,
].join('\n');

/** Device options from the parsed flags; absent flags leave the defaults (and TOMA_ROBUST / TOMA_GUARD). */
export function gpuOptions(values: Record<string, unknown>): GpuBackendOptions {
  if (values.robust && values['unsafe-disable-robustness'])
    throw new UsageError(
      '--robust and --unsafe-disable-robustness contradict each other; give --robust alone',
    );
  const o: GpuBackendOptions = {};
  if (values.robust) o.robust = true;
  if (values['unsafe-disable-robustness']) o.robust = false; // what it always meant, and now the default
  if (values.guard) o.guard = true;
  return o;
}
