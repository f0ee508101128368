// The one public options type for token reduction, its defaults (the ToMA reference script for
// Flux.1-dev, see shared/docs/toma.md; for UNets, UNET_DEFAULTS below) and its validation. One options
// object serves both model families: Flux-only options (exemptDouble, exemptSingle) are ignored for
// UNets, UNet-only options (levels, unetScope) for Flux; both are validated either way.
import type { UnetScope } from './hooks.js';
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
  /**
   * UNets only: the resolution levels whose transformer blocks are reduced (0 = full latent resolution).
   * Default per method (UNET_DEFAULTS): ToMA every level with transformer blocks, ToMeSD and ToDo the
   * highest-resolution one. Levels without transformer blocks are allowed and reduce nothing.
   */
  levels?: readonly number[];
  /**
   * UNets only: where a merge plan acts, 'self-attention' (merge the normalised input of attn1, unmerge
   * its output) or 'block' (the whole transformer block runs on merged tokens). See src/merge/hooks.ts.
   * Default per method: ToMA 'block', ToMeSD 'self-attention'. ToDo reduces keys/values only and takes
   * 'self-attention' (or nothing).
   */
  unetScope?: UnetScope;
}

export type ResolvedReducerOptions = Required<Omit<ReducerOptions, 'mergeSteps' | 'levels' | 'unetScope'>> & {
  mergeSteps: readonly number[] | null;
  /** null: the method's default (resolved per UNet forward, see unetLevels()). */
  levels: readonly number[] | null;
  /** null: the method's default (see resolveUnetReducerOptions()). */
  unetScope: UnetScope | null;
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
  levels: null,
  unetScope: null,
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
  if (r.levels !== null) {
    if (!Array.isArray(r.levels) || r.levels.length === 0)
      fail('levels', 'a non-empty list of UNet levels (0 = full latent resolution)', r.levels);
    for (const l of r.levels) int(l, 'levels entry', 0);
  }
  if (r.unetScope !== null && !UNET_SCOPES.includes(r.unetScope))
    fail('unetScope', `one of ${UNET_SCOPES.map((v) => `'${v}'`).join(', ')}`, r.unetScope);
  return r;
}

const UNET_SCOPES: readonly UnetScope[] = ['self-attention', 'block'];

/** The methods that reduce UNet blocks. */
export type UnetReductionMethod = 'toma' | 'tomesd' | 'todo';

/**
 * UNet defaults per method, where they differ from REDUCER_DEFAULTS (ratio 0.5, tile 4, temperature 1000,
 * matchEveryBlock false, reuseSteps 1 apply to UNets too).
 * - toma: no public UNet code exists (the authors' code is Flux-only), so: every level with transformer
 *   blocks (SDXL: 1 and 2, the mid block included), scope 'block' (the whole block on merged tokens, as
 *   ToMA's Flux single-stream blocks run), every step (mergeEvery 1): the Flux default of 3 is the Flux
 *   reference script's schedule, while the paper's SDXL speed-ups (-24% latency) need a reduction in most
 *   UNet forwards, and ToMeSD and ToDo reduce in every one.
 * - tomesd: ToMeSD's apply_patch defaults (dbolya/tomesd): ratio 0.5, max_downsample 1 = the
 *   highest-resolution level (read here as the highest-resolution level WITH transformer blocks: SDXL has
 *   none at level 0, where max_downsample 1 would reduce nothing), sx = sy = 2 with random destinations,
 *   merge_attn only (scope 'self-attention'), every step.
 * - todo: ToDo's defaults (Smith et al. 2024, ethansmith2000/ImprovedTokenMerge): downsample factor 2 on
 *   the highest-resolution level only (downsample_factor_level_2 = 1), every step
 *   (timestep_threshold_stop 0), keys/values of self-attention only. Their default resampling is
 *   nearest-neighbour; ours averages each 2x2 cell (the project's ToDo pooling, as for Flux).
 */
export const UNET_DEFAULTS: Record<
  UnetReductionMethod,
  { unetScope: UnetScope; mergeEvery: number; levels: 'all' | 'highest' }
> = {
  toma: { unetScope: 'block', mergeEvery: 1, levels: 'all' },
  tomesd: { unetScope: 'self-attention', mergeEvery: 1, levels: 'highest' },
  todo: { unetScope: 'self-attention', mergeEvery: 1, levels: 'highest' },
};

/** Resolved options for a UNet: unetScope filled in, mergeEvery at the UNet default unless given. */
export type ResolvedUnetReducerOptions = ResolvedReducerOptions & { unetScope: UnetScope };

/** resolveReducerOptions() with the UNet defaults of the method (UNET_DEFAULTS) and UNet-only checks. */
export function resolveUnetReducerOptions(o: ReducerOptions): ResolvedUnetReducerOptions {
  const r = resolveReducerOptions(o);
  if (r.method === 'dense' || r.method === 'hilbert')
    return { ...r, unetScope: r.unetScope ?? 'self-attention' };
  const d = UNET_DEFAULTS[r.method];
  if (r.method === 'todo' && r.unetScope === 'block')
    fail(
      'unetScope',
      "'self-attention' for method todo (it reduces self-attention keys/values only)",
      'block',
    );
  return {
    ...r,
    mergeEvery: o.mergeEvery === undefined ? d.mergeEvery : r.mergeEvery,
    unetScope: r.unetScope ?? d.unetScope,
  };
}

/** The UNet levels a forward reduces: the options' levels, else the method's default over the model's. */
export function unetLevels(o: ResolvedReducerOptions, attentionLevels: readonly number[]): readonly number[] {
  if (o.levels) return o.levels;
  if (o.method !== 'toma' && o.method !== 'tomesd' && o.method !== 'todo') return [];
  if (UNET_DEFAULTS[o.method].levels === 'all') return attentionLevels;
  return attentionLevels.length ? [Math.min(...attentionLevels)] : [];
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Whether a sampling step reduces tokens under these options. */
export function isReducingStep(o: ResolvedReducerOptions, step: number): boolean {
  return o.mergeSteps ? o.mergeSteps.includes(step) : step % o.mergeEvery === 0;
}
