// The configurations an evaluation compares: dense (always, first: the reference), then ToMA and ToMeSD
// at each merge ratio, ToDo and HilbertA once each (they have no ratio); with step caches, each cache
// alone (on dense) and crossed with every method configuration, and configurations given explicitly as
// METHOD[:RATIO][+CACHE] (src/pipeline/methods.ts).
import type { CacheSpec } from '../cache/spec.js';
import {
  cacheSpecString,
  METHODS,
  type MethodConfig,
  type MethodName,
  configLabel as methodConfigLabel,
  parseCacheSpec,
  RATIO_METHODS,
  type ScheduleOverrides,
} from '../pipeline/methods.js';

export interface EvalConfig {
  /** "dense", "toma 0.5", "tomesd 0.25", "todo", "hilbert", "fbcache 0.1", "toma 0.5 + fbcache 0.1" */
  label: string;
  method: MethodName;
  ratio: number | null;
  /** The step cache's canonical spec ("fbcache:0.1"), or null (absent in results of older versions). */
  cache?: string | null;
  /** This configuration's merge schedule over the run's (--configs "toma:0.5@every=3"). */
  schedule?: ScheduleOverrides;
}

export { RATIO_METHODS };

/** What `toma eval` compares unless --methods (or --configs / --caches) says otherwise. */
export const DEFAULT_EVAL_METHODS: readonly MethodName[] = ['toma', 'tomesd', 'todo', 'hilbert'];

export function configLabel(
  method: MethodName,
  ratio: number | null,
  cache: CacheSpec | null = null,
): string {
  return methodConfigLabel({ method, ratio, cache });
}

function toEval(k: MethodConfig): EvalConfig {
  return {
    label: methodConfigLabel(k),
    method: k.method,
    ratio: k.ratio,
    cache: k.cache ? cacheSpecString(k.cache) : null,
    ...(k.schedule ? { schedule: k.schedule } : {}),
  };
}

/** The cache of a configuration, parsed (null without one). */
export function configCache(k: EvalConfig): CacheSpec | null {
  return k.cache ? parseCacheSpec(k.cache) : null;
}

/**
 * dense, the methods at their ratios, then for each cache: the cache alone and every method
 * configuration with it, then the explicit configurations; each label once, in that order.
 */
export function buildConfigs(
  methods: readonly MethodName[],
  ratios: readonly number[],
  o: { caches?: readonly CacheSpec[]; explicit?: readonly MethodConfig[] } = {},
): EvalConfig[] {
  for (const m of methods)
    if (!METHODS.includes(m)) throw new RangeError(`unknown method "${m}" (${METHODS.join(', ')})`);
  for (const r of ratios)
    if (!(r > 0 && r < 1)) throw new RangeError(`merge ratios must be in (0, 1), got ${r}`);
  const base: MethodConfig[] = [];
  for (const m of new Set(methods)) {
    if (m === 'dense') continue;
    if (RATIO_METHODS.includes(m))
      for (const r of [...new Set(ratios)].sort((a, b) => a - b))
        base.push({ method: m, ratio: r, cache: null });
    else base.push({ method: m, ratio: null, cache: null });
  }
  const all: MethodConfig[] = [{ method: 'dense', ratio: null, cache: null }, ...base];
  for (const cache of o.caches ?? []) {
    all.push({ method: 'dense', ratio: null, cache });
    for (const k of base) all.push({ ...k, cache });
  }
  all.push(...(o.explicit ?? []));
  const out: EvalConfig[] = [];
  for (const k of all) {
    const e = toEval(k);
    if (!out.some((x) => x.label === e.label)) out.push(e);
  }
  return out;
}
