// One press of Generate: the chosen method and (optionally) dense on the same seed, each after a
// one-step warm-up the first time its pipelines are needed, with per-step times; ToMA's destination
// map read back before its reducer is freed.
import { toUint8 } from '../../src/io/png.js';
import { type ChosenDestinations, TomaReducer } from '../../src/merge/toma-reducer.js';
import type { FluxModel } from '../../src/models/flux/model.js';
import { type ClassConditioning, type GenerateProgress, generate } from '../../src/pipeline/generate.js';
import { createMethod, type MethodName, smallModelDefaults } from '../../src/pipeline/methods.js';

export interface RunSettings {
  classIndex: number;
  seed: number;
  size: number;
  steps: number;
  cfg: number;
  method: MethodName;
  ratio: number;
  tile: number;
  /** Merge on every Nth step (1: every step). */
  mergeEvery: number;
  /** A step cache for the method's run ('none', 'fora:2', ...); dense always runs without one. */
  cache: string;
  compare: boolean;
  warmUp: boolean;
}

export interface MethodRun {
  method: MethodName;
  /** e.g. "toma 0.5". */
  label: string;
  /** 8-bit RGB, interleaved. */
  rgb: Uint8Array;
  size: number;
  stepMs: number[];
  totalMs: number;
  destinations: ChosenDestinations | null;
}

export interface RunCallbacks {
  /** What is happening now, e.g. "warming up toma". */
  onPhase(text: string): void;
  /** Progress of the timed run `index` of `runs`. */
  onStep(index: number, runs: number, label: string, p: GenerateProgress): void;
  signal: AbortSignal;
}

export class DemoRunner {
  /** Settings whose pipelines have been compiled already. */
  private warmed = new Set<string>();

  constructor(
    readonly model: FluxModel,
    readonly conditioning: ClassConditioning,
  ) {}

  async run(s: RunSettings, cb: RunCallbacks): Promise<MethodRun[]> {
    const methods: MethodName[] = s.compare && s.method !== 'dense' ? ['dense', s.method] : [s.method];
    if (s.warmUp) {
      for (const m of methods) {
        const key = `${m}:${s.size}:${s.cfg !== 1}:${s.ratio}:${s.tile}:${s.cache}`;
        if (this.warmed.has(key)) continue;
        cb.onPhase(`warming up ${m}: one step to compile its GPU pipelines (not timed)`);
        await this.once(m, s, 1, cb.signal);
        this.warmed.add(key);
      }
    }
    const runs: MethodRun[] = [];
    for (const [i, m] of methods.entries())
      runs.push(await this.once(m, s, s.steps, cb.signal, i, methods.length, cb));
    return runs;
  }

  private async once(
    method: MethodName,
    s: RunSettings,
    steps: number,
    signal: AbortSignal,
    index = 0,
    runs = 1,
    cb?: RunCallbacks,
  ): Promise<MethodRun> {
    const c = this.model.config;
    const options = {
      ...smallModelDefaults(c.depth, c.depth_single_blocks),
      ratio: s.ratio,
      tile: s.tile,
      mergeEvery: s.mergeEvery,
    };
    const cache = method === 'dense' || s.cache === 'none' ? null : s.cache;
    const setup = createMethod(this.model.be, method, options, c.depth, { cache });
    if (setup.reducer instanceof TomaReducer) setup.reducer.keepDestinations = true;
    try {
      cb?.onPhase(`running ${setup.name}`);
      const r = await generate({
        model: this.model,
        conditioning: this.conditioning,
        classes: [s.classIndex],
        width: s.size,
        height: s.size,
        steps,
        seed: s.seed,
        cfg: s.cfg,
        reducer: setup.reducer,
        pattern: setup.pattern,
        cache: setup.cache,
        signal,
        onProgress: (p) => cb?.onStep(index, runs, setup.name, p),
      });
      const destinations =
        setup.reducer instanceof TomaReducer ? await setup.reducer.lastDestinations('double') : null;
      return {
        method,
        label: setup.name,
        rgb: toUint8(r.images[0]!),
        size: s.size,
        stepMs: r.stepMs,
        totalMs: r.totalMs,
        destinations,
      };
    } finally {
      setup.dispose();
    }
  }
}
