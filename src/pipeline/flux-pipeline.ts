// Prompt -> image with FLUX.1: the stages of the official sampler, with one model on the device at a time.
//   tokenize (T5 and CLIP) -> load T5, encode (txt), free -> load CLIP, encode (pooled y), free
//   -> load the transformer; per method: seeded latent noise [B, 16, H/8, W/8] packed 2x2 into tokens,
//      Euler steps over the schedule (schnell: uniform; dev: shifted by image size, with guidance); free
//   -> load the autoencoder, decode each method's latents, free.
// With TAEF1 (models/taesd/, a 1.2 M-parameter decoder) beside the transformer, the current estimate of
// the final image is decoded every few steps for live previews; TAEF1 can also replace the autoencoder.
// Freed models' buffers are returned to the device (trim), so the peak is the largest component plus its
// activations, not the sum. Each stage is timed to completion on the device and its peak memory recorded.

import type { Backend } from '../backend.js';
import type { CreateCacheOptions } from '../cache/create.js';
import { type CacheSpec, cacheSpecString, parseCacheSpec } from '../cache/spec.js';
import { fullSteps } from '../cache/step-cache.js';
import { REDUCER_DEFAULTS } from '../merge/options.js';
import { FLUX_CLIP_MAX_LENGTH } from '../models/clip/config.js';
import type { FluxConfig } from '../models/flux/config.js';
import { dequantizesWholeMatrices, fluxParamBudget } from '../models/flux/memory.js';
import { FLUX_T5_MAX_LENGTH } from '../models/t5/config.js';
import { TAESD_SCALE, TaesdDecoder } from '../models/taesd/decoder.js';
import type { ComputeDType, WeightSource } from '../models/weights.js';
import type { Tensor } from '../tensor.js';
import type { AbortFlag } from '../util/abort.js';
import { Rng } from '../util/random.js';
import { clampedImages, generationCancelled, signedImages } from './decoded-images.js';
import { checkTokenizerFits, type FluxComponents, fluxVariant } from './flux-components.js';
import { createMethod, type MethodName, type MethodOptions, smallModelDefaults } from './methods.js';
import { packPatches, unpackPatches } from './pixels.js';
import { fluxSchedule } from './schedule.js';

export type StageName =
  | 'tokenize'
  | 'load T5'
  | 'T5'
  | 'load CLIP'
  | 'CLIP'
  | 'load transformer'
  | 'denoise'
  | 'load AE'
  | 'load TAEF1'
  | 'decode';

export interface StageEvent {
  stage: StageName;
  phase: 'start' | 'progress' | 'end';
  /** denoise / decode: the method whose latents these are. */
  method?: string;
  /** progress: loaded bytes (or tensors) of a load, finished steps of denoise. */
  done?: number;
  total?: number;
  /** progress of denoise: this step's time; end: the stage's time (ms). */
  ms?: number;
  /** end: the stage's peak device memory (bytes held by tensors and the buffer pool). */
  peakBytes?: number;
  /** end of a load: bytes of parameters on the device. */
  paramBytes?: number;
  /** progress of denoise, on preview steps: the current estimate of the final images. */
  preview?: PreviewImages;
}

/** TAEF1's decode of x0 = x_t − t·v, the sampler's current estimate of the final latents. */
export interface PreviewImages {
  /** The steps done when it was taken (as `done`). */
  step: number;
  width: number;
  height: number;
  /** Per prompt: interleaved RGB [H, W, 3] in [-1, 1], like MethodOutput.images. */
  images: Float32Array[];
  /** The preview's own time (ms), not counted in the step's. */
  ms: number;
}

export interface StageRecord {
  stage: StageName;
  method?: string;
  ms: number;
  peakBytes: number;
  paramBytes?: number;
}

export interface PipelineMethod {
  method: MethodName;
  /** Reducer options over methodDefaults(config). */
  options?: MethodOptions;
  /** A step cache ("fbcache:0.12", src/cache); each prompt decides for itself. */
  cache?: string | CacheSpec;
  cacheOptions?: CreateCacheOptions;
}

