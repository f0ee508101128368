// The embedded model in the browser: both safetensors files fetched (with progress), parsed from
// memory and uploaded; the same loaders the Node CLI uses, fed from bytes instead of files.

import conditioningUrl from '../../models/embedded/conditioning.safetensors?url';
import modelUrl from '../../models/embedded/flux-embedded.safetensors?url';
import type { Backend } from '../../src/backend.js';
import { parseSafetensors } from '../../src/io/safetensors-bytes.js';
import { FluxModel } from '../../src/models/flux/model.js';
import type { ComputeDType } from '../../src/models/flux/weights.js';
import { conditioningFrom } from '../../src/pipeline/conditioning.js';
import type { ClassConditioning } from '../../src/pipeline/generate.js';

export interface LoadedModel {
  model: FluxModel;
  conditioning: ClassConditioning;
  /** Bytes fetched. */
  bytes: number;
}

/** Fetches a file into memory, reporting bytes received (total 0 when the server does not say). */
async function fetchBytes(
  url: string,
  onBytes: (received: number, total: number) => void,
): Promise<Uint8Array> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`could not fetch ${url}: HTTP ${res.status} ${res.statusText}`);
  const total = Number(res.headers.get('content-length') ?? 0);
  if (!res.body) return new Uint8Array(await res.arrayBuffer());
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    received += value.byteLength;
    onBytes(received, total);
  }
  const out = new Uint8Array(received);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

export async function loadEmbeddedModel(
  be: Backend,
  dtype: ComputeDType,
  onProgress: (fraction: number, text: string) => void,
): Promise<LoadedModel> {
  const files = [modelUrl, conditioningUrl];
  const received = [0, 0];
  const totals = [0, 0];
  const report = () => {
    const got = received[0]! + received[1]!;
    const all = totals[0]! + totals[1]!;
    onProgress(all ? (0.9 * got) / all : 0, `downloading ${(got / 1e6).toFixed(1)} MB`);
  };
  const [modelBytes, condBytes] = await Promise.all(
    files.map((url, i) =>
      fetchBytes(url, (r, t) => {
        received[i] = r;
        totals[i] = t;
        report();
      }),
    ),
  );
  onProgress(0.9, `uploading weights to the GPU (${dtype})`);
  const model = FluxModel.load(be, parseSafetensors(modelBytes!, 'flux-embedded.safetensors'), { dtype });
  const conditioning = conditioningFrom(parseSafetensors(condBytes!, 'conditioning.safetensors'));
  onProgress(1, 'ready');
  return { model, conditioning, bytes: modelBytes!.byteLength + condBytes!.byteLength };
}
