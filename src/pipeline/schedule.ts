// Flux's rectified-flow timestep schedules. Time runs from 1 (noise) to 0 (data); Euler steps
// x <- x + (t_next - t) * v with the model predicting the velocity v = noise - data.

import { MAX_STEPS } from '../models/limits.js';

/** Flux's resolution-dependent shift: mu grows linearly with the image sequence length. */
export function fluxMu(imageTokens: number, baseShift = 0.5, maxShift = 1.15): number {
  const m = (maxShift - baseShift) / (4096 - 256);
  const b = baseShift - m * 256;
  return imageTokens * m + b;
}

/** t -> e^mu / (e^mu + (1/t - 1)^sigma), the shift Flux applies to a uniform grid. */
export function timeShift(mu: number, sigma: number, t: number): number {
  if (t <= 0) return 0;
  if (t >= 1) return 1;
  return Math.exp(mu) / (Math.exp(mu) + (1 / t - 1) ** sigma);
}

export type ScheduleKind = 'dev' | 'schnell';

/**
 * steps + 1 timesteps from 1 to 0. 'dev' shifts them towards 1 by an amount that grows with the
 * image sequence length (FLUX.1-dev); 'schnell' keeps the uniform grid (FLUX.1-schnell).
 */
export function fluxSchedule(steps: number, imageTokens: number, kind: ScheduleKind = 'dev'): number[] {
  if (!Number.isInteger(steps) || steps < 1 || steps > MAX_STEPS)
    throw new RangeError(`steps must be an integer in 1..${MAX_STEPS}, got ${steps}`);
  const ts = Array.from({ length: steps + 1 }, (_, i) => 1 - i / steps);
  if (kind === 'schnell') return ts;
  const mu = fluxMu(imageTokens);
  return ts.map((t) => timeShift(mu, 1, t));
}
