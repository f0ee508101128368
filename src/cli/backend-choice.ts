// How the generating commands pick their backend and compute dtype.
import type { Backend } from '../backend.js';
import { createBackend } from '../backends.js';
import { GpuBackend, type GpuBackendOptions } from '../gpu/backend.js';
import { NoAdapterError } from '../gpu/device.js';
import { cancellable } from './cancel.js';

/**
 * The backend by name. 'auto' falls back to the CPU backend (with a note) where there is no WebGPU
 * adapter; with `avoidSoftware` also where the only adapter is a software one (SwiftShader): generating
 * there is an order of magnitude slower than the CPU backend (measured: 11–17 s per 16 px step in the
 * browser test vs 0.35–0.9 s on the CPU backend, 2-core machine). --backend webgpu still picks it.
 */
export async function chooseBackend(
  name: 'auto' | 'webgpu' | 'cpu',
  note: string,
  avoidSoftware = true,
  gpu: GpuBackendOptions = {},
): Promise<Backend> {
  return cancellable(await pickBackend(name, note, avoidSoftware, gpu));
}

async function pickBackend(
  name: 'auto' | 'webgpu' | 'cpu',
  note: string,
  avoidSoftware: boolean,
  gpu: GpuBackendOptions,
): Promise<Backend> {
  let be: Backend;
  try {
    be = await createBackend(name === 'auto' ? 'webgpu' : name, gpu);
  } catch (e) {
    if (!(name === 'auto' && e instanceof NoAdapterError)) throw e;
    console.error(`no WebGPU adapter: running on the CPU backend (${note}). See \`toma doctor\`.`);
    return createBackend('cpu');
  }
  if (avoidSoftware && name === 'auto' && be instanceof GpuBackend && be.caps.software) {
    console.error(
      `the only WebGPU adapter is a software one (${be.info().description}): running on the faster CPU backend (${note}); --backend webgpu uses it anyway.`,
    );
    be.destroy();
    return createBackend('cpu');
  }
  return be;
}

/** f16 where the backend computes it natively (a GPU with shader-f16), else f32. */
export function defaultDtype(be: Backend): 'f16' | 'f32' {
  return be.supports('f16') && be.name !== 'cpu' ? 'f16' : 'f32';
}
