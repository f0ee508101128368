// Shared test helpers: a WebGPU backend when an adapter exists (SwiftShader in CI), random data, and
// error metrics with per-dtype tolerances.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CpuBackend } from '../src/cpu/backend.js';
import { GpuBackend } from '../src/gpu/backend.js';
import { envFlag } from '../src/gpu/device.js';
import type { DType } from '../src/tensor.js';
import { Rng } from '../src/util/random.js';

export const cpu = new CpuBackend();

let gpuPromise: Promise<GpuBackend | null> | null = null;

/**
 * The shared WebGPU backend, or null when there is no adapter. With TOMA_REQUIRE_GPU=1 (CI) a missing
 * adapter is an error instead of a skip. Outputs are poisoned with NaN before every kernel writes them.
 * Guard mode is on unless TOMA_GUARD=0 (canaries around every buffer, checked after every launch; an
 * out-of-bounds write fails the test at its next read or sync); robustness follows TOMA_ROBUST (Node's
 * default: off). tools/run-tests.mjs runs the kernel tests both ways.
 */
export function getGpu(): Promise<GpuBackend | null> {
  gpuPromise ??= GpuBackend.create({ guard: envFlag('TOMA_GUARD') ?? true })
    .then((be) => {
      be.rt.poison = true;
      return be;
    })
    .catch((e: Error) => {
      if (process.env.TOMA_REQUIRE_GPU === '1') throw e;
      console.warn(`WebGPU tests skipped: ${e.message.split('\n')[0]}`);
      return null;
    });
  return gpuPromise;
}

export const gpu = await getGpu();
// The file's last launches are verified too, even if no test read their outputs.
after(async () => {
  await gpu?.sync();
});
export const noGpu = gpu ? false : 'no WebGPU adapter';
export const noF16 = !gpu ? 'no WebGPU adapter' : gpu.caps.f16 ? false : 'adapter lacks shader-f16';
/** The dtypes to test kernels in on this adapter. */
export const gpuDtypes: DType[] = gpu?.caps.f16 ? ['f32', 'f16'] : ['f32'];

/** Relative tolerance on max|actual − expected| / max|expected|, per storage dtype. */
export const TOL: Record<DType, number> = { f32: 2e-5, f16: 4e-3, u32: 0 };

export function rng(seed?: number): Rng {
  return new Rng(seed ?? (Math.random() * 2 ** 32) >>> 0);
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

/** max |a − b| / max(|b|, floor); NaN anywhere gives Infinity. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-6): number {
  assert.equal(a.length, b.length, 'length mismatch');
  let e = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (Number.isNaN(d)) return Number.POSITIVE_INFINITY;
    e = Math.max(e, d);
  }
  return e / Math.max(maxAbs(b), floor);
}

export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: number,
  what: string,
): number {
  const err = relErr(actual, expected);
  assert.ok(err <= tol, `${what}: relative error ${err.toExponential(3)} exceeds ${tol.toExponential(1)}`);
  return err;
}

/** Where the shared conformance fixtures live, or null (tests that need them then skip). */
export function fixturesDir(): string | null {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [
    process.env.TOMA_FIXTURES,
    join(here, '../../../shared/fixtures'),
    '/work/shared/fixtures',
  ];
  for (const c of candidates) if (c && existsSync(join(c, 'README.md'))) return c;
  return null;
}

import type { Backend } from '../src/backend.js';
import type { Tensor } from '../src/tensor.js';

/** The same values as a tensor on the CPU backend and on the GPU backend. */
export function pair(
  gpuBe: Backend,
  data: ArrayLike<number>,
  shape: readonly number[],
  dtype: DType = 'f32',
): [Tensor, Tensor] {
  return [cpu.tensor(data, shape, dtype), gpuBe.tensor(data, shape, dtype)];
}
