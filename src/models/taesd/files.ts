// Where the bundled TAESD weights live, and loading a decoder from a file (Node only: the decoder itself,
// decoder.ts, also runs in the browser from any WeightSource).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Backend } from '../../backend.js';
import { Checkpoint } from '../../io/safetensors.js';
import { TaesdDecoder, type TaesdLoadOptions } from './decoder.js';

/** The TAEF1 decoder shipped in this package's models/taesd/ (from dist/src/models/taesd or src/models/taesd). */
export function defaultTaef1Path(): string {
  const name = 'taef1_decoder.safetensors';
  for (const rel of ['../../../../models/taesd/', '../../../models/taesd/']) {
    const p = fileURLToPath(new URL(rel + name, import.meta.url));
    if (existsSync(p)) return p;
  }
  throw new Error(`the TAEF1 decoder (models/taesd/${name}) is missing from this installation`);
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
