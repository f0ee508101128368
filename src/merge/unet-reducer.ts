// The UNet front end of a token reducer: checks the hook calls of a UNet forward, applies the UNet
// options (levels, scope) and hands reduced blocks to the method's plan() (ToMA, ToMeSD, ToDo: the
// same code and kernels as for Flux) with one block group per path and level.
import type { Backend } from '../backend.js';
import type { Tensor } from '../tensor.js';
import { checkTensor } from './check.js';
import type {
  UnetBlockPlan,
  UnetBlockSite,
  UnetForwardInfo,
  UnetPath,
  UnetScope,
  UnetTokenReducer,
} from './hooks.js';
import { type ResolvedUnetReducerOptions, unetLevels } from './options.js';
import { checkStep, type ScheduledReducer } from './scheduled-reducer.js';

const PATHS: readonly UnetPath[] = ['down', 'mid', 'up'];

/** The token grid of a level: each UNet downsampler (3x3, stride 2, padding 1) halves it, rounding up. */
export function levelGrid(latent: readonly [number, number], level: number): [number, number] {
  let [h, w] = latent;
  for (let l = 0; l < level; l++) {
    h = Math.ceil(h / 2);
    w = Math.ceil(w / 2);
  }
  return [h, w];
}

function isGrid(g: unknown): g is readonly [number, number] {
  return Array.isArray(g) && g.length === 2 && g.every((d) => Number.isInteger(d) && d >= 1);
}

function checkInfo(info: UnetForwardInfo, who: string): void {
  const bad = (what: string): never => {
    throw new RangeError(`${who}: beginForward(): ${what}, got ${JSON.stringify(info)}`);
  };
  if (!info || typeof info !== 'object') bad('info must be an object');
  checkStep(info.step, info.steps, info.batch, bad);
  if (!isGrid(info.latent)) bad('latent must be [rows, cols] of positive integers');
  const levels = info.attentionLevels;
  if (
    !Array.isArray(levels) ||
    !levels.every((l, i) => Number.isInteger(l) && l >= 0 && (i === 0 || l > levels[i - 1]!))
  )
    bad('attentionLevels must be ascending non-negative integers');
}

export class UnetReducer implements UnetTokenReducer {
  readonly name: string;
  readonly scope: UnetScope;
  private info: UnetForwardInfo | null = null;
  private levels: ReadonlySet<number> = new Set();

  /** core: the method's reducer (its Flux interface goes unused; one reducer serves one model). */
  constructor(
    private readonly be: Backend,
    readonly core: ScheduledReducer,
    private readonly o: ResolvedUnetReducerOptions,
  ) {
    this.name = core.name;
    this.scope = o.unetScope;
  }

  beginForward(info: UnetForwardInfo): void {
    checkInfo(info, this.name);
    this.core.startPass(info.step, `${info.batch}:${info.latent[0]}x${info.latent[1]}`);
    this.info = info;
    this.levels = new Set(unetLevels(this.o, info.attentionLevels));
  }

  block(site: UnetBlockSite, n1: Tensor, x: Tensor): UnetBlockPlan | null {
    const info = this.info;
    if (!info) throw new Error(`${this.name}: block() called outside beginForward() / endForward()`);
    const who = `${this.name}.block`;
    if (!site || typeof site !== 'object') throw new TypeError(`${who}(): site must be an object`);
    const { level, grid, index, path } = site;
    if (!PATHS.includes(path))
      throw new TypeError(`${who}(): site.path must be 'down', 'mid' or 'up', got ${JSON.stringify(path)}`);
    if (!Number.isInteger(index) || index < 0)
      throw new RangeError(`${who}(): site.index must be a non-negative integer, got ${index}`);
    if (!Number.isInteger(level) || level < 0)
      throw new RangeError(`${who}(): site.level must be a non-negative integer, got ${level}`);
    const want = levelGrid(info.latent, level);
    if (!isGrid(grid) || grid[0] !== want[0] || grid[1] !== want[1])
      throw new RangeError(
        `${who}(): site.grid ${JSON.stringify(grid)} is not level ${level}'s grid [${want}] for the latent grid [${info.latent}]`,
      );
    if (!this.core.reducingStep || !this.levels.has(level)) return null;
    const N = grid[0] * grid[1];
    checkTensor(this.be, n1, who, 'n1', ['f32', 'f16'], [info.batch, N, null]);
    checkTensor(this.be, x, who, 'x', [n1.dtype], n1.shape);
    return this.core.planBlock({ group: `${path}:${level}`, grid, index, step: info.step, x: n1, input: x });
  }

  endForward(): void {
    this.info = null;
    this.core.finishPass();
  }

  dispose(): void {
    this.info = null;
    this.core.dispose();
  }
}
