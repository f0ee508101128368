// --robust and the deprecated --unsafe-disable-robustness for the benchmarks (README: "Robustness and
// guard mode"). Node's default is robustness off, so a plain run times what programs run by default.
import type { GpuBackend, GpuBackendOptions } from '../src/gpu/backend.js';

export const DEVICE_FLAGS = {
  robust: { type: 'boolean' },
  'unsafe-disable-robustness': { type: 'boolean' },
  // Extra Dawn toggles (e.g. disable_workgroup_init), to measure what they cost or save.
  'dawn-toggles': { type: 'string' },
  // How a matmul with a quantized weight runs (src/kernels/paths.ts): fused or dequantize.
  'quant-matmul': { type: 'string' },
} as const;

export const DEVICE_FLAGS_USAGE =
  '[--robust] [--dawn-toggles a,b] [--quant-matmul fused|dequantize]  (--robust keeps the bounds clamps; --unsafe-disable-robustness, the default now, is still accepted)';

export function deviceOptions(a: {
  robust?: boolean;
  'unsafe-disable-robustness'?: boolean;
  'dawn-toggles'?: string;
  'quant-matmul'?: string;
}): GpuBackendOptions {
  if (a.robust && a['unsafe-disable-robustness'])
    throw new Error('--robust and --unsafe-disable-robustness contradict each other');
  const dawnToggles = (a['dawn-toggles'] ?? '').split(',').filter(Boolean);
  const o: GpuBackendOptions = dawnToggles.length ? { dawnToggles } : {};
  const q = a['quant-matmul'];
  if (q !== undefined) {
    if (q !== 'fused' && q !== 'dequantize')
      throw new Error(`--quant-matmul must be fused or dequantize, got "${q}"`);
    o.paths = { quantMatmul: q };
  }
  if (a.robust) return { ...o, robust: true };
  if (a['unsafe-disable-robustness']) return { ...o, robust: false };
  return o;
}

/** One line saying how the kernels run, for the benchmark's header. */
export function deviceMode(be: GpuBackend): string {
  const r = be.caps.robustnessDisabled ? 'robustness off' : 'robustness on';
  // Guard mode (TOMA_GUARD=1) adds a check dispatch per launch: its timings are not the engine's.
  return be.rt.guarded ? `${r}; GUARD MODE ON (TOMA_GUARD): timings include canary checks` : r;
}
