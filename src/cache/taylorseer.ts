// TaylorSeer (Liu et al., "From Reusing to Forecasting: Accelerating Diffusion Models with
// TaylorSeers", ICCV 2025) on the block stack's residual R = (image hidden after the last block) −
// (block-stack input), and FORA-style fixed-interval reuse as its order-0 case.
//
// Full steps: the first `warmup` steps, then every `interval` steps after the last full one. At a full
// step s (previous full step s', d = s − s') the Taylor factors are updated as the authors' code does
// (TaylorSeer taylor_utils.derivative_approximation):
//   F_0 = R(s),   F_{k+1} = (F_k − F_k_prev) / d     for k < order, while the previous F_k exists,
// and a skipped step s forecasts (taylor_formula)
//   R(s) ≈ Σ_k F_k · (s − s_last)^k / k!
// With full steps spaced evenly by d, F_k = Δ^k R / d^k (Δ^k: k-th backward difference over the last k+1
// full steps), i.e. R(s) ≈ Σ_k Δ^k R · (s − s_last)^k / (k! · d^k). Step distances count sampling steps.
// The decisions depend on the step only, so every image of a batch decides alike.
import type { Tensor } from '../tensor.js';
import { subtract } from './rows.js';
import type { CacheSpec } from './spec.js';
import { BaseStepCache, type CacheStepStart, type StepCacheOptions } from './step-cache.js';

export class TaylorSeerCache extends BaseStepCache {
  readonly probe = 'none' as const;
  /** F_0 .. F_k of the last full step. */
  private factors: Tensor[] = [];
  private lastFull = -1;
  readonly interval: number;
  readonly order: number;
  readonly warmup: number;

  constructor(spec: Extract<CacheSpec, { method: 'taylorseer' | 'fora' }>, options: StepCacheOptions = {}) {
    super(spec, options);
    this.interval = spec.interval;
    this.order = spec.method === 'fora' ? 0 : spec.order;
    this.warmup = spec.method === 'fora' ? 1 : spec.warmup;
  }

  protected choose(change: (number | null)[], s: CacheStepStart) {
    const full = s.step < this.warmup || this.lastFull < 0 || s.step - this.lastFull >= this.interval;
    return { full: change.map(() => full), metric: change };
  }

  protected residualFor(s: CacheStepStart): Tensor {
    const be = this.be!;
    const x = s.step - this.lastFull;
    let out = this.factors[0]!;
    let coefficient = 1;
    for (let k = 1; k < this.factors.length; k++) {
      coefficient *= x / k; // x^k / k!
      out = be.add(out, be.scale(this.factors[k]!, coefficient));
    }
    return out;
  }

  protected store(input: Tensor, hidden: Tensor, full: boolean[], s: CacheStepStart): void {
    if (!full.every(Boolean)) throw new Error(`${this.label}: groups decided differently`);
    const be = this.be!;
    const fresh = [subtract(be, hidden, input)];
    const d = this.lastFull < 0 ? 0 : s.step - this.lastFull;
    for (let k = 0; k < this.order && d > 0 && this.factors[k]; k++)
      fresh.push(be.scale(subtract(be, fresh[k]!, this.factors[k]!), 1 / d));
    for (const f of this.factors) f.dispose();
    this.factors = fresh.map((f) => be.keep(f));
    this.lastFull = s.step;
  }

  protected dropState(): void {
    for (const f of this.factors) f.dispose();
    this.factors = [];
    this.lastFull = -1;
  }
}
