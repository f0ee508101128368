// Euler and Euler-ancestral sampling over a discrete sigma schedule (discrete.ts), for noise-predicting
// (epsilon) models such as SDXL. With the model's noise estimate eps at sigma_i:
//   the model input is x / sqrt(sigma_i² + 1); x0 = x − sigma_i·eps is the current estimate of the image
//   Euler:           x ← x + (sigma_{i+1} − sigma_i)·eps        (the ODE derivative (x − x0)/sigma_i = eps)
//   Euler ancestral: sigma_up   = sqrt(sigma_{i+1}² · (sigma_i² − sigma_{i+1}²) / sigma_i²)
//                    sigma_down = sqrt(sigma_{i+1}² − sigma_up²)
//                    x ← x + (sigma_down − sigma_i)·eps + sigma_up·n,  n ~ N(0, 1) fresh each step
// (diffusers' EulerDiscreteScheduler without churn, and EulerAncestralDiscreteScheduler). The step is
// computed in f32 whatever the model's dtype (diffusers upcasts there too); the fresh noise comes from the
// caller's seeded generator on the host, so every backend draws the same numbers.
import type { Backend } from '../backend.js';
import type { Tensor } from '../tensor.js';
import { type DiscreteSchedulerConfig, inputScale, type SigmaSchedule, sigmaSchedule } from './discrete.js';

export const SAMPLERS = ['euler', 'euler-a'] as const;
export type SamplerName = (typeof SAMPLERS)[number];

/** The sampler a folder's scheduler_config.json names (its _class_name), else plain Euler. */
export function samplerOfClass(className: string | undefined): SamplerName {
  return className === 'EulerAncestralDiscreteScheduler' ? 'euler-a' : 'euler';
}

/** x_next = x + dt·eps + noiseStd·n for one step. */
export interface StepCoefficients {
  sigma: number;
  sigmaNext: number;
  dt: number;
  /** sigma_up of the ancestral step; 0 for Euler (no noise drawn). */
  noiseStd: number;
}

/** The step from sigmas[i] to sigmas[i + 1]. */
export function stepCoefficients(sigmas: readonly number[], i: number, kind: SamplerName): StepCoefficients {
  if (!Number.isInteger(i) || i < 0 || i + 1 >= sigmas.length)
    throw new RangeError(`step ${i} is outside 0..${sigmas.length - 2}`);
  const sigma = sigmas[i]!;
  const sigmaNext = sigmas[i + 1]!;
  if (kind === 'euler') return { sigma, sigmaNext, dt: sigmaNext - sigma, noiseStd: 0 };
  const up = Math.sqrt((sigmaNext ** 2 * (sigma ** 2 - sigmaNext ** 2)) / sigma ** 2);
  // max(0, ·): sigma_next² − up² is sigma_next⁴/sigma², never negative but for rounding
  const down = Math.sqrt(Math.max(0, sigmaNext ** 2 - up ** 2));
  return { sigma, sigmaNext, dt: down - sigma, noiseStd: up };
}

export class EulerSampler {
  readonly schedule: SigmaSchedule;

  /**
   * `noise` gives n for each ancestral step: as many N(0, 1) values as x has, in x's layout (the
   * caller's seeded generator). Plain Euler never calls it.
   */
  constructor(
    readonly config: DiscreteSchedulerConfig,
    readonly steps: number,
    readonly kind: SamplerName,
    private readonly noise?: (step: number) => Float32Array,
  ) {
    if (!(SAMPLERS as readonly string[]).includes(kind))
      throw new RangeError(`unknown sampler "${kind}" (${SAMPLERS.join(', ')})`);
    if (kind === 'euler-a' && !noise) throw new RangeError('the ancestral sampler needs a noise source');
    this.schedule = sigmaSchedule(config, steps);
  }

  get timesteps(): number[] {
    return this.schedule.timesteps;
  }

  get initNoiseSigma(): number {
    return this.schedule.initNoiseSigma;
  }

  /** What the model input is multiplied by at step i (scale_model_input). */
  inputScale(i: number): number {
    return inputScale(this.schedule.sigmas[i]!);
  }

  coefficients(i: number): StepCoefficients {
    return stepCoefficients(this.schedule.sigmas, i, this.kind);
  }

  /** x at step i + 1 from x (f32) and the guided noise estimate eps at step i (any float dtype): f32. */
  step(be: Backend, x: Tensor, eps: Tensor, i: number): Tensor {
    const k = this.coefficients(i);
    return be.tidy(() => {
      const e = eps.dtype === 'f32' ? eps : be.cast(eps, 'f32');
      let next = be.add(x, be.scale(e, k.dt));
      if (k.noiseStd > 0) {
        const n = this.noise!(i);
        if (n.length !== x.size)
          throw new RangeError(`ancestral noise: ${n.length} values for a latent of ${x.size}`);
        next = be.add(next, be.scale(be.tensor(n, x.shape, 'f32'), k.noiseStd));
      }
      return next;
    });
  }

  /** x0 = x − sigma_i·eps, the current estimate of the final latents (for previews): f32. */
  predictedOriginal(be: Backend, x: Tensor, eps: Tensor, i: number): Tensor {
    const sigma = this.schedule.sigmas[i]!;
    return be.tidy(() => be.add(x, be.scale(eps.dtype === 'f32' ? eps : be.cast(eps, 'f32'), -sigma)));
  }
}
