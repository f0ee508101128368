// Hugging Face repo ids for the pipeline: resolved into the local Hugging Face cache (src/hub:
// HF_HOME / HF_HUB_CACHE / HF_TOKEN / HF_ENDPOINT / HF_HUB_OFFLINE honoured, resumable, verified),
// only the files a FLUX.1 pipeline reads. Loaded on demand so local paths never pay for it.
import type { LoadOptions } from './pipeline.js';

export async function resolveFluxRepo(id: string, o: LoadOptions): Promise<string> {
  const { resolveModel } = await import('../hub/index.js');
  return resolveModel(id, {
    revision: o.revision,
    signal: o.signal,
    onProgress: o.onLoadProgress
      ? (p) => o.onLoadProgress!({ what: p.file, loaded: p.bytes, total: p.total })
      : undefined,
  });
}
