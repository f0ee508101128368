// The contract between a step cache and the cached forward (cached-forward.ts), and what every cache
// shares: sampling runs (state resets when the step does not move forward or the layout changes),
// per-image groups of batch rows, invalidation when the attention pattern's image order changes,
// forced decision schedules (replay), the record of decisions, and per-group state updates.
//
// One step of a cached forward, in order:
//   beginStep()            the embeddings are recorded
//   measure(probe)         the cache's probe, if it has one: the first block's image residual
//                          (First-Block-Cache) or the first block's modulated image input (TeaCache);
//                          returns f32 [B, 2] sums to read back (absDiffSums against the cache's reference)
//   decide(rowSums)        per group: run the remaining blocks, or reuse the cache
//   skippedResidual()      (some group skips) the residual the skipping rows add to their base
//   update(base, hidden)   (some group computes) the fresh image hidden states after the last block
//   endStep(ok)
// base is the image hidden state the residual is measured from: the first block's output for
// First-Block-Cache, the block stack's input (after img_in) otherwise; both in the pattern's order.
import type { Backend } from '../backend.js';
import type { FluxConfig } from '../models/flux/config.js';
import type { Tensor } from '../tensor.js';
import { selectRows } from './rows.js';
import { type CacheSpec, cacheLabel, cacheSpecString, type ForcedSchedule, resolveSchedule } from './spec.js';

export type CacheProbe = 'first-block' | 'modulated-input' | 'none';

export interface CacheStepStart {
  be: Backend;
  step: number;
  steps: number;
  /** Batch row -> group (an image); groups are numbered 0..G-1. */
  rowGroups: readonly number[];
  /** Batch, grid, text tokens, hidden size, dtype: cached tensors are valid only for one layout. */
  layoutKey: string;
  /** The attention pattern's image order of this step (null: raster order). */
  imageOrder: Uint32Array | null;
  config: FluxConfig;
}

/** What a cache decided in the current (or last) sampling run. */
export interface CacheDecisions {
  steps: number;
  /** [group][step]: computed in full (true) or taken from the cache. */
  full: boolean[][];
  /** [group][step]: the measured relative change of the probe (null where nothing was measured). */
  change: (number | null)[][];
  /** [group][step]: the number compared with the threshold (TeaCache: the accumulated estimate). */
  metric: (number | null)[][];
}

export interface StepCache {
  /** Canonical spec ("fbcache:0.12") and a short label ("fbcache 0.12"). */
  readonly spec: string;
  readonly label: string;
  readonly method: CacheSpec['method'];
  readonly probe: CacheProbe;
  /** Replaying a forced schedule (decisions from it; the probe and metric still run). */
  readonly replay: boolean;
  beginStep(s: CacheStepStart): void;
  /** The probe's value at this step -> f32 [B, 2] (absDiffSums) to read back, or null. */
  measure(probe: Tensor): Tensor | null;
  /** Per group: compute the remaining blocks (true) or reuse the cache (false). */
  decide(rowSums: Float32Array | null): boolean[];
  /** [B, N, hidden]: what the skipping rows add to base. Owned by the cache: do not dispose. */
  skippedResidual(): Tensor;
  /** The fresh image hidden states [B, N, hidden] of a step where some group computed. */
  update(base: Tensor, hidden: Tensor): void;
  /** ok = false after an error: the run's state is dropped. */
  endStep(ok: boolean): void;
  decisions(): CacheDecisions;
  dispose(): void;
}

export interface StepCacheOptions {
  /** Forced decisions (replay): a boolean per step or "full=0,1,2,5"; default: the method decides. */
  schedule?: ForcedSchedule;
}

/** The steps group g computed in full. */
export function fullSteps(d: CacheDecisions, group = 0): number[] {
  return (d.full[group] ?? []).flatMap((f, i) => (f ? [i] : []));
}

