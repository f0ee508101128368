// `toma generate` with a Stable Diffusion XL model: locate and check the components (before a backend is
// even created), run the staged pipeline through the library's SdxlTextToImage with a line per stage and
// progress bars for loading and denoising, and write one PNG per method (atomically).

import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { SdxlTextToImage } from '../../api/sdxl-text-to-image.js';
import type { Backend } from '../../backend.js';
import { validateOutput, validateOutputDir, writeFileAtomic } from '../../io/output.js';
import { encodePng, toUint8 } from '../../io/png.js';
import { Checkpoint } from '../../io/safetensors.js';
import { MAX_STEPS } from '../../models/limits.js';
import { defaultTaesdxlPath } from '../../models/taesd/files.js';
import { METHODS, type MethodName } from '../../pipeline/methods.js';
import type { SdxlComponents } from '../../pipeline/sdxl-components.js';
import { SdxlMethodError, sdxlMethod } from '../../pipeline/sdxl-methods.js';
import {
  SDXL_DEFAULTS,
  type SdxlPipelineMethod,
  type SdxlPipelineResult,
  sdxlDefaultSize,
} from '../../pipeline/sdxl-pipeline.js';
import { SAMPLERS, samplerOfClass } from '../../schedulers/euler.js';
import { choice, num, UsageError } from '../args.js';
import { defaultDtype } from '../backend-choice.js';
import { cacheSpecOption } from '../cache-options.js';
import { cliAbortFlag } from '../cancel.js';
import { freePath, imageName } from '../output-names.js';
import { defaultPreviewEvery, writePreview } from '../preview.js';
import type { GenerateValues } from './generate.js';
import { methodOptions, parseSize, promptSlug, secs, size, stagePrinter } from './generate-flux.js';

/** The SDXL half of `toma generate --help`. */
export const SDXL_USAGE = `SDXL (base 1.0 and models of its structure): a diffusers folder (model_index.json naming
StableDiffusionXLPipeline; unet/, text_encoder/, text_encoder_2/, vae/, tokenizer/, tokenizer_2/, scheduler/)
or the single-file release (sd_xl_base_1.0.safetensors, given with --checkpoint or in --model-dir) with
SDXL's tokenizer/ and tokenizer_2/ folders beside it (one CLIP tokenizer folder serves both). Told from
FLUX.1 by model_index.json, the unet/ folder or the file's tensor names. Components load one at a time.
  --prompt       the text (required); --negative-prompt TEXT what to steer away from (default: none,
                 i.e. zero embeddings as SDXL base's force_zeros_for_empty_prompt says)
  --steps        sampler steps (default ${SDXL_DEFAULTS.steps}; diffusers' default is 50)
  --guidance     classifier-free guidance scale (default ${SDXL_DEFAULTS.guidance}; 1 or less: no guidance, half the work)
  --scheduler    euler|euler-a (default: the folder's scheduler, SDXL base's Euler)
  --size         WxH or one side, multiples of 16 (default the model's own, ${SDXL_DEFAULTS.size}x${SDXL_DEFAULTS.size} for SDXL base;
                 256x256 on the CPU)
  --ae-dtype     the VAE's dtype (default f32: SDXL's VAE overflows f16, its config says force_upcast)
  --decoder      vae|taesdxl: the final decode by the VAE (default) or by TAESDXL, the bundled tiny decoder
  --preview [FILE]  TAESDXL's decode of the current estimate, refreshed every --preview-every N steps
  --vae DIR|FILE --clip-tokenizer DIR --clip-g-tokenizer DIR   parts from outside the model folder
  --cache        fora:N: the transformer modules run on every N-th step, their residuals reused in between
  --method       dense|toma|tomesd|todo with --ratio R and --tile S: token reduction in the UNet's transformer
                 blocks (ToMA: every attention level, whole blocks on merged tokens; ToMeSD and ToDo: the
                 highest-resolution attention level, self-attention only; docs/sdxl-pipeline.md)`;

