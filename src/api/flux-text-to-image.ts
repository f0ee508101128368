// FLUX.1 behind TextToImagePipeline (Node): a diffusers-layout folder, a single-file release with its
// components beside it, or a Hugging Face repo id resolved into the local cache. Components load one at
// a time for each call and are freed after use (runFluxPipeline), so a call needs the memory of the
// largest component, not of all four.
import { existsSync, statSync } from 'node:fs';
import type { Backend } from '../backend.js';
import { Checkpoint } from '../io/safetensors.js';
import { defaultTaef1Path } from '../models/taesd/files.js';
import type { ComputeDType } from '../models/weights.js';
import { type FluxComponents, fluxVariant, openFluxFolder } from '../pipeline/flux-components.js';
import {
  type FluxPipelineOptions,
  type FluxPipelineResult,
  runFluxPipeline,
} from '../pipeline/flux-pipeline.js';
import { parseCacheSpec } from '../pipeline/methods.js';
import { type FluxLocations, locateFlux } from '../pipeline/model-folder.js';
import { GeneratedImage } from './image.js';
import { type GenerateCallOptions, type LoadOptions, TextToImagePipeline, withEta } from './pipeline.js';

/** A Hugging Face repo id ("org/name"), as opposed to a path. */
export function isRepoId(s: string): boolean {
  return /^[A-Za-z0-9][\w.-]*\/[\w.-]+(\/[\w./-]+)?$/.test(s) && !s.includes('..');
}

/** A local folder or file for `model`: as given when it exists, else resolved from the Hugging Face cache / hub. */
export async function resolveModelPath(model: string, o: LoadOptions): Promise<string> {
  if (existsSync(model)) return model;
  if (!isRepoId(model))
    throw new Error(`${model}: no such file or folder (and not a Hugging Face repo id like org/name)`);
  const { resolveFluxRepo } = await import('./hub-source.js');
  return resolveFluxRepo(model, o);
}

/** What run() takes: the pipeline's options less what the loaded pipeline already holds. */
export type FluxRunOptions = Omit<FluxPipelineOptions, 'be' | 'components' | 'dtype' | 'aeDtype'>;

export class FluxTextToImage extends TextToImagePipeline {
  readonly kind = 'flux' as const;
  readonly labels = undefined;

  private constructor(
    be: Backend,
    dtype: ComputeDType,
    own: boolean,
    readonly components: FluxComponents,
    private readonly aeDtype: ComputeDType,
    private readonly onLoadProgress: LoadOptions['onLoadProgress'],
  ) {
    super(be, dtype, own);
  }

  static async load(
    model: string,
    be: Backend,
    dtype: ComputeDType,
    own: boolean,
    o: LoadOptions,
  ): Promise<FluxTextToImage> {
    const path = await resolveModelPath(model, o);
    const isDir = statSync(path).isDirectory();
    const components = FluxTextToImage.locate(isDir ? { modelDir: path } : { checkpoint: path });
    return FluxTextToImage.open(components, be, dtype, { ...o, own });
  }

  /**
   * Finds and checks every component (folders, configs, tokenizers; no weights read), e.g. for a
   * release whose encoders live elsewhere: { checkpoint, ae, clip, t5, ... }.
   */
  static locate(locations: FluxLocations): FluxComponents {
    return openFluxFolder(locateFlux(locations));
  }

  /** A pipeline over located components on a backend you opened (`own`: destroy it on dispose). */
  static open(
    components: FluxComponents,
    be: Backend,
    dtype: ComputeDType,
    o: Pick<LoadOptions, 'aeDtype' | 'onLoadProgress'> & { own?: boolean } = {},
  ): FluxTextToImage {
    return new FluxTextToImage(be, dtype, o.own ?? false, components, o.aeDtype ?? 'f32', o.onLoadProgress);
  }

  /**
   * The staged run underneath generate(), for tools that report it: several methods on the same
   * prompts and noise (e.g. dense beside ToMA), every stage's time and peak memory as events.
   */
  run(o: FluxRunOptions): Promise<FluxPipelineResult> {
    return runFluxPipeline({
      ...o,
      be: this.backend,
      components: this.components,
      dtype: this.dtype,
      aeDtype: this.aeDtype,
    });
  }

  get variant(): 'schnell' | 'dev' {
    return fluxVariant(this.components.transformerConfig);
  }

  async generate(input: string | readonly string[], o: GenerateCallOptions = {}): Promise<GeneratedImage[]> {
    const prompts = typeof input === 'string' ? [input] : [...input];
    if (prompts.length === 0) throw new RangeError('generate(): give at least one prompt');
    const side = this.backend.name === 'cpu' ? 256 : 1024;
    const width = o.width ?? o.height ?? side;
    const height = o.height ?? o.width ?? side;
    const seed = o.seed ?? 0;
    const method = o.method ?? 'dense';
    const cache = o.cache ? parseCacheSpec(o.cache) : null;
    const progress = withEta(o.onProgress);
    const images: GeneratedImage[] = [];
    let denoiseStart = performance.now();
    const previewEvery = o.previewEvery ?? 0;
    if (o.decoder === 'taesdxl') throw new RangeError("generate(): FLUX.1 decodes with 'ae' or 'taef1'");
    const taef1 = previewEvery > 0 || o.decoder === 'taef1' ? Checkpoint.open(defaultTaef1Path()) : undefined;
    try {
      // one prompt at a time: image i is the same whatever else was asked for (its own seed)
      for (let i = 0; i < prompts.length; i++) {
        const r = await this.run({
          prompts: [prompts[i]!],
          width,
          height,
          steps: o.steps,
          guidance: o.guidance,
          seed: seed + i,
          methods: [{ method, options: o.methodOptions, ...(cache ? { cache } : {}) }],
          signal: o.signal,
          taef1,
          previewEvery,
          decoder: o.decoder,
          onEvent: (e) => {
            if (e.stage === 'denoise' && e.phase === 'start') denoiseStart = performance.now();
            if (e.phase !== 'progress' || !e.total) return;
            if (e.stage === 'denoise') {
              const pv = e.preview;
              const previews = pv?.images.map((rgb) =>
                GeneratedImage.fromFloatRgb(rgb, pv.width, pv.height, {
                  seed: seed + i,
                  label: prompts[i]!,
                  method: `preview at step ${pv.step}`,
                }),
              );
              progress?.(e.done!, e.total, performance.now() - denoiseStart, e.ms ?? 0, previews);
            } else if (e.stage.startsWith('load '))
              this.onLoadProgress?.({ what: e.stage.slice(5), loaded: e.done!, total: e.total });
          },
        });
        const out = r.outputs[0]!;
        images.push(
          GeneratedImage.fromFloatRgb(out.images[0]!, r.width, r.height, {
            seed: seed + i,
            label: prompts[i]!,
            method: out.method,
            stepMs: out.stepMs,
            totalMs: r.stages.find((st) => st.stage === 'denoise')?.ms,
          }),
        );
      }
      return images;
    } finally {
      taef1?.close();
    }
  }

  protected release(): void {
    // components hold no device memory between calls
  }
}
