// The step-cache options shared by `toma generate` (both paths) and `toma eval`: --cache SPEC,
// --teacache-poly C4,...,C0 and --cache-schedule full=... (replay), with usage errors that name them.
import type { CreateCacheOptions } from '../cache/create.js';
import { type CacheSpec, parseCacheSpec, resolveSchedule } from '../cache/spec.js';
import { UsageError } from './args.js';

export const CACHE_USAGE = `  --cache        a step cache (reuse across sampling steps; default none): fbcache:T (First-Block-Cache,
                 e.g. 0.12), teacache:T (e.g. 0.3), taylorseer:N[:ORDER[:WARMUP]] (e.g. 4 or 4:2), fora:N
  --teacache-poly  TeaCache's rescaling polynomial, highest degree first (default: the published
                 FLUX.1 fit for FLUX.1 models, the identity otherwise; tools/fit-teacache.mjs fits one)
  --cache-schedule full=0,1,2,5,...  replay: these steps compute, the others reuse (the method's probe
                 and metric still run)`;

/** A cache spec from --cache (null for none or absent). */
export function cacheSpecOption(value: string | undefined, name = 'cache'): CacheSpec | null {
  if (value === undefined) return null;
  try {
    return parseCacheSpec(value);
  } catch (e) {
    throw new UsageError(`--${name}: ${(e as Error).message}`);
  }
}

/** --teacache-poly as numbers (highest degree first). */
export function polynomialOption(value: string | undefined): number[] | undefined {
  if (value === undefined) return undefined;
  const c = value.split(',').map((s) => Number(s.trim()));
  if (c.length === 0 || value.trim() === '' || !c.every(Number.isFinite))
    throw new UsageError(
      `--teacache-poly must be comma-separated numbers, highest degree first; got "${value}"`,
    );
  return c;
}

/**
 * The options of the caches these specs create: the polynomial only where a TeaCache is among them,
 * the schedule only where some cache is (checked against `steps`).
 */
export function cacheCreateOptions(
  values: Record<string, unknown>,
  specs: (CacheSpec | null)[],
  steps: number,
): CreateCacheOptions {
  const o: CreateCacheOptions = {};
  const poly = polynomialOption(values['teacache-poly'] as string | undefined);
  if (poly) {
    if (!specs.some((s) => s?.method === 'teacache'))
      throw new UsageError('--teacache-poly goes with a teacache:T cache');
    o.coefficients = poly;
  }
  const schedule = values['cache-schedule'] as string | undefined;
  if (schedule !== undefined) {
    if (!specs.some((s) => s)) throw new UsageError('--cache-schedule goes with a cache');
    try {
      resolveSchedule(schedule, steps);
    } catch (e) {
      throw new UsageError(`--cache-schedule: ${(e as Error).message}`);
    }
    o.schedule = schedule;
  }
  return o;
}

/** The options for one cache: the polynomial is TeaCache's alone. */
export function optionsFor(spec: CacheSpec | null, o: CreateCacheOptions): CreateCacheOptions {
  return spec?.method === 'teacache' ? o : { ...o, coefficients: undefined };
}
