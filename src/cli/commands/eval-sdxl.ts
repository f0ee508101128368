// `toma eval --model-dir <SDXL folder>`: the generation phase of an evaluation on a Stable Diffusion XL
// model, through the library's SdxlTextToImage (the pipeline `toma generate` runs). Prompts take the
// place of the embedded model's classes (cycled over the seeds); the metrics, report and files are
// toma eval's own (eval.ts).

import { statSync } from 'node:fs';
import { SdxlTextToImage } from '../../api/sdxl-text-to-image.js';
import type { Backend } from '../../backend.js';
import type { EvalConfig } from '../../eval/configs.js';
import type { EvalDevice, EvalSettings } from '../../eval/report.js';
import type { EvalRun } from '../../eval/saved-run.js';
import { runSdxlGenerations, sdxlEvalMethods } from '../../eval/sdxl-generation.js';
import { GpuBackend } from '../../gpu/backend.js';
import { MAX_STEPS } from '../../models/limits.js';
import type { MethodName, MethodOptions } from '../../pipeline/methods.js';
import type { SdxlComponents } from '../../pipeline/sdxl-components.js';
import { SdxlMethodError } from '../../pipeline/sdxl-methods.js';
import { SDXL_DEFAULTS, sdxlDefaultSize } from '../../pipeline/sdxl-pipeline.js';
import { SAMPLERS, samplerOfClass } from '../../schedulers/euler.js';
import { choice, num, UsageError } from '../args.js';
import { defaultDtype } from '../backend-choice.js';
import { cliAbortFlag } from '../cancel.js';
import { EtaBar } from '../progress.js';
import { parseSize } from './generate-flux.js';

/** What `toma eval` compares on an SDXL model unless --methods says otherwise (HilbertA has no UNet form). */
export const SDXL_EVAL_METHODS: readonly MethodName[] = ['toma', 'tomesd', 'todo'];

/**
 * Prompts cycled over the seeds when --prompts is not given: varied subjects, scenes and styles (people,
 * animals, objects, landscapes, interiors, text-free art), short enough for both CLIP tokenizers.
 */
export const SDXL_EVAL_PROMPTS: readonly string[] = [
  'a photograph of an astronaut riding a horse on the beach',
  'a red fox in fresh snow, golden hour, telephoto',
  'a bowl of ramen on a wooden table, steam, close-up food photography',
  'a lighthouse on a rocky coast at dusk, oil painting',
  'portrait of an old fisherman with a white beard, studio lighting',
  'a cozy reading nook with bookshelves and a window, morning light',
  'a futuristic city skyline at night with neon reflections in the rain',
  'a watercolor of cherry blossoms over a stone bridge',
];

/** The options of an SDXL evaluation (flags of the embedded FLUX model are refused before this). */
export const SDXL_ONLY = ['model-dir', 'prompts', 'negative-prompt', 'scheduler', 'levels', 'scope'] as const;
/** Flags of the embedded model's evaluation that an SDXL evaluation has no use for. */
export const FLUX_ONLY = [
  'classes',
  'batch',
  'caches',
  'speed-seeds',
  'teacache-poly',
  'exempt',
  'checkpoint',
  'conditioning',
] as const;

export interface SdxlEvalInput {
  values: Record<string, string | boolean | undefined>;
  /** The configurations (dense first), from --methods (default SDXL_EVAL_METHODS), --ratios, --configs. */
  configs: EvalConfig[];
  /** The merge options given (--tile, --merge-every, --reuse-steps); the UNet defaults fill in the rest. */
  methodOptions: MethodOptions;
  makeBackend: () => Promise<Backend>;
  intOpt: (v: string | undefined, name: string, fallback: number, min?: number) => number;
  deviceInfo: (be: Backend, dtype: string) => EvalDevice;
  list: (v: string | undefined) => string[] | undefined;
}

