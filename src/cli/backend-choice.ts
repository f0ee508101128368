// How the generating commands pick their backend and compute dtype: the library's rules
// (src/api/device.ts), with the fallback note printed on stderr, and the backend wired to the CLI's
// abort flag (Ctrl-C) so every operation can stop it.
import { defaultDtype, openBackend } from '../api/device.js';
import type { Backend } from '../backend.js';
import type { GpuBackendOptions } from '../gpu/backend.js';
import { cancellable } from './cancel.js';

export { defaultDtype };

/**
 * The backend by name. 'auto' falls back to the CPU backend (with a note) where there is no WebGPU
 * adapter; with `avoidSoftware` also where the only adapter is a software one. --backend webgpu still
 * picks it.
 */
export async function chooseBackend(
  name: 'auto' | 'webgpu' | 'cpu',
  note: string,
  avoidSoftware = true,
  gpu: GpuBackendOptions = {},
): Promise<Backend> {
  const { be } = await openBackend({
    backend: name,
    gpu,
    avoidSoftware,
    onNote: (m) =>
      console.error(
        `${m} (${note})${m.startsWith('no WebGPU') ? '. See `toma doctor`.' : '; --backend webgpu uses it anyway.'}`,
      ),
  });
  return cancellable(be);
}
