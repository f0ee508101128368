// TeaCache (Liu et al., "Timestep Embedding Tells: It's Time to Cache for Video Diffusion Model", CVPR
// 2025). The probe is the first double-stream block's timestep-modulated image input,
// modulate(LN(img), shift1, scale1). With prev the previous step's probe (updated at every step),
//   rel = mean|cur − prev| / mean|prev|,   acc += poly(rel)
// where poly rescales the input change into an estimate of the output change. acc < threshold skips the
// whole block stack (image hidden = block-stack input + the stack's residual at the last full step);
// otherwise the stack runs, acc = 0 and the residual is stored. The first and the last step always run.
import type { FluxConfig } from '../models/flux/config.js';
import type { Tensor } from '../tensor.js';
import { subtract } from './rows.js';
import { BaseStepCache, type CacheStepStart, type StepCacheOptions } from './step-cache.js';

/**
 * TeaCache's rescaling polynomial for FLUX.1 (the authors' teacache_flux.py), highest degree first as
 * numpy.poly1d takes it.
 */
export const TEACACHE_FLUX_COEFFICIENTS: readonly number[] = [
  4.98651651e2, -2.83781631e2, 5.58554382e1, -3.82021401, 2.64230861e-1,
];
/** poly(x) = x: the estimate is the input change itself (models without fitted coefficients). */
export const IDENTITY_COEFFICIENTS: readonly number[] = [1, 0];

/** The FLUX.1 transformer (dev and schnell share it): 19 + 38 blocks of 3072, 64 latent channels. */
export function isFlux1(c: FluxConfig): boolean {
  return c.hidden_size === 3072 && c.depth === 19 && c.depth_single_blocks === 38 && c.in_channels === 64;
}

/** The coefficients TeaCache uses for a model unless given: FLUX.1's fit, else the identity. */
export function defaultTeaCacheCoefficients(c: FluxConfig): readonly number[] {
  return isFlux1(c) ? TEACACHE_FLUX_COEFFICIENTS : IDENTITY_COEFFICIENTS;
}

/** numpy.poly1d(coefficients)(x): Horner's rule, highest degree first. */
export function polyval(coefficients: readonly number[], x: number): number {
  let y = 0;
  for (const c of coefficients) y = y * x + c;
  return y;
}

export interface TeaCacheOptions extends StepCacheOptions {
  /** Rescaling polynomial, highest degree first (default: defaultTeaCacheCoefficients(config)). */
  coefficients?: readonly number[];
}

export class TeaCache extends BaseStepCache {
  readonly probe = 'modulated-input' as const;
  private coefficients: readonly number[] = IDENTITY_COEFFICIENTS;
  private previous: Tensor | null = null;
  private residual: Tensor | null = null;
  /** Per group: the accumulated estimate since the last full step, and this step's candidate. */
  private accumulated: number[] = [];
  private candidate: number[] = [];

  constructor(
    readonly threshold: number,
    private readonly teaOptions: TeaCacheOptions = {},
  ) {
    super({ method: 'teacache', threshold }, teaOptions);
    const c = teaOptions.coefficients;
    if (c !== undefined && (!Array.isArray(c) || c.length === 0 || !c.every(Number.isFinite)))
      throw new RangeError(`teacache: coefficients must be finite numbers, got ${JSON.stringify(c)}`);
  }

  /** The polynomial in use (known once a run has started). */
  get polynomial(): readonly number[] {
    return this.coefficients;
  }

  protected override startRun(s: CacheStepStart): void {
    this.coefficients = this.teaOptions.coefficients ?? defaultTeaCacheCoefficients(s.config);
    this.accumulated = new Array(this.groups).fill(0);
  }

  override measure(modulated: Tensor): Tensor | null {
    this.step('measure');
    const be = this.be!;
    const metric = this.previous ? be.absDiffSums(modulated, this.previous) : null;
    this.previous?.dispose(); // safe: the recorded sum reads it before the buffer is reused
    this.previous = be.keep(modulated);
    return metric;
  }

  protected choose(change: (number | null)[], s: CacheStepStart) {
    const always = s.step === 0 || s.step === s.steps - 1;
    this.candidate = change.map((rel, g) =>
      rel === null ? 0 : this.accumulated[g]! + polyval(this.coefficients, rel),
    );
    return {
      full: change.map(
        (rel, g) => always || rel === null || !this.residual || !(this.candidate[g]! < this.threshold),
      ),
      metric: change.map((rel, g) => (rel === null ? null : this.candidate[g]!)),
    };
  }

  protected override commit(full: boolean[]): void {
    this.accumulated = full.map((f, g) => (f ? 0 : this.candidate[g]!));
  }

  protected residualFor(): Tensor {
    return this.residual!;
  }

  protected store(input: Tensor, hidden: Tensor, full: boolean[]): void {
    this.residual = this.replaceRows(this.residual, subtract(this.be!, hidden, input), full);
  }

  protected dropState(): void {
    this.previous?.dispose();
    this.residual?.dispose();
    this.previous = null;
    this.residual = null;
    this.accumulated = new Array(this.groups).fill(0);
  }
}