function str(v: string | boolean | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** Checks everything it can before a device is opened or a weight read, then generates. */
export async function sdxlEvalRun(o: SdxlEvalInput): Promise<{ run: EvalRun; generationS: number }> {
  const v = o.values;
  const path = str(v['model-dir'])!;
  // a folder (diffusers layout, or holding the single file) or the single .safetensors file itself
  let components: SdxlComponents;
  try {
    components = SdxlTextToImage.locate(
      statSync(path, { throwIfNoEntry: false })?.isFile() ? { checkpoint: path } : { modelDir: path },
    );
  } catch (e) {
    throw new UsageError(`--model-dir: ${(e as Error).message}`);
  }
  const prompts = o.list(str(v.prompts)) ?? [...SDXL_EVAL_PROMPTS];
  if (prompts.length === 0) throw new UsageError('--prompts: give at least one prompt');
  const methodOptions: MethodOptions = { ...o.methodOptions };
  const levels = o.list(str(v.levels));
  if (levels)
    methodOptions.levels = levels.map((l) =>
      num(
        l,
        'levels',
        0,
        (x) => Number.isInteger(x) && x >= 0,
        'UNet levels, integers >= 0 (0 = full resolution)',
      ),
    );
  if (v.scope !== undefined)
    methodOptions.unetScope = choice(str(v.scope), ['block', 'self-attention'] as const, 'scope', 'block');
  try {
    sdxlEvalMethods(o.configs, methodOptions); // a method SDXL does not run fails now, not after loading
  } catch (e) {
    if (e instanceof SdxlMethodError) throw new UsageError(`--methods: ${e.message}`);
    throw e;
  }
  const steps = num(
    str(v.steps),
    'steps',
    -1,
    (x) => Number.isInteger(x) && x >= 1 && x <= Math.min(MAX_STEPS, 1000),
    'an integer in 1..1000',
  );
  const guidance = num(str(v.cfg), 'cfg', SDXL_DEFAULTS.guidance, (x) => x >= 0, 'a number >= 0');
  const sampler =
    v.scheduler === undefined
      ? samplerOfClass(components.scheduler.class_name)
      : choice(str(v.scheduler), SAMPLERS, 'scheduler', 'euler');
  const negativePrompt = str(v['negative-prompt']);

  const be = await o.makeBackend();
  try {
    // the CPU backend and software adapters get small defaults, as for the embedded model
    const small = be.name === 'cpu' || (be instanceof GpuBackend && be.caps.software);
    const dtype = choice(str(v.dtype), ['f16', 'f32'] as const, 'dtype', defaultDtype(be));
    const native = sdxlDefaultSize(components);
    const side = small ? Math.min(256, native) : native;
    const [width, height] = parseSize(str(v.size), [side, side]);
    // the report, atlases and KID crops are square: one side for all
    if (width !== height) throw new UsageError(`--size: eval compares square images, got ${width}x${height}`);
    const seedsN = o.intOpt(str(v.seeds), 'seeds', small ? 4 : 16);
    const stepsN = steps === -1 ? (small ? 4 : SDXL_DEFAULTS.steps) : steps;
    const seeds = Array.from({ length: seedsN }, (_, i) => i);
    const classes = seeds.map((i) => i % prompts.length);
    const settings: EvalSettings = {
      model: `SDXL from ${components.description}`,
      family: 'sdxl',
      size: width,
      steps: stepsN,
      cfg: guidance,
      batch: 1,
      seeds,
      classes,
      classNames: prompts,
      configs: o.configs,
      methodOptions,
      speedSeeds: 0,
      teacachePoly: null,
      featureNet: null,
      kid: { subsets: 0, subsetSize: 0 }, // filled in by the caller
      sampler,
      ...(negativePrompt === undefined ? {} : { negativePrompt }),
    };
    const device = o.deviceInfo(be, dtype);
    console.log(`backend: ${device.backend}, ${dtype} (VAE f32)`);
    console.log(
      `${settings.model}; ${width}x${height} px, ${stepsN} ${sampler} steps, guidance ${guidance}; ${seedsN} seeds over ${new Set(classes).size} prompt(s) x ${o.configs.length} configurations (${o.configs.map((k) => k.label).join(', ')}), one image per call`,
    );
    const pipeline = SdxlTextToImage.open(components, be, dtype, { aeDtype: 'f32' });
    const g0 = performance.now();
    const bar = new EtaBar('eval', 'image');
    let gen: Awaited<ReturnType<typeof runSdxlGenerations>>;
    try {
      gen = await runSdxlGenerations({
        pipeline,
        configs: o.configs,
        seeds,
        prompts: classes.map((c) => prompts[c]!),
        negativePrompt,
        width,
        height,
        steps: stepsN,
        guidance,
        sampler,
        methodOptions,
        // every backend: the first denoise also pays for worker start-up and pipeline compilation, and
        // whichever method runs first in the first call would carry it
        warmup: true,
        signal: cliAbortFlag(),
        onProgress: (p) => bar.update(p.images, p.total),
      });
    } catch (e) {
      if (e instanceof RangeError && /width|height/.test(e.message))
        throw new UsageError(`--size: ${e.message}`);
      throw e;
    }
    bar.done();
    const generationS = (performance.now() - g0) / 1000;
    return { run: { settings, device, date: new Date().toISOString(), ...gen }, generationS };
  } finally {
    be.destroy();
  }
}
