// Stable Diffusion XL behind TextToImagePipeline (Node): a diffusers folder, the single-file release with
// its tokenizers beside it, or a folder holding it. Components load one at a time for each call and are
// freed after use (runSdxlPipeline), so a call needs the memory of the largest component, not of all four.

import { existsSync, statSync } from 'node:fs';
import type { Backend } from '../backend.js';
import { parseCacheSpec } from '../cache/spec.js';
import { Checkpoint } from '../io/safetensors.js';
import { defaultTaesdxlPath } from '../models/taesd/files.js';
import type { ComputeDType } from '../models/weights.js';
import { locateSdxl, type SdxlLocations } from '../pipeline/model-folder.js';
import type { SdxlComponents } from '../pipeline/sdxl-components.js';
import { openSdxlFolder } from '../pipeline/sdxl-folder.js';
import { sdxlMethod } from '../pipeline/sdxl-methods.js';
import {
  runSdxlPipeline,
  type SdxlPipelineOptions,
  type SdxlPipelineResult,
  sdxlDefaultSize,
} from '../pipeline/sdxl-pipeline.js';
import { GeneratedImage } from './image.js';
import { type GenerateCallOptions, type LoadOptions, TextToImagePipeline, withEta } from './pipeline.js';

/** What run() takes: the pipeline's options less what the loaded pipeline already holds. */
export type SdxlRunOptions = Omit<SdxlPipelineOptions, 'be' | 'components' | 'dtype' | 'vaeDtype'>;

export class SdxlTextToImage extends TextToImagePipeline {
  readonly kind = 'sdxl' as const;
  readonly labels = undefined;

  private constructor(
    be: Backend,
    dtype: ComputeDType,
    own: boolean,
    readonly components: SdxlComponents,
    private readonly vaeDtype: ComputeDType,
    private readonly onLoadProgress: LoadOptions['onLoadProgress'],
  ) {
    super(be, dtype, own);
  }

  /** A local SDXL folder or single-file checkpoint (hub repo ids are resolved for FLUX.1 only). */
  static async load(
    model: string,
    be: Backend,
    dtype: ComputeDType,
    own: boolean,
    o: LoadOptions,
  ): Promise<SdxlTextToImage> {
    if (!existsSync(model)) throw new Error(`${model}: no such file or folder`);
    const components = SdxlTextToImage.locate(
      statSync(model).isDirectory() ? { modelDir: model } : { checkpoint: model },
    );
    return SdxlTextToImage.open(components, be, dtype, { ...o, own });
  }

  /** Finds and checks every component (folders, configs, tokenizers; no weights read). */
  static locate(locations: SdxlLocations): SdxlComponents {
    return openSdxlFolder(locateSdxl(locations));
  }

  /** A pipeline over located components on a backend you opened (`own`: destroy it on dispose). */
  static open(
    components: SdxlComponents,
    be: Backend,
    dtype: ComputeDType,
    o: Pick<LoadOptions, 'aeDtype' | 'onLoadProgress'> & { own?: boolean } = {},
  ): SdxlTextToImage {
    return new SdxlTextToImage(be, dtype, o.own ?? false, components, o.aeDtype ?? 'f32', o.onLoadProgress);
  }

  /**
   * The staged run underneath generate(), for tools that report it: several methods on the same
   * prompts and noise, every stage's time and peak memory as events.
   */
  run(o: SdxlRunOptions): Promise<SdxlPipelineResult> {
    return runSdxlPipeline({
      ...o,
      be: this.backend,
      components: this.components,
      dtype: this.dtype,
      vaeDtype: this.vaeDtype,
    });
  }

  async generate(input: string | readonly string[], o: GenerateCallOptions = {}): Promise<GeneratedImage[]> {
    const prompts = typeof input === 'string' ? [input] : [...input];
    if (prompts.length === 0) throw new RangeError('generate(): give at least one prompt');
    if (o.decoder === 'taef1')
      throw new RangeError("generate(): SDXL decodes with 'ae' (its VAE) or 'taesdxl'");
    const side = this.backend.name === 'cpu' ? 256 : sdxlDefaultSize(this.components);
    const width = o.width ?? o.height ?? side;
    const height = o.height ?? o.width ?? side;
    const seed = o.seed ?? 0;
    const method = sdxlMethod(o.method ?? 'dense', o.methodOptions, o.cache ? parseCacheSpec(o.cache) : null);
    const progress = withEta(o.onProgress);
    const previewEvery = o.previewEvery ?? 0;
    const tiny = o.decoder === 'taesdxl';
    const taesdxl = previewEvery > 0 || tiny ? Checkpoint.open(defaultTaesdxlPath()) : undefined;
    const images: GeneratedImage[] = [];
    let denoiseStart = performance.now();
    try {
      // one prompt at a time: image i is the same whatever else was asked for (its own seed)
      for (let i = 0; i < prompts.length; i++) {
        const r = await this.run({
          prompts: [prompts[i]!],
          negativePrompts: o.negativePrompt === undefined ? undefined : [o.negativePrompt],
          width,
          height,
          steps: o.steps,
          guidance: o.guidance,
          seed: seed + i,
          sampler: o.scheduler,
          methods: [method],
          signal: o.signal,
          taesdxl,
          previewEvery,
          decoder: tiny ? 'taesdxl' : 'vae',
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
      taesdxl?.close();
    }
  }

  protected release(): void {
    // components hold no device memory between calls
  }
}
