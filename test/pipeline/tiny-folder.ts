// Random-weight FLUX.1 model folders for tests: written once per preset into a temp dir, copied for
// tests that break them.
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { pipelinePreset } from '../../src/pipeline/flux-presets.js';
import { writeRandomFluxFolder } from '../../src/pipeline/random-folder.js';

export const tmp = mkdtempSync(join(tmpdir(), 'toma-flux-folder-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const written = new Map<string, Promise<string>>();

/** The folder of `preset` written with `seed` (shared by the tests of one file; do not modify it). */
export function tinyFolder(preset = 'tiny', seed = 0): Promise<string> {
  const key = `${preset}-${seed}`;
  let p = written.get(key);
  if (!p) {
    p = writeRandomFluxFolder(join(tmp, key), { preset: pipelinePreset(preset), seed }).then((r) => r.dir);
    written.set(key, p);
  }
  return p;
}

let copies = 0;
/** A private copy of a tiny folder, to break. */
export async function tinyFolderCopy(preset = 'tiny'): Promise<string> {
  const dst = join(tmp, `copy-${copies++}`);
  cpSync(await tinyFolder(preset), dst, { recursive: true });
  return dst;
}
