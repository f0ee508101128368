// First-Block-Cache (ParaAttention; also in xDiT and diffusers). Each step runs the first double-stream
// block; r1 = its image output minus its image input. With r1_ref the r1 of the last full step,
//   rel = mean|r1 − r1_ref| / mean|r1_ref|
// and rel < threshold (with something cached) skips every later block: the image hidden state after
// the last block is taken as (first block's image output) + (the residual of the remaining blocks at the
// last full step). A full step stores r1_ref = r1 and that residual. final_layer always runs.
import type { Tensor } from '../tensor.js';
import { subtract } from './rows.js';
import { BaseStepCache, type CacheStepStart, type StepCacheOptions } from './step-cache.js';

export class FirstBlockCache extends BaseStepCache {
  readonly probe = 'first-block' as const;
  /** r1 of the last full step, and the residual of the blocks after the first one. */
  private reference: Tensor | null = null;
  private residual: Tensor | null = null;
  /** This step's r1 (adopted as the reference if the step computes). */
  private r1: Tensor | null = null;

  constructor(
    readonly threshold: number,
    options: StepCacheOptions = {},
  ) {
    super({ method: 'fbcache', threshold }, options);
  }

  override measure(r1: Tensor): Tensor | null {
    this.step('measure');
    const be = this.be!;
    this.r1?.dispose();
    this.r1 = be.keep(r1);
    return this.reference ? be.absDiffSums(r1, this.reference) : null;
  }

  protected choose(change: (number | null)[]) {
    return {
      full: change.map((rel) => rel === null || !this.residual || !(rel < this.threshold)),
      metric: change,
    };
  }

  protected residualFor(): Tensor {
    return this.residual!;
  }

  protected store(firstOut: Tensor, hidden: Tensor, full: boolean[], _s: CacheStepStart): void {
    if (!this.r1) throw new Error('fbcache: update() before measure()');
    this.reference = this.replaceRows(this.reference, this.r1, full);
    this.r1 = null;
    this.residual = this.replaceRows(this.residual, subtract(this.be!, hidden, firstOut), full);
  }

  protected override stepDone(): void {
    this.r1?.dispose();
    this.r1 = null;
  }

  protected dropState(): void {
    this.reference?.dispose();
    this.residual?.dispose();
    this.reference = null;
    this.residual = null;
  }
}
