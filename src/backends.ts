// Picks and creates a backend by name.
import type { Backend } from './backend.js';
import { CpuBackend } from './cpu/backend.js';
import { GpuBackend, type GpuBackendOptions } from './gpu/backend.js';

export type BackendName = 'webgpu' | 'cpu';

export async function createBackend(
  name: BackendName = 'webgpu',
  opts: GpuBackendOptions = {},
): Promise<Backend> {
  if (name === 'cpu') return new CpuBackend();
  if (name === 'webgpu') return GpuBackend.create(opts);
  throw new TypeError(`unknown backend "${name}" (expected webgpu or cpu)`);
}