/** `toma generate` for an SDXL model (parsed options in). */
export async function generateSdxl(
  values: GenerateValues,
  makeBackend: () => Promise<Backend>,
): Promise<number> {
  const prompt = values.prompt;
  if (prompt === undefined || prompt.trim() === '')
    throw new UsageError('--prompt is required with an SDXL model');
  const methodName = choice(values.method, METHODS, 'method', 'dense') as MethodName;
  let target: SdxlPipelineMethod;
  try {
    target = sdxlMethod(methodName, methodOptions(values), cacheSpecOption(values.cache));
  } catch (e) {
    if (e instanceof SdxlMethodError)
      throw new UsageError(
        `--${values.cache !== undefined && /step cache/.test(e.message) ? 'cache' : 'method'}: ${e.message}`,
      );
    throw e;
  }
  const seed = num(values.seed, 'seed', 0, (x) => Number.isInteger(x) && x >= 0, 'a non-negative integer');
  const steps = num(
    values.steps,
    'steps',
    SDXL_DEFAULTS.steps,
    (x) => Number.isInteger(x) && x >= 1 && x <= Math.min(MAX_STEPS, 1000),
    'an integer in 1..1000',
  );
  const guidance = num(values.guidance, 'guidance', SDXL_DEFAULTS.guidance, (x) => x >= 0, 'a number >= 0');
  const scheduler =
    values.scheduler === undefined ? undefined : choice(values.scheduler, SAMPLERS, 'scheduler', 'euler');
  const decoder = choice(values.decoder, ['vae', 'taesdxl'] as const, 'decoder', 'vae');
  const outDir = values.out ?? 'out';
  const inputs = ['model-dir', 'checkpoint', 'vae', 'clip-tokenizer', 'clip-g-tokenizer']
    .map((k) => values[k])
    .filter((p) => p !== undefined);
  validateOutputDir(outDir, inputs);
  let modelDir = values['model-dir'];
  let checkpoint = values.checkpoint;
  if (values.model !== undefined) {
    if (modelDir !== undefined || checkpoint !== undefined)
      throw new UsageError('--model replaces --model-dir and --checkpoint: give one of them');
    if (statSync(values.model).isDirectory()) modelDir = values.model;
    else checkpoint = values.model;
  }
  const previewPath = values.preview === undefined ? null : values.preview || join(outDir, 'preview.png');
  if (values['preview-every'] !== undefined && !previewPath)
    throw new UsageError('--preview-every needs --preview [FILE]');
  if (previewPath && existsSync(previewPath)) validateOutput(previewPath, inputs, '--preview');
  const previewEveryGiven =
    values['preview-every'] === undefined
      ? undefined
      : num(
          values['preview-every'],
          'preview-every',
          1,
          (x) => Number.isInteger(x) && x >= 1,
          'a positive integer',
        );

  // everything that can be checked without loading weights, before a device is opened
  const components: SdxlComponents = SdxlTextToImage.locate({
    modelDir,
    checkpoint,
    vae: values.vae,
    clipTokenizer: values['clip-tokenizer'],
    clipGTokenizer: values['clip-g-tokenizer'],
  });
  // the bundled TAESDXL (its header), opened before a device is so that a missing file fails early
  const taesdxl = decoder === 'taesdxl' || previewPath ? Checkpoint.open(defaultTaesdxlPath()) : undefined;

  const be = await makeBackend();
  try {
    const onCpu = be.name === 'cpu';
    const dtype = choice(values.dtype, ['f16', 'f32'] as const, 'dtype', defaultDtype(be));
    const vaeDtype = choice(values['ae-dtype'], ['f16', 'f32'] as const, 'ae-dtype', 'f32');
    const [width, height] = parseSize(
      values.size,
      onCpu ? [256, 256] : [sdxlDefaultSize(components), sdxlDefaultSize(components)],
    );
    const methods = values.compare && target.label !== 'dense' ? [{ label: 'dense' }, target] : [target];
    const previewEvery = previewPath ? (previewEveryGiven ?? defaultPreviewEvery(steps)) : 0;
    const sampler = scheduler ?? samplerOfClass(components.scheduler.class_name);
    const s = components.sizes;
    console.log(
      `backend: ${be.info().description}, ${dtype} (${decoder === 'taesdxl' ? 'decoder TAESDXL' : 'VAE'} ${vaeDtype})`,
    );
    console.log(
      `model: SDXL from ${components.description}: UNet context ${s.unet.contextWidth} (CLIP-L ${s.clipL.hidden} + CLIP-G ${s.clipG.hidden}), ${s.vae.latentChannels} latent channels`,
    );
    console.log(
      `image: ${width}x${height}, ${steps} ${sampler} steps, guidance ${guidance}${values['negative-prompt'] !== undefined ? ', with a negative prompt' : ''}, seed ${seed}, method ${methods.map((m) => m.label).join(' and ')}`,
    );
    if (previewPath) {
      mkdirSync(dirname(previewPath), { recursive: true });
      console.log(
        `preview: ${previewPath}, refreshed every ${previewEvery} step${previewEvery > 1 ? 's' : ''} (TAESDXL)`,
      );
    }
    const printStage = stagePrinter();
    let r: SdxlPipelineResult;
    try {
      r = await SdxlTextToImage.open(components, be, dtype, { aeDtype: vaeDtype }).run({
        prompts: [prompt],
        negativePrompts: values['negative-prompt'] === undefined ? undefined : [values['negative-prompt']],
        width,
        height,
        steps,
        guidance,
        seed,
        sampler,
        methods,
        onEvent: (e) => {
          printStage(e);
          if (e.preview && previewPath) writePreview(previewPath, e.preview);
        },
        signal: cliAbortFlag(),
        taesdxl,
        previewEvery,
        decoder,
      });
    } catch (e) {
      if (e instanceof RangeError && /width|height/.test(e.message))
        throw new UsageError(`--size: ${e.message}`);
      throw e;
    } finally {
      taesdxl?.close();
    }

    // each PNG written atomically (a temporary file renamed into place): a failure leaves no half-written file
    mkdirSync(outDir, { recursive: true });
    const taken = new Set<string>();
    for (const out of r.outputs) {
      const name = imageName({
        label: promptSlug(prompt),
        seed,
        width: r.width,
        height: r.height,
        method: out.method,
        backend: be.name,
      });
      const path = freePath(outDir, name, !!values.overwrite, taken);
      writeFileAtomic(
        path,
        encodePng(toUint8(out.images[0]!), r.width, r.height, 3, (raw) => deflateSync(raw)),
      );
      console.log(`wrote ${path}`);
    }
    const top = r.stages.reduce((a, st) => (st.peakBytes > a.peakBytes ? st : a));
    console.log(
      `peak device memory ${size(r.peakBytes)} (${top.stage}${top.method ? ` ${top.method}` : ''}); total ${secs(r.totalMs)} s`,
    );
    const denoise = (m: string) => r.stages.find((st) => st.stage === 'denoise' && st.method === m)?.ms;
    const d = denoise('dense');
    const x = denoise(target.label);
    if (d && x && target.label !== 'dense')
      console.log(`${target.label} vs dense (denoising): ${(d / x).toFixed(2)}x`);
    return 0;
  } finally {
    be.destroy();
  }
}
