// Where the bundled TAESD weights (TAEF1, TAESDXL) live, and loading a decoder from a file (Node only:
// the decoder itself, decoder.ts, also runs in the browser from any WeightSource).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Backend } from '../../backend.js';
import { Checkpoint } from '../../io/safetensors.js';
import { TaesdDecoder, type TaesdLoadOptions } from './decoder.js';

/** A decoder shipped in this package's models/taesd/ (from dist/src/models/taesd or src/models/taesd). */
function bundled(name: string, what: string): string {
  for (const rel of ['../../../../models/taesd/', '../../../models/taesd/']) {
    const p = fileURLToPath(new URL(rel + name, import.meta.url));
    if (existsSync(p)) return p;
  }
  throw new Error(`the ${what} decoder (models/taesd/${name}) is missing from this installation`);
}

/** The bundled TAEF1 decoder (FLUX.1 latents). */
export function defaultTaef1Path(): string {
  return bundled('taef1_decoder.safetensors', 'TAEF1');
}

/** The bundled TAESDXL decoder (SDXL latents, 4 channels). */
export function defaultTaesdxlPath(): string {
  return bundled('taesdxl_decoder.safetensors', 'TAESDXL');
}

/** Loads a TAESD decoder from a .safetensors file (default: the bundled TAEF1). */
export function loadTaesdFile(
  be: Backend,
  path = defaultTaef1Path(),
  opts: TaesdLoadOptions = {},
): TaesdDecoder {
  const ck = Checkpoint.open(path);
  try {
    return TaesdDecoder.load(be, ck, opts);
  } finally {
    ck.close();
  }
}
