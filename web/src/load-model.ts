// The embedded model in the browser, through the library's own pipeline: both safetensors files fetched
// (with progress), parsed from memory and uploaded, as TextToImagePipeline.fromPretrained does in Node
// from files.

import conditioningUrl from '../../models/embedded/conditioning.safetensors?url';
import modelUrl from '../../models/embedded/flux-embedded.safetensors?url';
import {
  type Backend,
  type ComputeDType,
  type EmbeddedPipeline,
  TextToImagePipeline,
} from '../../src/index.js';

export interface LoadedModel {
  pipe: EmbeddedPipeline;
  /** Bytes fetched. */
  bytes: number;
}

export async function loadEmbeddedModel(
  be: Backend,
  dtype: ComputeDType,
  onProgress: (fraction: number, text: string) => void,
): Promise<LoadedModel> {
  const received = new Map<string, { loaded: number; total: number }>();
  let bytes = 0;
  const pipe = await TextToImagePipeline.fromPretrained('embedded', {
    backend: be,
    dtype,
    embeddedFiles: { model: modelUrl, conditioning: conditioningUrl },
    onLoadProgress: (p) => {
      if (p.what === 'transformer') {
        onProgress(0.9 + (0.1 * p.loaded) / p.total, `uploading weights to the GPU (${dtype})`);
        return;
      }
      received.set(p.what, p);
      const got = [...received.values()].reduce((a, r) => a + r.loaded, 0);
      const all = [...received.values()].reduce((a, r) => a + r.total, 0);
      bytes = got;
      onProgress(all ? (0.9 * got) / all : 0, `downloading ${(got / 1e6).toFixed(1)} MB`);
    },
  });
  onProgress(1, 'ready');
  return { pipe, bytes };
}
