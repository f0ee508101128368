// createCache: a step cache from its spec (src/cache/spec.ts), the library entry next to createMethod.
import { FirstBlockCache } from './first-block-cache.js';
import { type CacheSpec, parseCacheSpec } from './spec.js';
import type { StepCache, StepCacheOptions } from './step-cache.js';
import { TaylorSeerCache } from './taylorseer.js';
import { TeaCache, type TeaCacheOptions } from './teacache.js';

export type CreateCacheOptions = StepCacheOptions & Pick<TeaCacheOptions, 'coefficients'>;

/** A step cache for "fbcache:0.12", "teacache:0.3", "taylorseer:4[:2]", "fora:3"; null for "none". */
export function createCache(spec: string | CacheSpec, options: CreateCacheOptions = {}): StepCache | null {
  const s = typeof spec === 'string' ? parseCacheSpec(spec) : spec;
  if (!s) return null;
  if (options.coefficients !== undefined && s.method !== 'teacache')
    throw new RangeError(`cache "${spec}": polynomial coefficients are a TeaCache option`);
  switch (s.method) {
    case 'fbcache':
      return new FirstBlockCache(s.threshold, options);
    case 'teacache':
      return new TeaCache(s.threshold, options);
    case 'taylorseer':
    case 'fora':
      return new TaylorSeerCache(s, options);
  }
}
