// The one public options type for token reduction, its defaults (the ToMA reference script for
// Flux.1-dev, see shared/docs/toma.md) and its validation.
import { MAX_TILE } from './tile-layout.js';

export const REDUCTION_METHODS = ['dense', 'toma', 'tomesd', 'todo', 'hilbert'] as const;
export type ReductionMethod = (typeof REDUCTION_METHODS)[number];

export interface ReducerOptions {
  method: ReductionMethod;
  /** Fraction of image tokens removed (ToMA; ToMeSD removes as many). In [0, 1). Default 0.5. */
  ratio?: number;
  /** ToMA tile side in tokens, 1..8 (ToMeSD uses it to match ToMA's token count). Default 4. */
  tile?: number;
  /** ToMA softmax temperature tau of the merge weights. Default 1000. */
  temperature?: number;
  /** The first exemptDouble double-stream / exemptSingle single-stream blocks are never reduced. Default 5 / 5. */
  exemptDouble?: number;
  exemptSingle?: number;
  /** Reducing steps: those with step % mergeEvery === 0 (3: 12 of 35 steps). Default 3; 1 = every step. */
  mergeEvery?: number;
  /** Explicit reducing steps (0-based); overrides mergeEvery. */
  mergeSteps?: readonly number[];
  /**
   * Destinations chosen at step s are reused by the reducing steps before s + reuseSteps, then chosen
   * again. Default 1: chosen afresh at every reducing step (the reference). Within a step they are
   * always chosen once per block group (at its first reduced block) and shared by the group.
   */
  reuseSteps?: number;
  /**
   * When destinations are reused from an earlier step, reuse their merge weights too (ToMA: P and M;
   * ToMeSD: the matching) instead of recomputing them from the current step's features. Default false.
   */
  reuseWeights?: boolean;
  /** ToMeSD only: match in every reduced block (the original ToMeSD) instead of once per group. Default false. */
  matchEveryBlock?: boolean;
  /** ToMeSD's random destinations (mixed with the step). Default 0. */
  seed?: number;
}

export type ResolvedReducerOptions = Required<Omit<ReducerOptions, 'mergeSteps'>> & {
  mergeSteps: readonly number[] | null;
};

export const REDUCER_DEFAULTS: Omit<ResolvedReducerOptions, 'method'> = {
  ratio: 0.5,
  tile: 4,
  temperature: 1000,
  exemptDouble: 5,
  exemptSingle: 5,
  mergeEvery: 3,
  mergeSteps: null,
  reuseSteps: 1,
  reuseWeights: false,
  matchEveryBlock: false,
  seed: 0,
};

const KEYS = new Set<string>(['method', ...Object.keys(REDUCER_DEFAULTS)]);

function fail(what: string, rule: string, v: unknown): never {
  throw new RangeError(`token reduction option ${what} must be ${rule}, got ${JSON.stringify(v)}`);
}

function int(v: unknown, what: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    fail(
      what,
      max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer in [${min}, ${max}]`,
      v,
    );
  return v;
}

/** Fills in the defaults and checks every option, with errors that name it. */
export function resolveReducerOptions(o: ReducerOptions): ResolvedReducerOptions {
  if (!o || typeof o !== 'object')
    throw new TypeError('token reduction options must be an object with a method');
  for (const k of Object.keys(o))
    if (!KEYS.has(k))
      throw new TypeError(`unknown token reduction option "${k}" (known: ${[...KEYS].join(', ')})`);
  if (!REDUCTION_METHODS.includes(o.method))
    throw new TypeError(
      `token reduction method must be one of ${REDUCTION_METHODS.join(', ')}; got ${JSON.stringify(o.method)}`,
    );
  const r: ResolvedReducerOptions = { ...REDUCER_DEFAULTS, ...stripUndefined(o) } as ResolvedReducerOptions;
  if (typeof r.ratio !== 'number' || !(r.ratio >= 0 && r.ratio < 1))
    fail('ratio', 'a number in [0, 1)', r.ratio);
  int(r.tile, 'tile', 1, MAX_TILE);
  if (typeof r.temperature !== 'number' || !Number.isFinite(r.temperature) || r.temperature <= 0)
    fail('temperature', 'a positive finite number', r.temperature);
  int(r.exemptDouble, 'exemptDouble', 0);
  int(r.exemptSingle, 'exemptSingle', 0);
  int(r.mergeEvery, 'mergeEvery', 1);
  int(r.reuseSteps, 'reuseSteps', 1);
  int(r.seed, 'seed', 0, 0xffffffff);
  for (const k of ['reuseWeights', 'matchEveryBlock'] as const)
    if (typeof r[k] !== 'boolean') fail(k, 'true or false', r[k]);
  if (r.mergeSteps !== null) {
    if (!Array.isArray(r.mergeSteps)) fail('mergeSteps', 'a list of step indices', r.mergeSteps);
    for (const s of r.mergeSteps) int(s, 'mergeSteps entry', 0);
  }
  return r;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Whether a sampling step reduces tokens under these options. */
export function isReducingStep(o: ResolvedReducerOptions, step: number): boolean {
  return o.mergeSteps ? o.mergeSteps.includes(step) : step % o.mergeEvery === 0;
}
