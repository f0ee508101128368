// How a backend and a compute dtype are chosen, for the library and the CLI alike.
import type { Backend } from '../backend.js';
import { createBackend } from '../backends.js';
import { GpuBackend, type GpuBackendOptions } from '../gpu/backend.js';
import { NoAdapterError } from '../gpu/device.js';
import type { ComputeDType } from '../models/weights.js';

export type BackendChoice = 'auto' | 'webgpu' | 'cpu';
export type DTypeChoice = 'auto' | ComputeDType;

export interface DeviceOptions {
  /** 'auto' (default): WebGPU where there is a hardware adapter, else the CPU backend. Or a backend you made. */
  backend?: BackendChoice | Backend;
  /** 'auto' (default): f16 where the backend computes it natively, else f32. */
  dtype?: DTypeChoice;
  /** WebGPU device options (robustness, guard mode). */
  gpu?: GpuBackendOptions;
  /**
   * With 'auto', skip a software-only adapter (SwiftShader) for the CPU backend: generating there is an
   * order of magnitude slower (measured: 11–17 s per 16 px step in the browser test vs 0.35–0.9 s on the
   * CPU backend, 2-core machine). Default true.
   */
  avoidSoftware?: boolean;
  /** Told why 'auto' fell back to the CPU. */
  onNote?: (message: string) => void;
}

/** The backend as asked; `own` says whether the caller must destroy it. */
export async function openBackend(o: DeviceOptions = {}): Promise<{ be: Backend; own: boolean }> {
  const asked = o.backend ?? 'auto';
  if (typeof asked === 'object') return { be: asked, own: false };
  if (asked !== 'auto' && asked !== 'webgpu' && asked !== 'cpu')
    throw new TypeError(`backend must be 'auto', 'webgpu', 'cpu' or a Backend; got ${JSON.stringify(asked)}`);
  let be: Backend;
  try {
    be = await createBackend(asked === 'auto' ? 'webgpu' : asked, o.gpu ?? {});
  } catch (e) {
    if (!(asked === 'auto' && e instanceof NoAdapterError)) throw e;
    o.onNote?.('no WebGPU adapter: running on the CPU backend');
    return { be: await createBackend('cpu'), own: true };
  }
  if ((o.avoidSoftware ?? true) && asked === 'auto' && be instanceof GpuBackend && be.caps.software) {
    o.onNote?.(
      `the only WebGPU adapter is a software one (${be.info().description}): running on the faster CPU backend`,
    );
    be.destroy();
    return { be: await createBackend('cpu'), own: true };
  }
  return { be, own: true };
}

/** f16 where the backend computes it natively (a GPU with shader-f16), else f32. */
export function defaultDtype(be: Backend): ComputeDType {
  return be.supports('f16') && be.name !== 'cpu' ? 'f16' : 'f32';
}

/** The compute dtype for `asked`, refusing f16 where the backend lacks it (with what to do instead). */
export function chooseDtype(be: Backend, asked: DTypeChoice = 'auto'): ComputeDType {
  if (asked === 'auto') return defaultDtype(be);
  if (asked !== 'f16' && asked !== 'f32')
    throw new TypeError(`dtype must be 'auto', 'f16' or 'f32'; got ${JSON.stringify(asked)}`);
  if (asked === 'f16' && !be.supports('f16'))
    throw new TypeError(
      `dtype 'f16' needs a backend with native f16 (a WebGPU adapter with shader-f16); ${be.info().description} has none: use 'auto' or 'f32'`,
    );
  return asked;
}
