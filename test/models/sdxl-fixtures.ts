// Opening the SDXL conformance fixtures (fixtures/sdxl/*.safetensors: weights, in.*, out.* and the
// component's config JSON in the header's __metadata__.config). Tests skip when they are absent.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Checkpoint } from '../../src/io/safetensors.js';
import { FIXTURES } from './fixtures.js';

export const SDXL_FIXTURES = FIXTURES && existsSync(join(FIXTURES, 'sdxl')) ? join(FIXTURES, 'sdxl') : null;

/** Skip reason when the named fixture (e.g. "sdxl_clip_g_a") is absent, else false. */
export function noSdxlFixture(name: string): string | false {
  if (!SDXL_FIXTURES) return 'SDXL conformance fixtures not found';
  return existsSync(join(SDXL_FIXTURES, `${name}.safetensors`)) ? false : `fixture ${name} not found`;
}

export function sdxlFixturePath(name: string): string {
  return join(SDXL_FIXTURES!, `${name}.safetensors`);
}

/** The fixture file and its config. */
export function openSdxlFixture(name: string): { ck: Checkpoint; config: Record<string, unknown> } {
  const ck = Checkpoint.open(sdxlFixturePath(name));
  const config = JSON.parse(ck.metadata.config ?? '{}') as Record<string, unknown>;
  return { ck, config };
}
