// One press of Generate: the chosen method and (optionally) dense on the same seed, each after a
// one-step warm-up the first time its pipelines are needed, with per-step times; ToMA's destination
// map read back before its reducer is freed.
import type { ChosenDestinations, EmbeddedPipeline, MethodName } from '../../src/index.js';

/** Progress of one timed run. */
export interface StepInfo {
  step: number;
  steps: number;
  stepMs: number;
  elapsedMs: number;
  /** Time left in this run, from the mean step time so far. */
  etaMs: number;
}

export interface RunSettings {
  classIndex: number;
  /** FLUX.1's prompt (the embedded model takes a class). */
  prompt: string;
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
  onStep(index: number, runs: number, label: string, p: StepInfo): void;
  signal: AbortSignal;
}

export class DemoRunner {
  /** Settings whose pipelines have been compiled already. */
  private warmed = new Set<string>();

  constructor(readonly pipe: EmbeddedPipeline) {}

  get conditioning() {
    return this.pipe.conditioning;
  }

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
    // the label the library gives the run ("toma 0.5 + fora 2"), known before it starts
    const cache = method === 'dense' || s.cache === 'none' ? null : s.cache;
    const base =
      method === 'todo' || method === 'hilbert' || method === 'dense' ? method : `${method} ${s.ratio}`;
    const label = cache ? `${base} + ${cache.replace(':', ' ')}` : base;
    cb?.onPhase(`running ${label}`);
    const [image] = await this.pipe.generate(this.pipe.conditioning.names[s.classIndex]!, {
      method,
      methodOptions: { ratio: s.ratio, tile: s.tile, mergeEvery: s.mergeEvery },
      cache,
      width: s.size,
      height: s.size,
      steps,
      seed: s.seed,
      guidance: s.cfg,
      signal,
      keepDestinations: true,
      onProgress: (p) => cb?.onStep(index, runs, label, p),
    });
    const im = image!;
    return {
      method,
      label: im.method,
      rgb: im.rgb(),
      size: s.size,
      stepMs: im.stepMs ?? [],
      totalMs: im.totalMs ?? 0,
      destinations: im.destinations ?? null,
    };
  }
}
