// `toma generate` with a FLUX.1 model: locate and check the components (before a backend is even
// created), run the staged pipeline with a line per stage and progress bars for loading and denoising,
// and write one PNG per method (atomically).
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { FluxTextToImage, resolveModelPath } from '../../api/flux-text-to-image.js';
import type { LoadProgress } from '../../api/pipeline.js';
import type { Backend } from '../../backend.js';
import { scheduleString } from '../../cache/spec.js';
import { validateOutput, validateOutputDir, writeFileAtomic } from '../../io/output.js';
import { encodePng, toUint8 } from '../../io/png.js';
import { Checkpoint } from '../../io/safetensors.js';
import { fluxForwardNeed } from '../../models/flux/memory.js';
import { budgetOf, checkImageSize, checkMemory, MAX_STEPS } from '../../models/limits.js';
import { FLUX_T5_MAX_LENGTH } from '../../models/t5/config.js';
import { defaultTaef1Path } from '../../models/taesd/files.js';
import { type FluxComponents, fluxVariant } from '../../pipeline/flux-components.js';
import {
  FLUX_VARIANT_DEFAULTS,
  type FluxPipelineResult,
  type PipelineMethod,
  pipelineMethodLabel,
} from '../../pipeline/flux-pipeline.js';
import { METHODS, type MethodName, type MethodOptions } from '../../pipeline/methods.js';
import { byteSize, choice, exemptOption, num, UsageError } from '../args.js';
import { defaultDtype } from '../backend-choice.js';
import { cacheCreateOptions, cacheSpecOption } from '../cache-options.js';
import { cliAbortFlag } from '../cancel.js';
import { freePath, imageName } from '../output-names.js';
import { defaultPreviewEvery, writePreview } from '../preview.js';
import { ProgressBar } from '../progress.js';
import type { GenerateValues } from './generate.js';

