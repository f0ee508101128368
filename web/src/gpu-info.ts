// What the page says about the WebGPU adapter, and the defaults it picks from it.
import type { GpuBackend } from '../../src/gpu/backend.js';

export interface CapabilityRow {
  label: string;
  value: string;
}

const yesNo = (v: boolean) => (v ? 'yes' : 'no');

/** The adapter, its features and the kernel paths the engine runs on it (and why). */
export function describeGpu(be: GpuBackend): CapabilityRow[] {
  const c = be.caps;
  const a = c.adapter;
  const name = [a.vendor, a.architecture, a.device, a.description].filter(Boolean).join(' · ') || 'unknown';
  const sgmConfigs = c.subgroupMatrixConfigs
    .map((m) => `${m.componentType}→${m.resultComponentType} ${m.M}×${m.N}×${m.K}`)
    .join(', ');
  const path = (p: 'subgroup-matrix' | 'simt') =>
    p === 'subgroup-matrix' ? 'subgroup matrices (tensor cores)' : 'SIMT (plain shader cores)';
  return [
    { label: 'adapter', value: `${name}${c.software ? ' (software: runs on the CPU, slow)' : ''}` },
    {
      label: 'shader-f16',
      value: c.f16
        ? 'yes: weights and activations in f16'
        : 'no: falls back to f32 (twice the memory traffic)',
    },
    {
      label: 'subgroups',
      value: c.subgroups ? `yes (size ${c.subgroupMinSize}–${c.subgroupMaxSize})` : 'no',
    },
    {
      label: 'subgroup matrices',
      value: c.subgroupMatrix ? `yes (${sgmConfigs})` : 'no: the SIMT kernels run instead',
    },
    { label: 'matmul kernels', value: path(be.paths.matmul) },
    { label: 'attention kernels', value: path(be.paths.attention) },
    { label: 'conv2d kernels', value: path(be.paths.conv2d) },
    { label: 'compute dtype', value: computeDtype(be) },
    { label: 'timestamp queries', value: yesNo(c.timestampQuery) },
  ];
}

export function computeDtype(be: GpuBackend): 'f16' | 'f32' {
  return be.caps.f16 ? 'f16' : 'f32';
}

/** Size and steps a first run should take: tiny on a software adapter, the trained size on a GPU. */
export function defaultsFor(be: GpuBackend): { size: number; steps: number } {
  return be.caps.software ? { size: 16, steps: 4 } : { size: 128, steps: 28 };
}
