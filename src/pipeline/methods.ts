// Methods by name for the pipeline and the CLI: a token reducer and/or an attention pattern per
// generation, and optionally a step cache (src/cache: reuse across sampling steps, which multiplies with
// the reduction within each forward). Defaults for the embedded model (2 double + 4 single blocks)
// differ from Flux-dev's: the spec's 5 + 5 exempt blocks would leave nothing to merge, so only the first
// block of each kind is kept dense, and every step merges (the schedule is an option).
//
// Configurations as text (eval, benchmarks): METHOD[:RATIO][@SCHEDULE...][+CACHE], e.g.
// "toma:0.5+fbcache:0.12", "toma+hilbert:0.5+teacache:0.3", "fbcache:0.1" (dense with a cache),
// "hilbert", "toma:0.5@every=3@exempt=1/2" (the merge schedule of this configuration: merge on every 3rd
// step, exempt the first double and the first two single blocks; also @reuse=N, @tile=S and @temp=T,
// ToMA's softmax temperature; for UNets @levels=1,2 and @scope=block|self-attention).
import type { Backend } from '../backend.js';
import { type CreateCacheOptions, createCache } from '../cache/create.js';
import { CACHE_METHODS, type CacheSpec, cacheLabel, cacheSpecString, parseCacheSpec } from '../cache/spec.js';
import type { StepCache } from '../cache/step-cache.js';
import type { AttentionPattern, TokenReducer } from '../merge/hooks.js';
import { dense } from '../merge/hooks.js';
import type { ReducerOptions } from '../merge/options.js';
import { createReducer } from '../merge/reducers.js';
import { createHilbertPattern } from '../sparse/hilbert-pattern.js';
import { createTomaHilbert } from '../sparse/toma-hilbert.js';

export const METHODS = ['dense', 'toma', 'tomesd', 'todo', 'hilbert', 'toma+hilbert'] as const;
export type MethodName = (typeof METHODS)[number];

export interface MethodSetup {
  name: string;
  reducer: TokenReducer;
  pattern?: AttentionPattern;
  /** The step cache, when one was asked for (forwardAsync / generate({ cache }) use it). */
  cache?: StepCache;
  dispose(): void;
}

export { CACHE_METHODS, type CacheSpec, cacheLabel, cacheSpecString, createCache, parseCacheSpec };

/** Methods that take a merge ratio. */
export const RATIO_METHODS: readonly MethodName[] = ['toma', 'tomesd', 'toma+hilbert'];

/** Merge-schedule options one configuration may set over the run's (the @ parts of its text). */
export type ScheduleOverrides = Partial<
  Pick<
    ReducerOptions,
    | 'mergeEvery'
    | 'exemptDouble'
    | 'exemptSingle'
    | 'reuseSteps'
    | 'tile'
    | 'temperature'
    | 'levels'
    | 'unetScope'
  >
>;

/** A method, its ratio and a cache, as one configuration of an evaluation or a benchmark. */
export interface MethodConfig {
  method: MethodName;
  /** Merge ratio for RATIO_METHODS (null: the method's default, or a method without one). */
  ratio: number | null;
  cache: CacheSpec | null;
  /** This configuration's merge schedule, over the run's defaults (absent: none). */
  schedule?: ScheduleOverrides;
}

const SCHEDULE_KEYS = ['every', 'exempt', 'reuse', 'tile', 'temp', 'levels', 'scope'] as const;
const UNET_SCOPES = ['block', 'self-attention'] as const;

function scheduleParts(s: ScheduleOverrides | undefined): { key: string; value: string }[] {
  if (!s) return [];
  const out: { key: string; value: string }[] = [];
  if (s.mergeEvery !== undefined) out.push({ key: 'every', value: `${s.mergeEvery}` });
  if (s.exemptDouble !== undefined || s.exemptSingle !== undefined)
    out.push({ key: 'exempt', value: `${s.exemptDouble ?? '-'}/${s.exemptSingle ?? '-'}` });
  if (s.reuseSteps !== undefined) out.push({ key: 'reuse', value: `${s.reuseSteps}` });
  if (s.tile !== undefined) out.push({ key: 'tile', value: `${s.tile}` });
  if (s.temperature !== undefined) out.push({ key: 'temp', value: `${s.temperature}` });
  if (s.levels !== undefined) out.push({ key: 'levels', value: s.levels.join(',') });
  if (s.unetScope !== undefined) out.push({ key: 'scope', value: s.unetScope });
  return out;
}