/** Bytes as GiB, or MiB below 1 GiB. */
export const size = (b: number) =>
  b >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(2)} GiB` : `${(b / 2 ** 20).toFixed(1)} MiB`;
export const secs = (ms: number) => (ms / 1000).toFixed(2);

/** "WxH" or "N" (square). */
export function parseSize(text: string | undefined, fallback: [number, number]): [number, number] {
  if (text === undefined) return fallback;
  const m = /^\s*(\d+)\s*(?:[xX]\s*(\d+))?\s*$/.exec(text);
  if (!m) throw new UsageError(`--size must be WxH or one number of pixels; got "${text}"`);
  const w = Number(m[1]);
  const h = m[2] === undefined ? w : Number(m[2]);
  try {
    checkImageSize('--size', w, h);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  return [w, h];
}

/** A file name from a prompt: lowercase words joined by "-", at most 48 characters. */
export function promptSlug(prompt: string): string {
  const s = prompt
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 48)
    .replace(/-+$/, '');
  return s || 'image';
}

export function methodOptions(v: GenerateValues): MethodOptions {
  const o: MethodOptions = {};
  if (v.ratio !== undefined) o.ratio = num(v.ratio, 'ratio', 0.5, (x) => x >= 0 && x < 1, 'in [0, 1)');
  if (v.tile !== undefined)
    o.tile = num(v.tile, 'tile', 4, (x) => Number.isInteger(x) && x >= 1 && x <= 8, 'an integer in 1..8');
  if (v['merge-every'] !== undefined)
    o.mergeEvery = num(
      v['merge-every'],
      'merge-every',
      3,
      (x) => Number.isInteger(x) && x >= 1,
      'a positive integer',
    );
  return { ...o, ...exemptOption(v.exempt) };
}

/** A pipeline's stage event, as FLUX.1's and SDXL's pipelines emit them. */
export interface PrintedStageEvent {
  stage: string;
  phase: 'start' | 'progress' | 'end';
  method?: string;
  done?: number;
  total?: number;
  ms?: number;
  peakBytes?: number;
  paramBytes?: number;
}

/** Prints stage lines on stdout and progress bars on stderr. */
export function stagePrinter(): (e: PrintedStageEvent) => void {
  let bar: ProgressBar | null = null;
  return (e) => {
    const label = e.method ? `${e.stage} ${e.method}` : e.stage;
    const loads = e.stage.startsWith('load');
    if (e.phase === 'start') {
      bar = new ProgressBar(label.padEnd(18));
      // compute stages (tokenize, the encoders, decode) get a line: their bars only show loads and steps
      if (!loads && e.stage !== 'denoise') process.stderr.write(`${label} ...\n`);
      return;
    }
    if (e.phase === 'progress' && bar && e.total) {
      if (e.stage === 'denoise') {
        bar.update(e.done!, e.total, `${secs(e.ms ?? 0)} s/step`);
      } else {
        bar.update(e.done!, e.total, '', `${Math.round((100 * e.done!) / e.total)}%`);
      }
      return;
    }
    if (e.phase === 'end') {
      if (bar && (e.stage === 'denoise' || loads)) bar.done();
      bar = null;
      const params = e.paramBytes !== undefined ? `, ${size(e.paramBytes)} of parameters` : '';
      console.log(`  ${label.padEnd(22)} ${secs(e.ms!).padStart(8)} s   peak ${size(e.peakBytes!)}${params}`);
    }
  };
}

/** Download progress: a bar on stderr (redrawn on a terminal, sparse lines otherwise). */
export function downloadPrinter(): (p: LoadProgress) => void {
  const bar = new ProgressBar('download'.padEnd(18));
  return (p) => {
    bar.update(p.loaded, p.total, p.what, `${size(p.loaded)} of ${size(p.total)}`);
    if (p.loaded >= p.total) bar.done();
  };
}

/** `toma generate` for a FLUX.1 model (parsed options in). */
export async function generateFlux(
  values: GenerateValues,
  makeBackend: () => Promise<Backend>,
): Promise<number> {
  const prompt = values.prompt;
  if (prompt === undefined || prompt.trim() === '')
    throw new UsageError('--prompt is required with a FLUX.1 model');
  const method = choice(values.method, METHODS, 'method', 'dense') as MethodName;
  const seed = num(values.seed, 'seed', 0, (x) => Number.isInteger(x) && x >= 0, 'a non-negative integer');
  const stepsGiven =
    values.steps === undefined
      ? undefined
      : num(
          values.steps,
          'steps',
          1,
          (x) => Number.isInteger(x) && x >= 1 && x <= MAX_STEPS,
          `an integer in 1..${MAX_STEPS}`,
        );
  const guidanceGiven =
    values.guidance === undefined
      ? undefined
      : num(values.guidance, 'guidance', 3.5, (x) => x >= 0, 'a number >= 0');
  const maxLength =
    values['max-length'] === undefined
      ? undefined
      : num(values['max-length'], 'max-length', 512, (x) => Number.isInteger(x) && x >= 2, 'an integer >= 2');
  const options = methodOptions(values);
  const cache = cacheSpecOption(values.cache);
  const outDir = values.out ?? 'out';
  const inputs = ['model-dir', 'checkpoint', 'ae', 'clip', 't5', 'clip-tokenizer', 't5-tokenizer']
    .map((k) => values[k])
    .filter((p) => p !== undefined);
  validateOutputDir(outDir, inputs);

  // --model: a folder, a file, or a hub repo id fetched into the Hugging Face cache (the library's resolution)
  let modelDir = values['model-dir'];
  let checkpoint = values.checkpoint;
  if (values.model !== undefined) {
    if (modelDir !== undefined || checkpoint !== undefined)
      throw new UsageError('--model replaces --model-dir and --checkpoint: give one of them');
    const path = await resolveModelPath(values.model, { onLoadProgress: downloadPrinter() });
    if (statSync(path).isDirectory()) modelDir = path;
    else checkpoint = path;
  }

  const decoder = choice(values.decoder, ['ae', 'taef1'] as const, 'decoder', 'ae');
  const maxDeviceBytes = byteSize(values['max-memory'], 'max-memory');
  // --preview with no file: an empty value (generate.ts), meaning preview.png in the output folder
  const previewPath = values.preview === undefined ? null : values.preview || join(outDir, 'preview.png');
  if (values['preview-every'] !== undefined && !previewPath)
    throw new UsageError('--preview-every needs --preview [FILE]');
  // an existing preview path must be a file that is none of the inputs (its folder is made later)
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
  const components: FluxComponents = FluxTextToImage.locate({
    modelDir,
    checkpoint,
    ae: values.ae,
    clip: values.clip,
    t5: values.t5,
    clipTokenizer: values['clip-tokenizer'],
    t5Tokenizer: values['t5-tokenizer'],
  });
  const c = components.transformerConfig;
  const variant = fluxVariant(c);
  // the bundled TAEF1 (its header), opened before a device is so that a missing file fails early
  const taef1 = decoder === 'taef1' || previewPath ? Checkpoint.open(defaultTaef1Path()) : undefined;
  if (variant === 'schnell' && guidanceGiven !== undefined)
    console.error('note: --guidance is ignored: FLUX.1-schnell has no guidance embedder');

  const be = await makeBackend();
  try {
    const onCpu = be.name === 'cpu';
    const dtype = choice(values.dtype, ['f16', 'f32'] as const, 'dtype', defaultDtype(be));
    const aeDtype = choice(values['ae-dtype'], ['f16', 'f32'] as const, 'ae-dtype', 'f32');
    const [width, height] = parseSize(values.size, onCpu ? [256, 256] : [1024, 1024]);
    const steps = stepsGiven ?? FLUX_VARIANT_DEFAULTS[variant].steps;
    // the transformer stage is the largest: its weights and one step's activations at this size
    const tokens = Math.ceil(width / 16) * Math.ceil(height / 16);
    const textTokens = maxLength ?? FLUX_T5_MAX_LENGTH[variant];
    const valueBytes = dtype === 'f16' && !onCpu ? 2 : 4;
    const need = fluxForwardNeed(
      c,
      {
        valueBytes,
        batch: 1,
        imageTokens: tokens,
        textTokens,
        weights: components.transformerWeightBytes(valueBytes),
      },
      `FLUX.1 at ${width}x${height} (${dtype})`,
    );
    const memNote = checkMemory(need, budgetOf(be));
    if (memNote) console.error(memNote);
    const cacheOptions = cacheCreateOptions(values, [cache], steps);
    const target: PipelineMethod = { method, options, ...(cache ? { cache, cacheOptions } : {}) };
    const methods: PipelineMethod[] =
      values.compare && (method !== 'dense' || cache) ? [{ method: 'dense', options }, target] : [target];
    const t5 = components.t5Config;
    const previewEvery = previewPath ? (previewEveryGiven ?? defaultPreviewEvery(steps)) : 0;
    console.log(
      `backend: ${be.info().description}, ${dtype} (${decoder === 'taef1' ? 'decoder TAEF1' : 'autoencoder'} ${aeDtype})`,
    );
    console.log(
      `model: FLUX.1-${variant} from ${components.description}: transformer ${c.depth} + ${c.depth_single_blocks} blocks of ${c.hidden_size}, T5 ${t5.num_layers} x ${t5.d_model}, CLIP ${components.clipConfig.num_hidden_layers} x ${components.clipConfig.hidden_size}`,
    );
    console.log(
      `image: ${width}x${height}, ${steps} steps${variant === 'dev' ? `, guidance ${guidanceGiven ?? FLUX_VARIANT_DEFAULTS.dev.guidance}` : ''}, seed ${seed}, method ${methods.map(pipelineMethodLabel).join(' and ')}`,
    );

    if (previewPath) {
      mkdirSync(dirname(previewPath), { recursive: true });
      console.log(
        `preview: ${previewPath}, refreshed every ${previewEvery} step${previewEvery > 1 ? 's' : ''} (TAEF1)`,
      );
    }
    const printStage = stagePrinter();
    let r: FluxPipelineResult;
    try {
      // the library's FLUX.1 pipeline, run staged so that every stage is reported
      r = await FluxTextToImage.open(components, be, dtype, { aeDtype }).run({
        prompts: [prompt],
        width,
        height,
        steps,
        guidance: guidanceGiven,
        seed,
        maxSequenceLength: maxLength,
        methods,
        onEvent: (e) => {
          printStage(e);
          if (e.preview && previewPath) writePreview(previewPath, e.preview);
        },
        signal: cliAbortFlag(),
        taef1,
        previewEvery,
        decoder,
        maxDeviceBytes,
      });
    } catch (e) {
      if (e instanceof RangeError && /width|height/.test(e.message))
        throw new UsageError(`--size: ${e.message}`);
      throw e;
    } finally {
      taef1?.close();
    }

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
      const full = out.fullSteps?.[0];
      if (full) {
        const flags = Array.from({ length: steps }, (_, i) => full.includes(i));
        console.log(`  ${out.method}: ${full.length} of ${steps} steps computed (${scheduleString(flags)})`);
      }
    }
    const top = r.stages.reduce((a, s) => (s.peakBytes > a.peakBytes ? s : a));
    console.log(
      `peak device memory ${size(r.peakBytes)} (${top.stage}${top.method ? ` ${top.method}` : ''}); total ${secs(r.totalMs)} s`,
    );
    const denoise = (m: string) => r.stages.find((s) => s.stage === 'denoise' && s.method === m)?.ms;
    const label = pipelineMethodLabel(target);
    const d = denoise('dense');
    const x = denoise(label);
    if (d && x && label !== 'dense') console.log(`${label} vs dense (denoising): ${(d / x).toFixed(2)}x`);
    return 0;
  } finally {
    be.destroy();
  }
}
