// The noise schedule of discrete-time (DDPM-trained) diffusion models such as Stable Diffusion XL, as
// diffusers' Euler schedulers derive it from scheduler/scheduler_config.json:
//   betas: "scaled_linear" = linspace(sqrt(beta_start), sqrt(beta_end), N)², or "linear"
//   alphā_t = Π_{s<=t} (1 − beta_s);   sigma_t = sqrt((1 − alphā_t) / alphā_t)   (t = 0..N−1)
//   inference timesteps for `steps` steps, by timestep_spacing:
//     leading:  (0, r, 2r, …, (steps−1)·r) reversed + steps_offset, r = N div steps  (SDXL: 981, 961, …, 1)
//     linspace: steps points from N−1 down to 0 (fractional)
//     trailing: N, N − N/steps, … (steps points) rounded half to even, minus 1
//   sigmas: sigma_t linearly interpolated at those timesteps, then a final 0
//   init_noise_sigma: the largest sigma for linspace/trailing, sqrt(sigma_max² + 1) for leading (the
//   first timestep is not N−1 there, so the noise is scaled as if for the model input, x / sqrt(σ²+1)).
// Everything is computed in float64 (diffusers computes the betas and cumulative product in float32:
// differences of about 1e-6 relative, far below the f16 the models run in); timesteps of the linspace
// spacing are rounded to float32 as diffusers stores them.
// No Node modules: part of the browser bundle.

export type BetaSchedule = 'scaled_linear' | 'linear';
export type TimestepSpacing = 'leading' | 'linspace' | 'trailing';

/** The fields of a diffusers scheduler_config.json the Euler schedulers use. */
export interface DiscreteSchedulerConfig {
  num_train_timesteps: number;
  beta_start: number;
  beta_end: number;
  beta_schedule: BetaSchedule;
  timestep_spacing: TimestepSpacing;
  steps_offset: number;
  /** Only "epsilon" (the model predicts the noise), SDXL base's. */
  prediction_type: 'epsilon';
  /** The class named in the file (EulerDiscreteScheduler, ...), if any. */
  class_name?: string;
}

/** stabilityai/stable-diffusion-xl-base-1.0's scheduler/scheduler_config.json. */
export const SDXL_SCHEDULER_CONFIG: DiscreteSchedulerConfig = {
  num_train_timesteps: 1000,
  beta_start: 0.00085,
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  timestep_spacing: 'leading',
  steps_offset: 1,
  prediction_type: 'epsilon',
  class_name: 'EulerDiscreteScheduler',
};

export class SchedulerConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SchedulerConfigError';
  }
}

/** Training steps beyond this are no real model's (all SD / SDXL releases: 1000). */
const MAX_TRAIN_TIMESTEPS = 100_000;

/**
 * A parsed scheduler_config.json, checked: unsupported settings (other prediction types, Karras or
 * log-linear sigmas, trained betas, ...) are errors naming the field, not silently different images.
 * Absent fields take diffusers' EulerDiscreteScheduler defaults.
 */
