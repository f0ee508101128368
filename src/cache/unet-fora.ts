// FORA's fixed-interval step cache (src/cache/spec.ts, `fora:N`) for UNets: a full step every N steps
// stores each Transformer2D module's residual (its output less its input); the steps in between skip
// the transformer modules and add the stored residuals, while the ResNets, samplers and convolutions
// still run. FLUX's FORA caches the whole block stack's residual; a UNet interleaves its transformers
// with ResNets at three resolutions, so the residual is kept per module (what FORA does per DiT block).
// First-Block-Cache and TeaCache probe a DiT's first block and TaylorSeer extrapolates its stack output:
// neither has a defined UNet form here, so only `fora` is offered for UNets.
import type { Backend } from '../backend.js';
import type { Tensor } from '../tensor.js';

export class UnetForaCache {
  readonly label: string;
  private residuals: Tensor[] = [];
  private layoutKey = '';
  private lastStep = -1;
  private computing = true;
  private index = 0;
  /** Steps of the current sampling run that ran the transformer modules. */
  readonly computedSteps: number[] = [];

  constructor(
    private readonly be: Backend,
    readonly interval: number,
  ) {
    if (!Number.isInteger(interval) || interval < 1)
      throw new RangeError(`fora: the interval must be an integer >= 1, got ${interval}`);
    this.label = `fora${interval}`;
  }

  /**
   * Starts a forward: computes on steps that are multiples of the interval, and whenever the stored
   * residuals cannot serve (a new sampling run: the step did not move forward; another batch or latent
   * size). Returns whether this forward runs the transformer modules.
   */
  begin(step: number, layoutKey: string): boolean {
    const fresh = step <= this.lastStep || layoutKey !== this.layoutKey || this.residuals.length === 0;
    if (step <= this.lastStep) this.computedSteps.length = 0;
    this.layoutKey = layoutKey;
    this.lastStep = step;
    this.computing = fresh || step % this.interval === 0;
    if (this.computing) {
      this.clear();
      this.computedSteps.push(step);
    }
    this.index = 0;
    return this.computing;
  }

  /** Transformer module number `index` of this forward on x: run it (and store its residual) or reuse. */
  module(x: Tensor, run: () => Tensor): Tensor {
    const be = this.be;
    const i = this.index++;
    if (this.computing) {
      const y = run();
      this.residuals[i] = be.keep(be.tidy(() => be.add(y, be.scale(x, -1))));
      return y;
    }
    const r = this.residuals[i];
    if (!r)
      throw new Error(
        `fora: no stored residual for transformer module ${i} (the model changed between steps)`,
      );
    return be.add(x, r);
  }

  private clear(): void {
    for (const r of this.residuals) r.dispose();
    this.residuals = [];
  }

  dispose(): void {
    this.clear();
    this.lastStep = -1;
    this.layoutKey = '';
  }
}
