// The embedded default model: a small pixel-space Flux trained by this project (models/embedded/,
// see its MODEL_CARD.md), with its learned class conditioning.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Backend } from '../backend.js';
import { Checkpoint } from '../io/safetensors.js';
import { FluxModel } from '../models/flux/model.js';
import type { ComputeDType } from '../models/flux/weights.js';
import { conditioningFrom } from './conditioning.js';
import type { ClassConditioning } from './generate.js';

/** models/embedded/ of this package (from dist/src/pipeline or src/pipeline alike). */
export function embeddedDir(): string {
  for (const rel of ['../../../models/embedded/', '../../models/embedded/']) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(`${p}flux-embedded.safetensors`)) return p;
  }
  throw new Error(
    'the embedded model (models/embedded/flux-embedded.safetensors) is missing from this installation',
  );
}

/** Reads class names, text tokens and pooled vectors from a conditioning.safetensors file. */
export function loadConditioning(path: string): ClassConditioning {
  const ck = Checkpoint.open(path);
  try {
    return conditioningFrom(ck);
  } finally {
    ck.close();
  }
}

export interface EmbeddedModel {
  model: FluxModel;
  conditioning: ClassConditioning;
  /** Native image size in pixels (the model was also trained at half of it). */
  nativeSize: number;
}

export function loadEmbedded(be: Backend, dtype: ComputeDType, dir = embeddedDir()): EmbeddedModel {
  const model = FluxModel.load(be, `${dir}flux-embedded.safetensors`, { dtype });
  return { model, conditioning: loadConditioning(`${dir}conditioning.safetensors`), nativeSize: 128 };
}

export { resolveClass } from './conditioning.js';
