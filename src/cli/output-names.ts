// Output file names of `toma generate`: what made the image is in its name (label, seed, size, method
// with its ratio and cache, backend), and an existing file is never replaced unless --overwrite says so.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export interface ImageNameParts {
  label: string;
  seed: number;
  width: number;
  height: number;
  /** The method label as the registry names it ("toma 0.25 + fora 2", "dense"). */
  method: string;
  backend: string;
}

/** "toma 0.25 + fora 2" -> "toma0.25+fora2"; characters a file name should not hold become "-". */
export function methodTag(method: string): string {
  return method
    .replace(/\s*\+\s*/g, '+')
    .replace(/\s+/g, '')
    .replace(/[^A-Za-z0-9.+=,-]/g, '-');
}

export function imageName(p: ImageNameParts): string {
  const size = p.width === p.height ? `${p.width}px` : `${p.width}x${p.height}`;
  return `${p.label}-seed${p.seed}-${size}-${methodTag(p.method)}-${p.backend}.png`;
}

/**
 * `name` in `dir`, or with --overwrite off and the file already there, the first free "<name>-2.png",
 * "<name>-3.png", ... (`taken` holds names this run chose already).
 */
export function freePath(dir: string, name: string, overwrite: boolean, taken = new Set<string>()): string {
  const stem = name.replace(/\.png$/, '');
  let candidate = join(dir, name);
  for (let k = 2; (!overwrite && existsSync(candidate)) || taken.has(candidate); k++)
    candidate = join(dir, `${stem}-${k}.png`);
  taken.add(candidate);
  return candidate;
}
