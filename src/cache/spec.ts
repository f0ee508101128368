// Step-cache specs as the CLI and the library spell them, and forced decision schedules (replay).
//   fbcache:T            First-Block-Cache, relative-change threshold T >= 0
//   teacache:T           TeaCache, accumulated-estimate threshold T >= 0
//   taylorseer:N[:O[:W]] TaylorSeer, a full step every N, Taylor order O (default 1), W warm-up steps (default 3)
//   fora:N               fixed interval: a full step every N, the last residual reused in between
//   none                 no cache

export const CACHE_METHODS = ['fbcache', 'teacache', 'taylorseer', 'fora'] as const;
export type CacheMethod = (typeof CACHE_METHODS)[number];

export type CacheSpec =
  | { method: 'fbcache'; threshold: number }
  | { method: 'teacache'; threshold: number }
  | { method: 'taylorseer'; interval: number; order: number; warmup: number }
  | { method: 'fora'; interval: number };

/**
 * TaylorSeer's defaults, from the authors' FLUX configuration (TaylorSeer-FLUX cache_init.py, mode
 * 'Taylor': max_order 1, first_enhance 3). Order 1: the first difference of the block-stack residual is
 * a stable slope estimate; second differences over intervals of 4-6 steps of a 28-step schedule amplify
 * the noise of three residuals, which is why the authors ship order 1 for FLUX.
 */
export const TAYLORSEER_DEFAULT_ORDER = 1;
export const TAYLORSEER_DEFAULT_WARMUP = 3;
export const TAYLORSEER_MAX_ORDER = 4;

const USAGE =
  'fbcache:T, teacache:T (T >= 0), taylorseer:N[:ORDER[:WARMUP]] (N >= 1, ORDER 0..4, WARMUP >= 1), fora:N (N >= 1) or none';

function bad(spec: string, why: string): never {
  throw new RangeError(`cache "${spec}": ${why} (expected ${USAGE})`);
}

function number(spec: string, text: string | undefined, what: string): number {
  if (text === undefined || text.trim() === '') bad(spec, `${what} is missing`);
  const v = Number(text);
  if (!Number.isFinite(v)) bad(spec, `${what} "${text}" is not a number`);
  return v;
}

function integer(spec: string, text: string | undefined, what: string, min: number, max = Infinity): number {
  const v = number(spec, text, what);
  if (!Number.isInteger(v) || v < min || v > max)
    bad(
      spec,
      `${what} must be an integer ${max === Infinity ? `>= ${min}` : `in ${min}..${max}`}, got ${text}`,
    );
  return v;
}

/** Parses a cache spec; null for "none". Errors name the spec and the expected forms. */
export function parseCacheSpec(text: string): CacheSpec | null {
  const spec = text.trim();
  if (spec === 'none') return null;
  const [method, ...args] = spec.split(':');
  const arity = (min: number, max: number) => {
    if (args.length < min || args.length > max)
      bad(spec, `${method} takes ${min === max ? min : `${min} to ${max}`} argument(s), got ${args.length}`);
  };
  switch (method) {
    case 'fbcache':
    case 'teacache': {
      arity(1, 1);
      const threshold = number(spec, args[0], 'the threshold');
      if (threshold < 0) bad(spec, `the threshold must be >= 0, got ${args[0]}`);
      return { method, threshold };
    }
    case 'taylorseer': {
      arity(1, 3);
      return {
        method,
        interval: integer(spec, args[0], 'the interval', 1),
        order:
          args[1] === undefined
            ? TAYLORSEER_DEFAULT_ORDER
            : integer(spec, args[1], 'the order', 0, TAYLORSEER_MAX_ORDER),
        warmup: args[2] === undefined ? TAYLORSEER_DEFAULT_WARMUP : integer(spec, args[2], 'the warm-up', 1),
      };
    }
    case 'fora':
      arity(1, 1);
      return { method, interval: integer(spec, args[0], 'the interval', 1) };
    default:
      bad(spec, `unknown cache method "${method}"`);
  }
}

/** The canonical spec string (parseCacheSpec(cacheSpecString(s)) gives s back). */
export function cacheSpecString(s: CacheSpec): string {
  switch (s.method) {
    case 'fbcache':
    case 'teacache':
      return `${s.method}:${s.threshold}`;
    case 'taylorseer': {
      const tail =
        s.warmup !== TAYLORSEER_DEFAULT_WARMUP
          ? `:${s.order}:${s.warmup}`
          : s.order !== TAYLORSEER_DEFAULT_ORDER
            ? `:${s.order}`
            : '';
      return `taylorseer:${s.interval}${tail}`;
    }
    case 'fora':
      return `fora:${s.interval}`;
  }
}

/** A short name for tables and legends: "fbcache 0.12", "taylorseer 4:2". */
export function cacheLabel(s: CacheSpec): string {
  const [method, ...args] = cacheSpecString(s).split(':');
  return `${method} ${args.join(':')}`;
}

/** Which steps run in full, fixed in advance (replay of a pattern measured elsewhere). */
export type ForcedSchedule = readonly boolean[] | string;

/**
 * The full steps of a forced schedule for a run of `steps` steps: a boolean per step, or "full=0,1,2,5"
 * (the listed steps run in full, the others skip). Step 0 must be full: nothing is cached before it.
 */
export function resolveSchedule(schedule: ForcedSchedule, steps: number): boolean[] {
  let full: boolean[];
  if (typeof schedule === 'string') {
    const m = /^\s*full\s*=\s*([\d\s,]*)$/.exec(schedule);
    if (!m)
      throw new RangeError(
        `schedule "${schedule}": expected full=STEP,STEP,... (the steps computed in full)`,
      );
    full = new Array<boolean>(steps).fill(false);
    for (const part of m[1]!.split(',')) {
      if (part.trim() === '') continue;
      const i = Number(part);
      if (!Number.isInteger(i) || i < 0 || i >= steps)
        throw new RangeError(`schedule "${schedule}": step ${part.trim()} is not in 0..${steps - 1}`);
      full[i] = true;
    }
  } else {
    if (
      !Array.isArray(schedule) ||
      schedule.length !== steps ||
      !schedule.every((v) => typeof v === 'boolean')
    )
      throw new RangeError(
        `schedule: expected ${steps} booleans (one per step), got ${JSON.stringify(schedule)}`,
      );
    full = [...schedule];
  }
  if (!full[0])
    throw new RangeError('schedule: step 0 must be computed in full (nothing is cached before it)');
  return full;
}

/** "full=0,1,2,5" for a list of per-step decisions. */
export function scheduleString(full: readonly boolean[]): string {
  return `full=${full.flatMap((f, i) => (f ? [i] : [])).join(',')}`;
}
