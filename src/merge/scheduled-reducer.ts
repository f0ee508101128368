// What every token reducer shares: the step schedule, exempt blocks, argument checks on the hook calls,
// and per-group state (destinations chosen at a group's first reduced block, reused by the rest of the
// group and, with reuseSteps > 1, by later steps).
import type { Backend } from '../backend.js';
import type { Tensor } from '../tensor.js';
import { checkTensor } from './check.js';
import type { BlockPlan, ForwardInfo, TokenReducer } from './hooks.js';
import { isReducingStep, type ResolvedReducerOptions } from './options.js';

export type BlockKind = 'double' | 'single';

function checkForwardInfo(info: ForwardInfo, who: string): void {
  const bad = (what: string) => {
    throw new RangeError(`${who}: beginForward(): ${what}, got ${JSON.stringify(info)}`);
  };
  if (!info || typeof info !== 'object') bad('info must be an object');
  const { step, steps, batch, grid, textTokens } = info;
  if (!Number.isInteger(steps) || steps < 1) bad('steps must be a positive integer');
  if (!Number.isInteger(step) || step < 0 || step >= steps) bad('step must be an integer in [0, steps)');
  if (!Number.isInteger(batch) || batch < 1) bad('batch must be a positive integer');
  if (!Array.isArray(grid) || grid.length !== 2 || !grid.every((d) => Number.isInteger(d) && d >= 1))
    bad('grid must be [rows, cols] of positive integers');
  if (!Number.isInteger(textTokens) || textTokens < 0) bad('textTokens must be a non-negative integer');
}

/** Group state with the step it was chosen at; dispose() frees its tensors. */
export interface GroupState {
  chosenAt: number;
  dispose(): void;
}

export abstract class ScheduledReducer<S extends GroupState = GroupState> implements TokenReducer {
  abstract readonly name: string;
  protected info: ForwardInfo | null = null;
  private reducing = false;
  private groups = new Map<BlockKind, S>();
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
    if (this.info) throw new Error(`${this.name}: beginForward() called again before endForward()`);
    this.info = info;
    this.reducing = isReducingStep(this.o, info.step);
    const key = `${info.batch}:${info.grid[0]}x${info.grid[1]}`;
    if (key !== this.stateKey || info.step <= this.lastStep) this.clearGroups();
    this.stateKey = key;
    this.lastStep = info.step;
    for (const [kind, s] of this.groups) {
      if (info.step < s.chosenAt || info.step >= s.chosenAt + this.o.reuseSteps) this.dropGroup(kind);
    }
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
    return this.plan(kind, xImg, info, index);
  }

  endForward(): void {
    const info = this.info;
    this.info = null;
    if (!info) return;
    // Free what no later step can reuse.
    for (const [kind, s] of this.groups)
      if (info.step + 1 >= s.chosenAt + this.o.reuseSteps) this.dropGroup(kind);
  }

  dispose(): void {
    this.info = null;
    this.lastStep = -1;
    this.clearGroups();
  }

  /** The plan for a reduced block (schedule and exemptions already applied); index is the block's. */
  protected abstract plan(kind: BlockKind, xImg: Tensor, info: ForwardInfo, index: number): BlockPlan | null;

  protected group(kind: BlockKind): S | undefined {
    return this.groups.get(kind);
  }

  /** Stores a group's state; its tensors are kept alive past the caller's tidy() scopes. */
  protected setGroup(kind: BlockKind, s: S, tensors: Tensor[]): void {
    for (const t of tensors) this.be.keep(t);
    const old = this.groups.get(kind);
    if (old && old !== s) old.dispose();
    this.groups.set(kind, s);
  }

  private dropGroup(kind: BlockKind): void {
    this.groups.get(kind)?.dispose();
    this.groups.delete(kind);
  }

  private clearGroups(): void {
    for (const s of this.groups.values()) s.dispose();
    this.groups.clear();
  }
}
