// The generation phase of an evaluation on an SDXL model: every configuration on every (prompt, seed),
// through the library's SdxlTextToImage.run(). One pipeline call per seed, one image each (its own
// seed, so image i is the one `toma generate --prompt P --seed i` makes, whatever else the evaluation
// runs), with every configuration as one of the call's methods: the text is encoded once and every
// method denoises the same noise. The methods' order rotates per seed, so clock and thermal drift hit
// every method alike. Speed is the call's denoise stage of each method (the UNet steps with the
// guidance pair and the sampler): text encoding, loading and the VAE decode are the same work for every
// method and are left out.

import type { SdxlRunOptions } from '../api/sdxl-text-to-image.js';
import { toUint8 } from '../io/png.js';
import type { MethodOptions } from '../pipeline/methods.js';
import { SdxlMethodError, sdxlMethod } from '../pipeline/sdxl-methods.js';
import type { SdxlPipelineMethod, SdxlPipelineResult } from '../pipeline/sdxl-pipeline.js';
import type { SamplerName } from '../schedulers/euler.js';
import type { AbortFlag } from '../util/abort.js';
import type { EvalConfig } from './configs.js';
import type { CallTiming, GenerationResult } from './generation.js';
import type { RgbImage } from './image-metrics.js';

/** What the evaluation needs of an SDXL pipeline: SdxlTextToImage's run(). */
export interface SdxlRunner {
  run(o: SdxlRunOptions): Promise<SdxlPipelineResult>;
}

export interface SdxlGenerationOptions {
  pipeline: SdxlRunner;
  configs: EvalConfig[];
  /** Noise seed and prompt of each evaluated image. */
  seeds: number[];
  prompts: string[];
  negativePrompt?: string;
  width: number;
  height: number;
  steps: number;
  guidance: number;
  /** Default: the model's scheduler. */
  sampler?: SamplerName;
  /** The merge options of every configuration (ratio and the configuration's schedule on top). */
  methodOptions: MethodOptions;
  /** Run every stage once untimed before the first timed call (pipeline compilation). */
  warmup: boolean;
  signal?: AbortFlag;
  log?: (line: string) => void;
  /** After every pipeline call: images generated so far of all, and the call's line (then not logged). */
  onProgress?: (p: { images: number; total: number; line: string }) => void;
}

/**
 * The pipeline method of each configuration, checked before any model loads: a method the SDXL
 * pipeline does not run (or bad options) is an SdxlMethodError, never a silently dense column.
 */
export function sdxlEvalMethods(configs: EvalConfig[], methodOptions: MethodOptions): SdxlPipelineMethod[] {
  return configs.map((k) => {
    if (k.cache)
      throw new SdxlMethodError(
        `${k.label}: step caches are not available for SDXL yet (dense and merging only)`,
      );
    const m = sdxlMethod(k.method, {
      ...methodOptions,
      ...(k.ratio === null ? {} : { ratio: k.ratio }),
      ...k.schedule,
    });
    // the configuration's label names the images and timings (the pipeline's own label may differ)
    return { ...m, label: k.label };
  });
}

export async function runSdxlGenerations(o: SdxlGenerationOptions): Promise<GenerationResult> {
  const n = o.seeds.length;
  if (o.prompts.length !== n) throw new RangeError('runSdxlGenerations: one prompt per seed');
  const methods = sdxlEvalMethods(o.configs, o.methodOptions);
  const labels = o.configs.map((k) => k.label);
  const images = new Map(labels.map((l) => [l, new Array<RgbImage>(n)]));
  const calls = new Map(labels.map((l) => [l, [] as CallTiming[]]));
  const total = n * labels.length;
  for (let i = 0; i < n; i++) {
    const order = methods.map((_, j) => methods[(j + i) % methods.length]!);
    const r = await o.pipeline.run({
      prompts: [o.prompts[i]!],
      negativePrompts: o.negativePrompt === undefined ? undefined : [o.negativePrompt],
      width: o.width,
      height: o.height,
      steps: o.steps,
      guidance: o.guidance,
      seed: o.seeds[i]!,
      sampler: o.sampler,
      methods: order,
      warmup: o.warmup && i === 0,
      signal: o.signal,
    });
    const times: string[] = [];
    for (const label of labels) {
      const out = r.outputs.find((x) => x.method === label);
      const denoise = r.stages.find((s) => s.stage === 'denoise' && s.method === label);
      if (!out || !denoise) throw new Error(`runSdxlGenerations: the pipeline returned no ${label} output`);
      images.get(label)![i] = { width: r.width, height: r.height, data: toUint8(out.images[0]!) };
      calls.get(label)!.push({ seeds: [i], ms: denoise.ms, msPerImage: denoise.ms });
      times.push(`${label} ${denoise.ms.toFixed(0)}`);
    }
    const line = `[${i + 1}/${n}] seed ${o.seeds[i]}: denoise ms ${times.join(', ')} (call ${(r.totalMs / 1000).toFixed(1)} s)`;
    if (o.onProgress) o.onProgress({ images: (i + 1) * labels.length, total, line });
    else o.log?.(line);
  }
  return {
    images,
    calls,
    singleCalls: new Map(labels.map((l) => [l, []])),
    fullSteps: new Map(),
    destinations: new Map(),
  };
}