export function discreteSchedulerConfig(
  json: Record<string, unknown>,
  where = 'scheduler_config.json',
): DiscreteSchedulerConfig {
  const fail = (m: string): never => {
    throw new SchedulerConfigError(`${where}: ${m}`);
  };
  const number = (key: string, fallback: number, ok: (v: number) => boolean, what: string): number => {
    const v = json[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v))
      fail(`${key} must be ${what}, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const oneOf = <T extends string>(key: string, fallback: T, allowed: readonly T[], why = ''): T => {
    const v = json[key] ?? fallback;
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v))
      fail(
        `${key} ${JSON.stringify(v)} is not supported (${allowed.map((a) => `"${a}"`).join(' or ')}${why})`,
      );
    return v as T;
  };
  const N = number(
    'num_train_timesteps',
    1000,
    (v) => Number.isInteger(v) && v >= 2 && v <= MAX_TRAIN_TIMESTEPS,
    `an integer in 2..${MAX_TRAIN_TIMESTEPS}`,
  );
  const beta_start = number('beta_start', 0.0001, (v) => v > 0 && v < 1, 'in (0, 1)');
  const beta_end = number('beta_end', 0.02, (v) => v > 0 && v < 1, 'in (0, 1)');
  const c: DiscreteSchedulerConfig = {
    num_train_timesteps: N,
    beta_start,
    beta_end,
    beta_schedule: oneOf('beta_schedule', 'linear', ['scaled_linear', 'linear'] as const),
    timestep_spacing: oneOf('timestep_spacing', 'linspace', ['leading', 'linspace', 'trailing'] as const),
    steps_offset: number(
      'steps_offset',
      0,
      (v) => Number.isInteger(v) && v >= 0 && v < N,
      `an integer in 0..${N - 1}`,
    ),
    prediction_type: oneOf(
      'prediction_type',
      'epsilon',
      ['epsilon'] as const,
      ': SDXL base predicts the noise',
    ),
  };
  if (typeof json._class_name === 'string') c.class_name = json._class_name;
  if (json.trained_betas !== undefined && json.trained_betas !== null)
    fail(
      'trained_betas (an explicit beta list) is not supported: give beta_start, beta_end and beta_schedule',
    );
  for (const k of [
    'use_karras_sigmas',
    'use_exponential_sigmas',
    'use_beta_sigmas',
    'rescale_betas_zero_snr',
  ])
    if (json[k] === true) fail(`${k}: true is not supported (only the plain interpolated sigmas)`);
  oneOf('interpolation_type', 'linear', ['linear'] as const);
  oneOf('final_sigmas_type', 'zero', ['zero'] as const);
  if (beta_end < beta_start) fail(`beta_end ${beta_end} is below beta_start ${beta_start}`);
  return c;
}

/** sigma_t = sqrt((1 − alphā_t) / alphā_t) for every training timestep t = 0..N−1 (increasing). */
export function trainingSigmas(c: DiscreteSchedulerConfig): Float64Array {
  const N = c.num_train_timesteps;
  const sigmas = new Float64Array(N);
  let alphaBar = 1;
  for (let t = 0; t < N; t++) {
    const f = N === 1 ? 0 : t / (N - 1);
    const beta =
      c.beta_schedule === 'scaled_linear'
        ? (Math.sqrt(c.beta_start) + f * (Math.sqrt(c.beta_end) - Math.sqrt(c.beta_start))) ** 2
        : c.beta_start + f * (c.beta_end - c.beta_start);
    alphaBar *= 1 - beta;
    sigmas[t] = Math.sqrt((1 - alphaBar) / alphaBar);
  }
  return sigmas;
}

/** Round half to even (numpy's round), for the trailing spacing. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The inference timesteps for `steps` steps, from the noisiest (model inputs are these values). */
export function inferenceTimesteps(c: DiscreteSchedulerConfig, steps: number): number[] {
  const N = c.num_train_timesteps;
  if (!Number.isInteger(steps) || steps < 1 || steps > N)
    throw new RangeError(
      `steps must be an integer in 1..${N} (the model's training timesteps), got ${steps}`,
    );
  switch (c.timestep_spacing) {
    case 'leading': {
      const ratio = Math.floor(N / steps);
      return Array.from({ length: steps }, (_, i) => (steps - 1 - i) * ratio + c.steps_offset);
    }
    case 'linspace': {
      if (steps === 1) return [0]; // numpy's linspace of one point is its start
      const step = (N - 1) / (steps - 1);
      return Array.from({ length: steps }, (_, i) => Math.fround((steps - 1 - i) * step));
    }
    case 'trailing': {
      const ratio = N / steps;
      // numpy's arange(N, 0, −ratio): ceil(N / ratio) points N − i·ratio
      const n = Math.ceil(N / ratio);
      return Array.from({ length: n }, (_, i) => roundHalfEven(N - i * ratio) - 1);
    }
  }
}

/** Linear interpolation of the training sigmas at a (possibly fractional) timestep (numpy's interp). */
export function sigmaAt(trainSigmas: Float64Array, t: number): number {
  const last = trainSigmas.length - 1;
  if (t <= 0) return trainSigmas[0]!;
  if (t >= last) return trainSigmas[last]!;
  const i = Math.floor(t);
  const f = t - i;
  return f === 0 ? trainSigmas[i]! : trainSigmas[i]! + f * (trainSigmas[i + 1]! - trainSigmas[i]!);
}

export interface SigmaSchedule {
  /** The timestep given to the model at each step (steps values). */
  timesteps: number[];
  /** sigma at each step, then the final 0 (steps + 1 values, decreasing). */
  sigmas: number[];
  /** The standard deviation of the initial latents: the noise is drawn N(0, 1) and multiplied by it. */
  initNoiseSigma: number;
}

/** Timesteps, sigmas and the initial noise scale of a `steps`-step run. */
export function sigmaSchedule(c: DiscreteSchedulerConfig, steps: number): SigmaSchedule {
  const train = trainingSigmas(c);
  const timesteps = inferenceTimesteps(c, steps);
  const sigmas = [...timesteps.map((t) => sigmaAt(train, t)), 0];
  const max = Math.max(...sigmas);
  const initNoiseSigma = c.timestep_spacing === 'leading' ? Math.sqrt(max * max + 1) : max;
  return { timesteps, sigmas, initNoiseSigma };
}

/** scale_model_input's factor: the model sees x / sqrt(sigma² + 1) (unit variance at every noise level). */
export function inputScale(sigma: number): number {
  return 1 / Math.sqrt(sigma * sigma + 1);
}