function sameOrder(a: Uint32Array | null, b: Uint32Array | null): boolean {
  if (a === b) return true;
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function checkRowGroups(rowGroups: readonly number[], who: string): number {
  let groups = 0;
  for (const g of rowGroups) {
    if (!Number.isInteger(g) || g < 0)
      throw new RangeError(
        `${who}: row groups must be non-negative integers, got ${JSON.stringify(rowGroups)}`,
      );
    groups = Math.max(groups, g + 1);
  }
  const seen = new Set(rowGroups);
  if (rowGroups.length === 0 || seen.size !== groups)
    throw new RangeError(
      `${who}: row groups must number the groups 0..G-1, got ${JSON.stringify(rowGroups)}`,
    );
  return groups;
}

export abstract class BaseStepCache implements StepCache {
  readonly spec: string;
  readonly label: string;
  readonly method: CacheSpec['method'];
  abstract readonly probe: CacheProbe;
  readonly replay: boolean;
  protected be: Backend | null = null;
  /** The step in progress. */
  protected cur: CacheStepStart | null = null;
  protected groups = 0;
  protected rowGroups: readonly number[] = [];
  /** Nothing usable is cached (start of a run, or a new image order): every group computes. */
  protected invalid = true;
  /** This step's decision per group, once made. */
  protected decided: boolean[] | null = null;
  private runKey = '';
  private lastStep = -1;
  private imageOrder: Uint32Array | null = null;
  private forced: boolean[] | null = null;
  private record: CacheDecisions = { steps: 0, full: [], change: [], metric: [] };

  constructor(
    spec: CacheSpec,
    private readonly options: StepCacheOptions = {},
  ) {
    this.spec = cacheSpecString(spec);
    this.label = cacheLabel(spec);
    this.method = spec.method;
    this.replay = options.schedule !== undefined;
  }

  beginStep(s: CacheStepStart): void {
    const who = `${this.label}: beginStep()`;
    if (this.cur) throw new Error(`${who} called again before endStep()`);
    if (
      !Number.isInteger(s.steps) ||
      s.steps < 1 ||
      !Number.isInteger(s.step) ||
      s.step < 0 ||
      s.step >= s.steps
    )
      throw new RangeError(`${who}: step ${s.step} of ${s.steps} is not a step of the run`);
    const groups = checkRowGroups(s.rowGroups, who);
    const key = `${s.layoutKey}|${s.steps}|${s.rowGroups.join(',')}`;
    if (key !== this.runKey || s.step <= this.lastStep) {
      // a new sampling run
      this.dropState();
      this.invalid = true;
      this.groups = groups;
      this.rowGroups = [...s.rowGroups];
      this.forced =
        this.options.schedule === undefined ? null : resolveSchedule(this.options.schedule, s.steps);
      const perGroup = <T>() => Array.from({ length: groups }, () => [] as T[]);
      this.record = { steps: s.steps, full: perGroup(), change: perGroup(), metric: perGroup() };
      this.startRun(s);
    } else if (!sameOrder(this.imageOrder, s.imageOrder)) {
      // residuals were stored in the old order: compute afresh
      this.dropState();
      this.invalid = true;
    }
    this.runKey = key;
    this.lastStep = s.step;
    this.imageOrder = s.imageOrder ? s.imageOrder.slice() : null;
    this.cur = s;
    this.be = s.be;
    this.decided = null;
  }

  measure(_probe: Tensor): Tensor | null {
    throw new Error(`${this.label} has no probe`);
  }

  decide(rowSums: Float32Array | null): boolean[] {
    const s = this.step('decide');
    if (this.decided) throw new Error(`${this.label}: decide() called twice in step ${s.step}`);
    let change: (number | null)[] = new Array(this.groups).fill(null);
    if (rowSums) {
      if (rowSums.length !== 2 * this.rowGroups.length)
        throw new RangeError(
          `${this.label}: decide(): ${rowSums.length} sums for ${this.rowGroups.length} rows`,
        );
      const diff = new Float64Array(this.groups);
      const sum = new Float64Array(this.groups);
      this.rowGroups.forEach((g, r) => {
        diff[g] += rowSums[2 * r]!;
        sum[g] += rowSums[2 * r + 1]!;
      });
      change = Array.from(diff, (d, g) => (sum[g]! > 0 ? d / sum[g]! : d > 0 ? Number.POSITIVE_INFINITY : 0));
    }
    const own = this.choose(change, s);
    let full = own.full;
    if (this.forced) full = full.map(() => this.forced![s.step]!);
    if (this.invalid) full = full.map(() => true);
    this.commit(full, s);
    for (let g = 0; g < this.groups; g++) {
      this.record.full[g]![s.step] = full[g]!;
      this.record.change[g]![s.step] = change[g]!;
      this.record.metric[g]![s.step] = own.metric[g]!;
    }
    this.decided = full;
    return full;
  }

  skippedResidual(): Tensor {
    const s = this.step('skippedResidual');
    if (!this.decided || this.decided.every(Boolean))
      throw new Error(`${this.label}: skippedResidual() at step ${s.step}, where no group skips`);
    return this.residualFor(s);
  }

  update(base: Tensor, hidden: Tensor): void {
    const s = this.step('update');
    if (!this.decided?.some(Boolean))
      throw new Error(`${this.label}: update() at step ${s.step}, where no group computed`);
    this.store(base, hidden, this.decided, s);
    this.invalid = false;
  }

  endStep(ok: boolean): void {
    const s = this.cur;
    this.cur = null;
    this.decided = null;
    this.stepDone();
    if (!ok) {
      this.dropState();
      this.invalid = true;
      this.runKey = ''; // the next step starts a new run
    } else if (s && s.step === s.steps - 1) {
      this.dropState(); // the run is over: free the tensors, keep the record
    }
  }

  decisions(): CacheDecisions {
    const r = this.record;
    return {
      steps: r.steps,
      full: r.full.map((x) => [...x]),
      change: r.change.map((x) => [...x]),
      metric: r.metric.map((x) => [...x]),
    };
  }

  dispose(): void {
    this.stepDone();
    this.dropState();
    this.cur = null;
    this.runKey = '';
    this.lastStep = -1;
  }

  /** The method's own decision per group, from the measured relative changes (null: not measured). */
  protected abstract choose(
    change: (number | null)[],
    s: CacheStepStart,
  ): { full: boolean[]; metric: (number | null)[] };
  /** The final decision (after replay and invalidation) for the method's bookkeeping. */
  protected commit(_full: boolean[], _s: CacheStepStart): void {}
  protected abstract residualFor(s: CacheStepStart): Tensor;
  protected abstract store(base: Tensor, hidden: Tensor, full: boolean[], s: CacheStepStart): void;
  /** Frees the tensors of this step that no later step uses. */
  protected stepDone(): void {}
  /** Frees every cached tensor (and resets what the method derived from them). */
  protected abstract dropState(): void;
  /** A new run starts (after dropState()). */
  protected startRun(_s: CacheStepStart): void {}

  protected step(what: string): CacheStepStart {
    if (!this.cur) throw new Error(`${this.label}: ${what}() outside beginStep() / endStep()`);
    return this.cur;
  }

  /**
   * State after a step: the rows of groups that computed (`full`) from `fresh`, the others from `old`.
   * Takes ownership of both (they are freed when replaced) and returns the kept result.
   */
  protected replaceRows(old: Tensor | null, fresh: Tensor, full: boolean[]): Tensor {
    const be = this.be!;
    const rows = this.rowGroups.map((g) => full[g]!);
    if (!old || rows.every(Boolean)) {
      if (!rows.every(Boolean))
        throw new Error(`${this.label}: no cached rows to keep for the groups that skipped`);
      old?.dispose();
      return be.keep(fresh);
    }
    const next = be.keep(selectRows(be, fresh, old, rows));
    old.dispose();
    fresh.dispose();
    return next;
  }
}