/** A merge schedule as words ("every 3 exempt 1/2"); empty without one. */
export function scheduleLabel(s: ScheduleOverrides | undefined): string {
  return scheduleParts(s)
    .map(({ key, value }) => `${key} ${value}`)
    .join(' ');
}

/** "toma 0.5", "hilbert", "toma 0.5 + fbcache 0.12", "fbcache 0.12", "toma 0.5 every 3 exempt 1/2". */
export function configLabel(k: MethodConfig): string {
  let m = k.ratio === null ? k.method : `${k.method} ${k.ratio}`;
  for (const { key, value } of scheduleParts(k.schedule)) m += ` ${key} ${value}`;
  if (!k.cache) return m;
  return k.method === 'dense' && !k.schedule ? cacheLabel(k.cache) : `${m} + ${cacheLabel(k.cache)}`;
}

/** The configuration as text that parseConfig() reads back ("toma:0.5@every=3+fbcache:0.12"). */
export function configString(k: MethodConfig): string {
  let m = k.ratio === null ? k.method : `${k.method}:${k.ratio}`;
  for (const { key, value } of scheduleParts(k.schedule)) m += `@${key}=${value}`;
  if (!k.cache) return m;
  return k.method === 'dense' && !k.schedule ? cacheSpecString(k.cache) : `${m}+${cacheSpecString(k.cache)}`;
}

/** Parses "@every=3@exempt=1/2@reuse=2@tile=4" (after the method); errors name the part. */
function parseSchedule(parts: string[], entry: string): ScheduleOverrides | undefined {
  if (parts.length === 0) return undefined;
  const s: ScheduleOverrides = {};
  const int = (v: string, what: string, min: number) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isInteger(n) || n < min)
      throw new RangeError(`configuration "${entry}": @${what} must be an integer >= ${min}, got "${v}"`);
    return n;
  };
  for (const p of parts) {
    const [key, value, ...more] = p.split('=');
    if (value === undefined || more.length || !(SCHEDULE_KEYS as readonly string[]).includes(key!))
      throw new RangeError(
        `configuration "${entry}": unknown schedule part "@${p}" (${SCHEDULE_KEYS.map((k) => `@${k}=...`).join(', ')}; exempt as DOUBLE/SINGLE)`,
      );
    if (key === 'every') s.mergeEvery = int(value, 'every', 1);
    else if (key === 'reuse') s.reuseSteps = int(value, 'reuse', 1);
    else if (key === 'tile') s.tile = int(value, 'tile', 1);
    else if (key === 'temp') {
      const t = Number(value);
      if (value.trim() === '' || !(t > 0) || !Number.isFinite(t))
        throw new RangeError(`configuration "${entry}": @temp must be a positive number, got "${value}"`);
      s.temperature = t;
    } else if (key === 'levels') {
      s.levels = value.split(',').map((l) => int(l, 'levels', 0));
    } else if (key === 'scope') {
      if (!(UNET_SCOPES as readonly string[]).includes(value))
        throw new RangeError(
          `configuration "${entry}": @scope must be ${UNET_SCOPES.join(' or ')}, got "${value}"`,
        );
      s.unetScope = value as (typeof UNET_SCOPES)[number];
    } else {
      const [d, si, ...x] = value.split('/');
      if (si === undefined || x.length)
        throw new RangeError(
          `configuration "${entry}": @exempt must be DOUBLE/SINGLE, e.g. 1/2, got "${value}"`,
        );
      if (d !== '-') s.exemptDouble = int(d!, 'exempt (double)', 0);
      if (si !== '-') s.exemptSingle = int(si, 'exempt (single)', 0);
    }
  }
  return s;
}

