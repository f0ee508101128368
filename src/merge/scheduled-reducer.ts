// What every token reducer shares: the step schedule, exempt blocks, argument checks on the hook calls,
// and per-group state (destinations chosen at a group's first reduced block, reused by the rest of the
// group and, with reuseSteps > 1, by later steps). A reducer serves Flux through the TokenReducer
// methods (groups 'double' and 'single') and UNets through UnetReducer (src/merge/unet-reducer.ts,
// groups per path and level), with the same methods' plan() behind both.
import type { Backend } from '../backend.js';
import type { Tensor } from '../tensor.js';
import { checkTensor } from './check.js';
import type { BlockPlan, ForwardInfo, TokenReducer, UnetPath } from './hooks.js';
import { isReducingStep, type ResolvedReducerOptions } from './options.js';

export type BlockKind = 'double' | 'single';

/**
 * A block group: its first reduced block of a step chooses destinations, the later ones reuse them.
 * Flux: the double-stream and the single-stream blocks. UNet: the blocks of one path at one level
 * ('down:1', 'mid:2', 'up:1', ...).
 */
export type GroupName = BlockKind | `${UnetPath}:${number}`;

/** One block to plan (schedule, exemptions and argument checks already applied). */
export interface BlockRequest {
  group: GroupName;
  /** The block's token grid [rows, cols] (raster order). */
  grid: readonly [number, number];
  /** The block's index (Flux: within its kind; UNet: over all transformer blocks). */
  index: number;
  step: number;
  /** Similarity input [B, H*W, C]: the block's normalised (Flux: and modulated) tokens. */
  x: Tensor;
  /** The block's input before its norm [B, H*W, C] where the model passes it (UNet), else null. */
  input: Tensor | null;
}

function checkForwardInfo(info: ForwardInfo, who: string): void {
  const bad = (what: string) => {
    throw new RangeError(`${who}: beginForward(): ${what}, got ${JSON.stringify(info)}`);
  };
  if (!info || typeof info !== 'object') bad('info must be an object');
  const { step, steps, batch, grid, textTokens } = info;
  checkStep(step, steps, batch, bad);
  if (!Array.isArray(grid) || grid.length !== 2 || !grid.every((d) => Number.isInteger(d) && d >= 1))
    bad('grid must be [rows, cols] of positive integers');
  if (!Number.isInteger(textTokens) || textTokens < 0) bad('textTokens must be a non-negative integer');
}

/** The checks every forward's step, steps and batch get. */
export function checkStep(step: number, steps: number, batch: number, bad: (what: string) => never): void {
  if (!Number.isInteger(steps) || steps < 1) bad('steps must be a positive integer');
  if (!Number.isInteger(step) || step < 0 || step >= steps) bad('step must be an integer in [0, steps)');
  if (!Number.isInteger(batch) || batch < 1) bad('batch must be a positive integer');
}

/** Group state with the step it was chosen at; dispose() frees its tensors. */
export interface GroupState {
  chosenAt: number;
  dispose(): void;
}

export abstract class ScheduledReducer<S extends GroupState = GroupState> implements TokenReducer {
  abstract readonly name: string;
  /** The Flux forward in progress. */
  protected info: ForwardInfo | null = null;
  /** A forward (Flux or UNet) is in progress, at this step. */
  private passStep: number | null = null;
  private reducing = false;
  private groups = new Map<GroupName, S>();
  /** batch and grid the group states were computed for. */
  private stateKey = '';
  /** Step of the previous forward: a step that does not move forward starts a new sampling run. */
  private lastStep = -1;

  constructor(
    protected readonly be: Backend,
    protected readonly o: ResolvedReducerOptions,
  ) {}

  beginForward(info: ForwardInfo): void {
    checkForwardInfo(info, this.name);
    this.startPass(info.step, `${info.batch}:${info.grid[0]}x${info.grid[1]}`);
    this.info = info;
  }

  block(kind: BlockKind, index: number, xImg: Tensor): BlockPlan | null {
    const info = this.info;
    if (!info) throw new Error(`${this.name}: block() called outside beginForward() / endForward()`);
    if (kind !== 'double' && kind !== 'single')
      throw new TypeError(
        `${this.name}: block kind must be 'double' or 'single', got ${JSON.stringify(kind)}`,
      );
    if (!Number.isInteger(index) || index < 0)
      throw new RangeError(`${this.name}: block index must be a non-negative integer, got ${index}`);
    if (!this.reducing || index < (kind === 'double' ? this.o.exemptDouble : this.o.exemptSingle))
      return null;
    const [H, W] = info.grid;
    checkTensor(this.be, xImg, `${this.name}.block`, 'xImg', ['f32', 'f16'], [info.batch, H * W, null]);
    return this.plan({ group: kind, grid: info.grid, index, step: info.step, x: xImg, input: null });
  }

  endForward(): void {
    this.info = null;
    this.finishPass();
  }

  dispose(): void {
    this.info = null;
    this.passStep = null;
    this.lastStep = -1;
    this.clearGroups();
  }

  // ---- the pass protocol both front ends use (Flux above, UnetReducer) ----

  /**
   * Starts a forward at a step. stateKey names what group states depend on besides the step (batch,
   * grid): a change drops them, as does a step that does not move forward (a new sampling run).
   */
  startPass(step: number, stateKey: string): void {
    if (this.passStep !== null)
      throw new Error(`${this.name}: beginForward() called again before endForward()`);
    this.passStep = step;
    this.reducing = isReducingStep(this.o, step);
    if (stateKey !== this.stateKey || step <= this.lastStep) this.clearGroups();
    this.stateKey = stateKey;
    this.lastStep = step;
    for (const [name, s] of this.groups) {
      if (step < s.chosenAt || step >= s.chosenAt + this.o.reuseSteps) this.dropGroup(name);
    }
  }

  /** Whether the current pass reduces (the step schedule); false outside a pass. */
  get reducingStep(): boolean {
    return this.passStep !== null && this.reducing;
  }

  /** The plan for a block of the current pass (the caller checked the schedule and its arguments). */
  planBlock(req: BlockRequest): BlockPlan | null {
    if (this.passStep === null)
      throw new Error(`${this.name}: block() called outside beginForward() / endForward()`);
    return this.plan(req);
  }

  /** Ends the current pass (no-op outside one); frees what no later step can reuse. */
  finishPass(): void {
    const step = this.passStep;
    this.passStep = null;
    if (step === null) return;
    for (const [name, s] of this.groups) if (step + 1 >= s.chosenAt + this.o.reuseSteps) this.dropGroup(name);
  }

  /** The plan for a reduced block (schedule and exemptions already applied). */
  protected abstract plan(req: BlockRequest): BlockPlan | null;

  protected group(name: GroupName): S | undefined {
    return this.groups.get(name);
  }

  /** Stores a group's state; its tensors are kept alive past the caller's tidy() scopes. */
  protected setGroup(name: GroupName, s: S, tensors: Tensor[]): void {
    for (const t of tensors) this.be.keep(t);
    const old = this.groups.get(name);
    if (old && old !== s) old.dispose();
    this.groups.set(name, s);
  }

  private dropGroup(name: GroupName): void {
    this.groups.get(name)?.dispose();
    this.groups.delete(name);
  }

  private clearGroups(): void {
    for (const s of this.groups.values()) s.dispose();
    this.groups.clear();
  }
}
