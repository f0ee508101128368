// Opening the shared conformance fixtures (tests skip when the folder is absent).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Checkpoint } from '../../src/io/safetensors.js';
import { fixturesDir } from '../helpers.js';

export const FIXTURES = fixturesDir();
export const noFixtures = FIXTURES ? false : 'conformance fixtures not found';

export function openFixture(name: string): {
  ck: Checkpoint;
  inter: Checkpoint;
  json: Record<string, unknown>;
} {
  const dir = FIXTURES!;
  return {
    ck: Checkpoint.open(join(dir, `${name}.safetensors`)),
    inter: Checkpoint.open(join(dir, `${name}-intermediates.safetensors`)),
    json: JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')),
  };
}

/** max|a - b| / max|b| */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let e = 0;
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    e = Number.isNaN(d) ? Number.POSITIVE_INFINITY : Math.max(e, d);
    m = Math.max(m, Math.abs(b[i]!));
  }
  return e / m;
}