/** Parses METHOD[:RATIO][+CACHE] (see the file comment); errors name the part that is wrong. */
export function parseConfig(text: string): MethodConfig {
  const entry = text.trim();
  const parts = entry.split('+').map((p) => p.trim());
  const isCache = (p: string) => {
    const head = p.split(':')[0]!;
    return head === 'none' || (CACHE_METHODS as readonly string[]).includes(head);
  };
  const at = parts.findIndex(isCache);
  const methodText = (at < 0 ? parts : parts.slice(0, at)).join('+');
  const cacheParts = at < 0 ? [] : parts.slice(at);
  if (cacheParts.length > 1)
    throw new RangeError(
      `configuration "${entry}": one cache at most, after the method (got ${cacheParts.join(', ')})`,
    );
  const cache = cacheParts.length ? parseCacheSpec(cacheParts[0]!) : null;
  const [methodMain, ...scheduleText] = methodText.split('@');
  const schedule = parseSchedule(scheduleText, entry);
  const withSchedule = (k: MethodConfig): MethodConfig => (schedule ? { ...k, schedule } : k);
  if (methodMain === '') {
    if (schedule) throw new RangeError(`configuration "${entry}": a merge schedule needs a method`);
    return { method: 'dense', ratio: null, cache };
  }
  const [name, ratioText, ...rest] = methodMain!.split(':');
  if (!(METHODS as readonly string[]).includes(name!) || rest.length)
    throw new RangeError(
      `configuration "${entry}": unknown method "${methodText}" (${METHODS.join(', ')}, with :RATIO for ${RATIO_METHODS.join(', ')}; caches: ${CACHE_METHODS.join(', ')})`,
    );
  const method = name as MethodName;
  if (ratioText === undefined) return withSchedule({ method, ratio: null, cache });
  if (!RATIO_METHODS.includes(method))
    throw new RangeError(`configuration "${entry}": ${method} takes no merge ratio`);
  const ratio = Number(ratioText);
  if (ratioText.trim() === '' || !(ratio > 0 && ratio < 1))
    throw new RangeError(`configuration "${entry}": the merge ratio must be in (0, 1), got "${ratioText}"`);
  return withSchedule({ method, ratio, cache });
}

/** createMethod's last argument: a step cache to create with the method. */
export interface MethodCacheOptions {
  cache?: string | CacheSpec | null;
  cacheOptions?: CreateCacheOptions;
}

export type MethodOptions = Omit<ReducerOptions, 'method'>;

/** Reducer options for a small model: exempt only the first block of each kind, merge every step. */
export function smallModelDefaults(depthDouble: number, depthSingle: number): MethodOptions {
  return { exemptDouble: Math.min(1, depthDouble), exemptSingle: Math.min(1, depthSingle), mergeEvery: 1 };
}

/** doubleBlocks: the model's double-stream depth (HilbertA numbers layers across both kinds). */
export function createMethod(
  be: Backend,
  method: MethodName,
  o: MethodOptions = {},
  doubleBlocks = 19,
  c: MethodCacheOptions = {},
): MethodSetup {
  const setup = createReduction(be, method, o, doubleBlocks);
  const cache = c.cache ? createCache(c.cache, c.cacheOptions) : null;
  if (!cache) return setup;
  return {
    ...setup,
    name: method === 'dense' ? cache.label : `${setup.name} + ${cache.label}`,
    cache,
    dispose() {
      cache.dispose();
      setup.dispose();
    },
  };
}

function createReduction(
  be: Backend,
  method: MethodName,
  o: MethodOptions,
  doubleBlocks: number,
): MethodSetup {
  switch (method) {
    case 'dense':
      return { name: 'dense', reducer: dense, dispose() {} };
    case 'hilbert': {
      const pattern = createHilbertPattern(be, {}, { doubleBlocks });
      return { name: 'hilbert', reducer: dense, pattern, dispose: () => pattern.dispose() };
    }
    case 'toma+hilbert': {
      const c = createTomaHilbert(be, o, {}, doubleBlocks);
      return {
        name: `toma+hilbert ${o.ratio ?? 0.5}`,
        reducer: c.reducer,
        pattern: c.pattern,
        dispose: () => c.dispose(),
      };
    }
    case 'toma':
    case 'tomesd':
    case 'todo': {
      const reducer = createReducer(be, { ...o, method });
      const label = method === 'todo' ? 'todo' : `${method} ${o.ratio ?? 0.5}`;
      return { name: label, reducer, dispose: () => reducer.dispose() };
    }
    default:
      throw new RangeError(`unknown method "${method}" (${METHODS.join(', ')})`);
  }
}