/** The name of a method's outputs and events: "toma", or "toma+fbcache:0.12" with a cache. */
export function pipelineMethodLabel(m: PipelineMethod): string {
  const spec = m.cache === undefined ? null : typeof m.cache === 'string' ? parseCacheSpec(m.cache) : m.cache;
  return spec ? `${m.method}+${cacheSpecString(spec)}` : m.method;
}

export interface FluxPipelineOptions {
  be: Backend;
  components: FluxComponents;
  /** Compute dtype of the text encoders and the transformer. */
  dtype: ComputeDType;
  /**
   * Compute dtype of the autoencoder (default f32: the Flux autoencoder's activations overflow f16 on
   * real weights; diffusers upcasts it too).
   */
  aeDtype?: ComputeDType;
  /** One image per prompt. */
  prompts: string[];
  width: number;
  height: number;
  /** Default: 4 (schnell) / 28 (dev). */
  steps?: number;
  /** Distilled guidance of FLUX.1-dev (default 3.5); schnell has no guidance embedder and ignores it. */
  guidance?: number;
  seed?: number;
  /** T5 tokens (default 256 schnell / 512 dev). */
  maxSequenceLength?: number;
  /** Methods run on the same noise, in order (default dense). */
  methods?: PipelineMethod[];
  /** Run each compute stage once untimed first (pipeline compilation), for benchmarks. */
  warmup?: boolean;
  onEvent?: (e: StageEvent) => void;
  /** Checked between steps (an AbortSignal, or a flag another thread sets: util/abort.ts). */
  signal?: AbortFlag;
  /** TAEF1 decoder weights (models/taesd/taef1_decoder.safetensors), for previewEvery and decoder 'taef1'. */
  taef1?: WeightSource;
  /** Decode a preview (StageEvent.preview) after every this many steps but the last; 0 (default): none. */
  previewEvery?: number;
  /** The final decode: 'ae' (default, the FLUX.1 autoencoder) or 'taef1' (fast and small, lower fidelity). */
  decoder?: 'ae' | 'taef1';
  /**
   * Device memory the transformer stage may take: its parameters get what one step's estimated
   * activations leave, and the blocks beyond that are streamed from host memory before each use
   * (src/models/flux/residency.ts). Default: no limit (everything resident).
   */
  maxDeviceBytes?: number;
}

export interface MethodOutput {
  /** pipelineMethodLabel() of the method. */
  method: string;
  /** Per prompt: interleaved RGB [H, W, 3] in [-1, 1]. */
  images: Float32Array[];
  stepMs: number[];
  /** With a step cache: per prompt, the steps computed in full. */
  fullSteps?: number[][];
}

export interface FluxPipelineResult {
  variant: 'schnell' | 'dev';
  width: number;
  height: number;
  steps: number;
  guidance: number | null;
  textTokens: number;
  imageTokens: number;
  outputs: MethodOutput[];
  stages: StageRecord[];
  totalMs: number;
  /** Largest stage peak. */
  peakBytes: number;
}

/** Defaults of the two released models. */
export const FLUX_VARIANT_DEFAULTS = {
  schnell: { steps: 4, guidance: null, schedule: 'schnell' },
  dev: { steps: 28, guidance: 3.5, schedule: 'dev' },
} as const;

/**
 * Reducer defaults for a transformer: the reference's Flux-dev settings (5 + 5 exempt blocks, merging at
 * every third step) where the model is deeper than the exempt blocks, else the small-model defaults.
 */
export function methodDefaults(c: FluxConfig): MethodOptions {
  const big =
    c.depth > REDUCER_DEFAULTS.exemptDouble && c.depth_single_blocks > REDUCER_DEFAULTS.exemptSingle;
  return big ? {} : smallModelDefaults(c.depth, c.depth_single_blocks);
}

/** The pixel size of one latent cell and of one token (2x2 latent cells). */
export function latentFactor(components: FluxComponents): number {
  return 2 ** (components.aeConfig.level_channels.length - 1);
}

