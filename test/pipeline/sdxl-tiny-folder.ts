// Random-weight tiny SDXL folders for tests (diffusers or single-file layout): written once per layout
// and seed into a temp dir, shared by the tests of one file (do not modify them).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { sdxlPreset } from '../../src/pipeline/sdxl-presets.js';
import { writeRandomSdxlFolder } from '../../src/pipeline/sdxl-random.js';

export const sdxlTmp = mkdtempSync(join(tmpdir(), 'toma-sdxl-folder-'));
after(() => rmSync(sdxlTmp, { recursive: true, force: true }));

const written = new Map<string, Promise<string>>();

export function tinySdxlFolder(layout: 'diffusers' | 'single-file' = 'diffusers', seed = 0): Promise<string> {
  const key = `${layout}-${seed}`;
  let p = written.get(key);
  if (!p) {
    p = writeRandomSdxlFolder(join(sdxlTmp, key), { preset: sdxlPreset('sdxl-tiny'), layout, seed }).then(
      (r) => r.dir,
    );
    written.set(key, p);
  }
  return p;
}
