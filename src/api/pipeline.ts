// The one-call pipeline: load a model (the embedded one, a FLUX.1 folder or file, or a Hugging Face repo
// id), then call it with a prompt (a class name for the embedded model) and get images back.
//
//   const pipe = await TextToImagePipeline.fromPretrained('embedded');
//   const [image] = await pipe.generate('green-meadow', { seed: 1 });
//   await image.save('meadow.png');
//
// Device and dtype are chosen like the CLI chooses them (src/api/device.ts); method and cache defaults
// are the CLI's too (EMBEDDED_DEFAULTS below), so a library call and `toma generate` make the same image.
import type { Backend } from '../backend.js';
import type { CreateCacheOptions } from '../cache/create.js';
import type { ComputeDType } from '../models/weights.js';
import type { MethodName, MethodOptions } from '../pipeline/methods.js';
import type { AbortFlag } from '../util/abort.js';
import { chooseDtype, type DeviceOptions, openBackend } from './device.js';
import type { EmbeddedPipeline } from './embedded-pipeline.js';
import { GeneratedImage } from './image.js';

export interface LoadProgress {
  /** What is loading: a file name, or a component ("transformer"). */
  what: string;
  loaded: number;
  total: number;
}

export interface LoadOptions extends DeviceOptions {
  onLoadProgress?: (p: LoadProgress) => void;
  signal?: AbortSignal;
  /**
   * The embedded model's two files when they are not the package's own: URLs or bytes (a browser app
   * serving them itself), or paths in Node (another pixel-space Flux checkpoint and its conditioning).
   */
  embeddedFiles?: { model?: string | URL | Uint8Array; conditioning?: string | URL | Uint8Array };
  /** A hub repo id's revision (branch, tag or commit; default main). */
  revision?: string;
  /** FLUX.1 and SDXL: the autoencoder's dtype (default f32: real weights overflow f16 there). */
  aeDtype?: ComputeDType;
}

export interface StepProgress {
  step: number;
  steps: number;
  elapsedMs: number;
  /** This step's wall time (ms). */
  stepMs: number;
  /** Estimated time left (ms), from the mean step so far. */
  etaMs: number;
  /** FLUX.1 with `previewEvery`: TAEF1's decode of the current estimate of the final image(s). */
  previews?: GeneratedImage[];
}

export interface GenerateCallOptions {
  /** Euler steps. Default: embedded 28 on a GPU, 8 on the CPU; FLUX.1-schnell 4, -dev 28; SDXL 30. */
  steps?: number;
  /**
   * Guidance: classifier-free scale for the embedded model (default 4) and SDXL (5), distilled guidance
   * for FLUX.1-dev (3.5).
   */
  guidance?: number;
  /** SDXL: what to steer away from (absent: zero embeddings, SDXL base's force_zeros_for_empty_prompt). */
  negativePrompt?: string;
  /** SDXL: 'euler' or 'euler-a' (default: the model folder's scheduler class, SDXL base's Euler). */
  scheduler?: 'euler' | 'euler-a';
  /** Noise seed of the first image; image i uses seed + i. Default 0. */
  seed?: number;
  /** Pixels. Default: embedded 128 (square, even); FLUX.1 and SDXL 1024 on a GPU, 256 on the CPU. */
  width?: number;
  height?: number;
  /** Token reduction or sparse attention. Default: 'toma' for the embedded model, 'dense' for FLUX.1 and SDXL. */
  method?: MethodName;
  /** Method options (ratio, tile, mergeEvery, exemptDouble, exemptSingle, ...). */
  methodOptions?: MethodOptions;
  /** Step cache spec ('fora:2', 'fbcache:0.12', ...), or null for none. Default: the embedded default's fora:2 with toma. */
  cache?: string | null;
  /** An AbortSignal, or any flag with `aborted` (checked between steps and at every operation). */
  signal?: AbortFlag;
  onProgress?: (p: StepProgress) => void;
  /** The cache's schedule / TeaCache coefficients (createCache's options). */
  cacheOptions?: CreateCacheOptions;
  /**
   * FLUX.1 and SDXL: decode a live preview (TAEF1 / TAESDXL, bundled) after every this many steps, passed
   * to onProgress as `previews`. Default 0: none.
   */
  previewEvery?: number;
  /**
   * The final decode: 'ae' (default, the model's autoencoder), or the tiny decoder (fast, small, softer):
   * 'taef1' for FLUX.1, 'taesdxl' for SDXL.
   */
  decoder?: 'ae' | 'taef1' | 'taesdxl';
  /** Embedded model with ToMA: read back the destinations chosen last (images' `destinations`), for a map. */
  keepDestinations?: boolean;
}