/** Seeded noise [B, C, h, w] packed into tokens [B, (h/2)·(w/2), 4C] (identical on every backend). */
export function latentNoise(seed: number, B: number, C: number, h: number, w: number): Float32Array {
  return packPatches(new Rng(seed).normals(B * C * h * w), B, C, h, w);
}

export async function runFluxPipeline(o: FluxPipelineOptions): Promise<FluxPipelineResult> {
  const { be, components: comps, dtype } = o;
  const c = comps.transformerConfig;
  const variant = fluxVariant(c);
  const defaults = FLUX_VARIANT_DEFAULTS[variant];
  const B = o.prompts.length;
  const steps = o.steps ?? defaults.steps;
  const guidance = variant === 'dev' ? (o.guidance ?? FLUX_VARIANT_DEFAULTS.dev.guidance) : null;
  const L = o.maxSequenceLength ?? FLUX_T5_MAX_LENGTH[variant];
  const methods = o.methods?.length ? o.methods : [{ method: 'dense' as const }];
  const factor = latentFactor(comps);
  const zc = comps.aeConfig.z_channels;
  const { width: W, height: H } = o;
  if (B < 1) throw new RangeError('runFluxPipeline(): at least one prompt');
  if (!Number.isInteger(steps) || steps < 1)
    throw new RangeError(`steps must be a positive integer, got ${steps}`);
  if (guidance !== null && !Number.isFinite(guidance))
    throw new RangeError(`guidance must be a number, got ${guidance}`);
  for (const [what, v] of [
    ['width', W],
    ['height', H],
  ] as const)
    if (!Number.isInteger(v) || v < 2 * factor || v % (2 * factor) !== 0)
      throw new RangeError(
        `${what} must be a positive multiple of ${2 * factor} (${factor}x autoencoder scale x 2x2 patches), got ${v}`,
      );
  const previewEvery = o.previewEvery ?? 0;
  const useTaef1 = previewEvery > 0 || o.decoder === 'taef1';
  if (!Number.isInteger(previewEvery) || previewEvery < 0)
    throw new RangeError(`previewEvery must be a non-negative integer, got ${previewEvery}`);
  if (useTaef1 && !o.taef1)
    throw new RangeError(
      `${previewEvery ? 'previews need' : "decoder 'taef1' needs"} the TAEF1 decoder weights (option taef1)`,
    );
  if (useTaef1 && (factor !== TAESD_SCALE || zc !== 16))
    throw new RangeError(
      `TAEF1 decodes 16-channel latents at 1/${TAESD_SCALE} scale; this model's autoencoder has ${zc} channels at 1/${factor}`,
    );
  const h = H / factor;
  const w = W / factor;
  const rows = h / 2;
  const cols = w / 2;
  const N = rows * cols;
  const emit = o.onEvent ?? (() => {});
  const stages: StageRecord[] = [];
  const t0 = performance.now();

  /** Runs one stage to completion on the device, timing it and recording its peak memory. */
  const stage = async <T>(
    name: StageName,
    fn: (progress: (done: number, total: number) => void) => T | Promise<T>,
    extra: { method?: string; paramBytes?: (r: T) => number } = {},
  ): Promise<T> => {
    if (o.signal?.aborted) throw generationCancelled();
    emit({ stage: name, phase: 'start', method: extra.method });
    be.resetPeakMemory();
    const s0 = performance.now();
    const r = await fn((done, total) =>
      emit({ stage: name, phase: 'progress', method: extra.method, done, total }),
    );
    await be.sync();
    const rec: StageRecord = { stage: name, ms: performance.now() - s0, peakBytes: be.memory().peakBytes };
    if (extra.method) rec.method = extra.method;
    if (extra.paramBytes) rec.paramBytes = extra.paramBytes(r);
    stages.push(rec);
    emit({
      stage: name,
      phase: 'end',
      method: extra.method,
      ms: rec.ms,
      peakBytes: rec.peakBytes,
      paramBytes: rec.paramBytes,
    });
    return r;
  };
  /** Frees a model and hands its buffers back to the device. */
  const free = (m: { dispose(): void }) => {
    m.dispose();
    be.trim();
  };
  const loadTaef1 = () =>
    stage('load TAEF1', () => TaesdDecoder.load(be, o.taef1!, { dtype: o.aeDtype ?? 'f32' }), {
      paramBytes: (m) => m.deviceBytes,
    });

  // tokenize
  const { t5Ids, clipIds } = await stage('tokenize', () => {
    const t5Tok = comps.t5Tokenizer(L);
    const clipTok = comps.clipTokenizer();
    checkTokenizerFits(t5Tok, comps.t5Config.vocab_size, 'the T5 tokenizer', 'the T5 encoder');
    checkTokenizerFits(clipTok, comps.clipConfig.vocab_size, 'the CLIP tokenizer', 'the CLIP encoder');
    return { t5Ids: t5Tok.encode(o.prompts).ids, clipIds: clipTok.encode(o.prompts).ids };
  });

  // T5 -> txt [B, L, d_model]
  const t5 = await stage('load T5', (p) => comps.loadT5(be, dtype, p), { paramBytes: (m) => m.deviceBytes });
  let txt: Tensor;
  try {
    if (o.warmup) {
      t5.encode(t5Ids, B, L).dispose();
      await be.sync();
    }
    txt = await stage('T5', () => be.keep(t5.encode(t5Ids, B, L)));
  } finally {
    free(t5);
  }

  // CLIP -> y [B, hidden]
  let y: Tensor;
  try {
    const clip = await stage('load CLIP', (p) => comps.loadClip(be, dtype, p), {
      paramBytes: (m) => m.deviceBytes,
    });
    try {
      const encode = () => {
        const out = clip.encode(clipIds, B, FLUX_CLIP_MAX_LENGTH);
        out.lastHiddenState.dispose();
        return be.keep(out.pooled);
      };
      if (o.warmup) {
        encode().dispose();
        await be.sync();
      }
      y = await stage('CLIP', encode);
    } finally {
      free(clip);
    }
  } catch (e) {
    txt.dispose();
    throw e;
  }

  // transformer: Euler steps per method from the same noise
  const latents: { method: string; z: Float32Array; stepMs: number[]; fullSteps?: number[][] }[] = [];
  try {
    const maxParamBytes =
      o.maxDeviceBytes === undefined
        ? undefined
        : fluxParamBudget(
            comps.transformerConfig,
            {
              valueBytes: dtype === 'f16' && be.name !== 'cpu' ? 2 : 4,
              batch: B,
              imageTokens: N,
              textTokens: L,
              quantScratch: comps.transformerWeightBytes(2) !== undefined && dequantizesWholeMatrices(be),
            },
            o.maxDeviceBytes,
          );
    const model = await stage(
      'load transformer',
      (p) => comps.loadTransformer(be, dtype, p, { maxParamBytes }),
      {
        paramBytes: (m) => m.params.bytes,
      },
    );
    const positions = model.positions({ batch: B, rows, cols, textTokens: L });
    let taef1: TaesdDecoder | null = null;
    try {
      if (previewEvery > 0) taef1 = await loadTaef1();
      /** x0 [B, N, 4·zc] (packed tokens) -> preview images. */
      const preview = async (x0: Tensor, step: number): Promise<PreviewImages> => {
        const p0 = performance.now();
        const img = await taef1!.decode(await x0.read(), B, h, w, { layout: 'packed' });
        return { step, width: W, height: H, images: signedImages(img.data, B), ms: performance.now() - p0 };
      };
      const ts = fluxSchedule(steps, N, defaults.schedule);
      const noise = latentNoise(o.seed ?? 0, B, zc, h, w);
      const tokenChannels = 4 * zc;
      const cacheGroups = Array.from({ length: B }, (_, b) => b); // one cache group per prompt
      const run = async (
        m: PipelineMethod,
        count: number,
        onStep?: (i: number, ms: number, preview?: PreviewImages) => void,
      ) => {
        const setup = createMethod(be, m.method, { ...methodDefaults(c), ...m.options }, c.depth, {
          cache: m.cache,
          cacheOptions: m.cacheOptions,
        });
        let x = be.keep(be.tensor(noise, [B, N, tokenChannels], dtype));
        try {
          for (let i = 0; i < count; i++) {
            if (o.signal?.aborted) throw generationCancelled();
            const s0 = performance.now();
            const tCur = ts[i]!;
            const dt = ts[i + 1]! - tCur;
            const inputs = {
              img: x,
              txt,
              y,
              timesteps: new Array(B).fill(tCur),
              guidance: guidance === null ? undefined : new Array(B).fill(guidance),
              positions,
            };
            const hooks = { reducer: setup.reducer, pattern: setup.pattern, step: i, steps };
            const v = setup.cache
              ? await model.forwardAsync(inputs, { ...hooks, cache: setup.cache, cacheGroups })
              : be.keep(be.tidy(() => model.forward(inputs, hooks)));
            // x0 = x_t − t·v: where this step's straight line reaches t = 0 (v = noise − data)
            const x0 =
              onStep && taef1 && (i + 1) % previewEvery === 0 && i + 1 < count
                ? be.keep(be.tidy(() => be.add(x, be.scale(v, -tCur))))
                : null;
            const next = be.tidy(() => be.add(x, be.scale(v, dt)));
            v.dispose();
            x.dispose();
            x = be.keep(next);
            await be.sync();
            const ms = performance.now() - s0;
            let p: PreviewImages | undefined;
            if (x0) {
              try {
                p = await preview(x0, i + 1);
              } finally {
                x0.dispose();
              }
            }
            onStep?.(i, ms, p);
          }
          const d = setup.cache?.decisions();
          return { z: await x.read(), fullSteps: d && cacheGroups.map((g) => fullSteps(d, g)) };
        } finally {
          x.dispose();
          setup.dispose();
        }
      };
      for (const m of methods) {
        const label = pipelineMethodLabel(m);
        if (o.warmup) await run(m, 1);
        const stepMs: number[] = [];
        const r = await stage(
          'denoise',
          () =>
            run(m, steps, (i, ms, preview) => {
              stepMs.push(ms);
              const e: StageEvent = {
                stage: 'denoise',
                phase: 'progress',
                method: label,
                done: i + 1,
                total: steps,
                ms,
              };
              emit(preview ? { ...e, preview } : e);
            }),
          { method: label },
        );
        latents.push({ method: label, z: unpackPatches(r.z, B, zc, h, w), stepMs, fullSteps: r.fullSteps });
      }
    } finally {
      positions.dispose();
      if (taef1) free(taef1);
      free(model);
    }
  } finally {
    txt.dispose();
    y.dispose();
  }

  // the final decode: the autoencoder, or TAEF1
  const outputs: MethodOutput[] = [];
  const decoder = o.decoder === 'taef1' ? await loadTaef1() : null;
  const ae = decoder
    ? null
    : await stage('load AE', (p) => comps.loadAe(be, o.aeDtype ?? 'f32', p), {
        paramBytes: (m) => m.deviceBytes,
      });
  const decode = async (z: Float32Array): Promise<Float32Array[]> => {
    if (decoder) return signedImages((await decoder.decode(z, B, h, w)).data, B);
    return clampedImages((await ae!.decode(z, B, h, w)).data, B);
  };
  try {
    for (const l of latents) {
      if (o.warmup) await decode(l.z);
      const images = await stage('decode', () => decode(l.z), { method: l.method });
      outputs.push({
        method: l.method,
        images,
        stepMs: l.stepMs,
        ...(l.fullSteps ? { fullSteps: l.fullSteps } : {}),
      });
    }
  } finally {
    free(decoder ?? ae!);
  }

  return {
    variant,
    width: W,
    height: H,
    steps,
    guidance,
    textTokens: L,
    imageTokens: N,
    outputs,
    stages,
    totalMs: performance.now() - t0,
    peakBytes: Math.max(...stages.map((s) => s.peakBytes)),
  };
}
