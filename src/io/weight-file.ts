// Opening a transformer's weights whatever their format: GGUF (a .gguf file, a file starting with the
// GGUF magic, or a folder holding exactly one .gguf and no safetensors) or safetensors (a file, an
// index, or a folder; src/io/safetensors.ts).
import { closeSync, readdirSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { GgufFile } from './gguf.js';
import { openRegularFile, statPath } from './regular-file.js';
import { Checkpoint } from './safetensors.js';

export type WeightFile = Checkpoint | GgufFile;

/** Whether `path` names GGUF weights (by extension, by magic, or as the only weights of a folder). */
export function isGgufPath(path: string): boolean {
  let s: ReturnType<typeof statPath>;
  try {
    s = statPath(path);
  } catch {
    return /\.gguf$/i.test(path);
  }
  if (s.isDirectory()) return ggufInFolder(path) !== null;
  if (/\.gguf$/i.test(path)) return true;
  if (!s.isFile()) return false;
  const { fd } = openRegularFile(path);
  try {
    const b = new Uint8Array(4);
    return readSync(fd, b, 0, 4, 0) === 4 && String.fromCharCode(...b) === 'GGUF';
  } finally {
    closeSync(fd);
  }
}

/** The one .gguf file of a folder that holds no safetensors weights, else null. */
export function ggufInFolder(dir: string): string | null {
  const names = readdirSync(dir);
  const gguf = names.filter((n) => /\.gguf$/i.test(n));
  if (gguf.length !== 1 || names.some((n) => n.endsWith('.safetensors'))) return null;
  return join(dir, gguf[0]!);
}

export function openWeightFile(path: string): WeightFile {
  if (!isGgufPath(path)) return Checkpoint.open(path);
  let s: ReturnType<typeof statPath> | undefined;
  try {
    s = statPath(path);
  } catch {}
  return GgufFile.open(s?.isDirectory() ? ggufInFolder(path)! : path);
}