/** The embedded model's defaults (the CLI's `toma generate` uses the same). */
export const EMBEDDED_DEFAULTS = {
  gpu: { size: 128, steps: 28 },
  /** 128 px in 8 steps: 31.6 s for ToMA + FORA on 2 cores (docs/kernels/cpu.md). */
  cpu: { size: 128, steps: 8 },
  guidance: 4,
  method: 'toma' as MethodName,
  /** ToMA 0.25 on every 3rd step with FORA every 2nd: 26.2 dB vs dense, 1.51x on an H100 (docs/eval/defaults.md). */
  toma: { ratio: 0.25, mergeEvery: 3 },
  cache: 'fora:2',
  /** Other methods' plain defaults. */
  other: { ratio: 0.5, mergeEvery: 1 },
} as const;

export type PipelineKind = 'embedded' | 'flux' | 'sdxl';

/** A loaded text-to-image (or class-to-image) model on a backend. */
export abstract class TextToImagePipeline {
  abstract readonly kind: PipelineKind;
  /** The labels the embedded model accepts (its classes); undefined for FLUX.1 and SDXL (any prompt). */
  abstract readonly labels: readonly string[] | undefined;

  protected constructor(
    readonly backend: Backend,
    readonly dtype: ComputeDType,
    private readonly ownsBackend: boolean,
  ) {}

  /**
   * Loads a model: 'embedded' (the small model shipped with this package), a FLUX.1 or SDXL folder or
   * single-file checkpoint (Node), or a Hugging Face repo id such as 'black-forest-labs/FLUX.1-schnell'
   * (FLUX.1: downloaded into the Hugging Face cache; Node).
   */
  static async fromPretrained(model?: 'embedded', o?: LoadOptions): Promise<EmbeddedPipeline>;
  static async fromPretrained(model: string, o?: LoadOptions): Promise<TextToImagePipeline>;
  static async fromPretrained(model = 'embedded', o: LoadOptions = {}): Promise<TextToImagePipeline> {
    o.signal?.throwIfAborted();
    const { be, own } = await openBackend(o);
    try {
      const dtype = chooseDtype(be, o.dtype);
      if (model === 'embedded') {
        const { EmbeddedPipeline } = await import('./embedded-pipeline.js');
        return await EmbeddedPipeline.load(be, dtype, own, o);
      }
      if (await isSdxl(model)) {
        const { SdxlTextToImage } = await import('./sdxl-text-to-image.js');
        return await SdxlTextToImage.load(model, be, dtype, own, o);
      }
      const { FluxTextToImage } = await import('./flux-text-to-image.js');
      return await FluxTextToImage.load(model, be, dtype, own, o);
    } catch (e) {
      if (own) be.destroy();
      throw e;
    }
  }

  /** Images for one input or several (one image each). */
  abstract generate(input: string | readonly string[], o?: GenerateCallOptions): Promise<GeneratedImage[]>;

  /** Frees the model (and the backend, when the pipeline created it). */
  dispose(): void {
    this.release();
    if (this.ownsBackend) this.backend.destroy();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  protected abstract release(): void;
}

/** Whether a local path holds SDXL (a repo id or a FLUX.1 path: no). */
async function isSdxl(model: string): Promise<boolean> {
  const { existsSync, statSync } = await import('node:fs');
  if (!existsSync(model)) return false;
  const { pipelineFamily } = await import('../pipeline/model-folder.js');
  return (
    pipelineFamily(statSync(model).isDirectory() ? { modelDir: model } : { checkpoint: model }) === 'sdxl'
  );
}

/** A pipeline as a function, in the transformers.js idiom: `const pipe = await pipeline(); await pipe('green-meadow')`. */
export interface ImagePipelineFunction {
  (input: string | readonly string[], o?: GenerateCallOptions): Promise<GeneratedImage[]>;
  readonly pipeline: TextToImagePipeline;
  dispose(): void;
}

export async function pipeline(
  task: 'text-to-image' = 'text-to-image',
  model = 'embedded',
  o: LoadOptions = {},
): Promise<ImagePipelineFunction> {
  if (task !== 'text-to-image')
    throw new TypeError(`pipeline(): the only task is 'text-to-image', got "${task}"`);
  const p = await TextToImagePipeline.fromPretrained(model, o);
  const fn = (input: string | readonly string[], call?: GenerateCallOptions) => p.generate(input, call);
  return Object.assign(fn, { pipeline: p, dispose: () => p.dispose() });
}

/** Progress with an ETA from the mean step time so far. */
export function withEta(onProgress: ((p: StepProgress) => void) | undefined) {
  return onProgress
    ? (step: number, steps: number, elapsedMs: number, stepMs: number, previews?: GeneratedImage[]) =>
        onProgress({
          step,
          steps,
          elapsedMs,
          stepMs,
          etaMs: (elapsedMs / step) * (steps - step),
          ...(previews ? { previews } : {}),
        })
    : undefined;
}

export { GeneratedImage };
