// Prompt -> image with Stable Diffusion XL: the stages of diffusers' StableDiffusionXLPipeline, with one
// model on the device at a time.
//   tokenize (two CLIP tokenizers, 77 tokens; tokenizer_2 pads with "!")
//   -> load CLIP-L, encode, free -> load CLIP-G, encode, free:
//      context = [penultimate_L ‖ penultimate_G] on the channel axis [B, 77, 768 + 1280]; pooled = CLIP-G's
//      text_embeds [B, 1280]; for classifier-free guidance the negative prompt the same way, or zeros
//      when none is given and the model says force_zeros_for_empty_prompt (SDXL base does)
//   -> load the UNet; per method: latents = N(0, 1) [B, 4, H/8, W/8] from the seed × init_noise_sigma,
//      steps of the Euler (or Euler-ancestral) sampler: model input x / sqrt(σ² + 1) for the uncond and
//      cond rows (batch 2B), eps = eps_u + g·(eps_c − eps_u), add_time_ids (H, W, 0, 0, H, W); free
//   -> load the VAE (f32 by default: SDXL's VAE overflows f16, force_upcast in its config), decode the
//      latents (divided by its scaling factor 0.13025), free.
// With TAESDXL beside the UNet, the current estimate of the final image (x0 = x − σ·eps) is decoded every
// few steps for live previews; TAESDXL can also replace the VAE. Latents live channels-last on the device
// in f32 between steps; noise is drawn on the host in [B, C, h, w] order from our seeded generator (the
// initial latents, then each ancestral step's), so every backend starts from the same numbers.

import type { Backend } from '../backend.js';
import { TAESD_SCALE, TaesdDecoder } from '../models/taesd/decoder.js';
import type { ComputeDType, WeightSource } from '../models/weights.js';
import { EulerSampler, type SamplerName, samplerOfClass } from '../schedulers/euler.js';
import type { Tensor } from '../tensor.js';
import type { AbortFlag } from '../util/abort.js';
import { Rng } from '../util/random.js';
import { clampedImages, generationCancelled, signedImages } from './decoded-images.js';
import type { PreviewImages } from './flux-pipeline.js';
import { nchwToNhwc, nhwcToNchw } from './pixels.js';
import type { SdxlComponents, SdxlTextEncoder, SdxlUnetHooks } from './sdxl-components.js';

export type SdxlStageName =
  | 'tokenize'
  | 'load CLIP-L'
  | 'CLIP-L'
  | 'load CLIP-G'
  | 'CLIP-G'
  | 'load UNet'
  | 'denoise'
  | 'load VAE'
  | 'load TAESDXL'
  | 'decode';

export interface SdxlStageEvent {
  stage: SdxlStageName;
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
  /** progress of denoise, on preview steps: TAESDXL's decode of the current estimate x0. */
  preview?: PreviewImages;
}

export interface SdxlStageRecord {
  stage: SdxlStageName;
  method?: string;
  ms: number;
  peakBytes: number;
  paramBytes?: number;
}

/** A way to run the UNet: dense, or with a token reducer built for each run (ToMA, ToMeSD, ToDo). */
export interface SdxlPipelineMethod {
  /** The name of the method's outputs and events ("dense", "toma"). */
  label: string;
  /** Makes the method's UNet hooks for one run (absent: dense); disposed after it. */
  setup?: (be: Backend) => {
    reducer?: SdxlUnetHooks['reducer'];
    cache?: SdxlUnetHooks['cache'];
    dispose(): void;
  };
}

/** diffusers' StableDiffusionXLPipeline defaults (num_inference_steps is 50 there; see SDXL_DEFAULTS.steps). */
export const SDXL_DEFAULTS = {
  /**
   * 30 Euler steps: Euler's error at 30 steps of the leading schedule is small next to 50's cost for
   * SDXL base (the common UIs' default for SDXL is 20–30); diffusers' own default is 50.
   */
  steps: 30,
  guidance: 5.0,
  /** SDXL base's UNet sample_size 128 × the VAE's 8 (sdxlDefaultSize gives a model's own). */
  size: 1024,
} as const;

/** The image side a model was trained at: its UNet's sample_size in latent cells × the VAE's scale. */
export function sdxlDefaultSize(c: SdxlComponents): number {
  return c.sizes.unet.sampleSize * c.sizes.vae.scale;
}

export interface SdxlPipelineOptions {
  be: Backend;
  components: SdxlComponents;
  /** Compute dtype of the text encoders and the UNet. */
  dtype: ComputeDType;
  /** Compute dtype of the VAE (default f32: SDXL's VAE overflows f16; its config says force_upcast). */
  vaeDtype?: ComputeDType;
  /** One image per prompt. */
  prompts: string[];
  /**
   * One negative prompt per prompt (or one for all). Absent: zero embeddings when the model's
   * force_zeros_for_empty_prompt is set (SDXL base), else the empty prompt encoded (diffusers' rule:
   * an explicit "" is encoded).
   */
  negativePrompts?: string[];
  width: number;
  height: number;
  /** Default SDXL_DEFAULTS.steps. */
  steps?: number;
  /** Classifier-free guidance scale (default 5); at most 1 runs the conditional rows alone. */
  guidance?: number;
  seed?: number;
  /** Default: the folder's scheduler class (EulerAncestralDiscreteScheduler: 'euler-a'), else 'euler'. */
  sampler?: SamplerName;
  /** Micro-conditioning: the original size (default the image size) and crop's top-left (default 0, 0). */
  originalSize?: [number, number];
  cropTopLeft?: [number, number];
  /** Methods run on the same noise, in order (default dense). */
  methods?: SdxlPipelineMethod[];
  /** Run each compute stage once untimed first (pipeline compilation), for benchmarks. */
  warmup?: boolean;
  onEvent?: (e: SdxlStageEvent) => void;
  /** Checked between steps (an AbortSignal, or a flag another thread sets: util/abort.ts). */
  signal?: AbortFlag;
  /** TAESDXL decoder weights, for previewEvery and decoder 'taesdxl'. */
  taesdxl?: WeightSource;
  /** Decode a preview after every this many steps but the last; 0 (default): none. */
  previewEvery?: number;
  /** The final decode: 'vae' (default) or 'taesdxl' (fast and small, lower fidelity). */
  decoder?: 'vae' | 'taesdxl';
}

export interface SdxlMethodOutput {
  method: string;
  /** Per prompt: interleaved RGB [H, W, 3] in [-1, 1]. */
  images: Float32Array[];
  stepMs: number[];
}

export interface SdxlPipelineResult {
  width: number;
  height: number;
  steps: number;
  guidance: number;
  sampler: SamplerName;
  /** Whether the unconditional rows came from zeros (no negative prompt, force_zeros_for_empty_prompt). */
  zeroNegative: boolean;
  outputs: SdxlMethodOutput[];
  stages: SdxlStageRecord[];
  totalMs: number;
  /** Largest stage peak. */
  peakBytes: number;
}

/** add_time_ids of one row: (orig_h, orig_w, crop_top, crop_left, target_h, target_w). */
export function sdxlTimeIds(
  width: number,
  height: number,
  originalSize: [number, number] = [height, width],
  cropTopLeft: [number, number] = [0, 0],
): number[] {
  return [...originalSize, ...cropTopLeft, height, width];
}

export async function runSdxlPipeline(o: SdxlPipelineOptions): Promise<SdxlPipelineResult> {
  const { be, components: comps, dtype } = o;
  const sizes = comps.sizes;
  const B = o.prompts.length;
  const steps = o.steps ?? SDXL_DEFAULTS.steps;
  const guidance = o.guidance ?? SDXL_DEFAULTS.guidance;
  const sampler = o.sampler ?? samplerOfClass(comps.scheduler.class_name);
  const methods = o.methods?.length ? o.methods : [{ label: 'dense' }];
  const factor = sizes.vae.scale;
  const C = sizes.vae.latentChannels;
  const multiple = factor * 2 ** sizes.unet.downsamplings;
  const { width: W, height: H } = o;
  if (B < 1) throw new RangeError('runSdxlPipeline(): at least one prompt');
  if (!Number.isInteger(steps) || steps < 1)
    throw new RangeError(`steps must be a positive integer, got ${steps}`);
  if (!Number.isFinite(guidance) || guidance < 0)
    throw new RangeError(`guidance must be a number >= 0, got ${guidance}`);
  for (const [what, v] of [
    ['width', W],
    ['height', H],
  ] as const)
    if (!Number.isInteger(v) || v < multiple || v % multiple !== 0)
      throw new RangeError(
        `${what} must be a positive multiple of ${multiple} (${factor}x VAE scale x ${2 ** sizes.unet.downsamplings} for the UNet's downsamplings), got ${v}`,
      );
  const negatives = o.negativePrompts;
  if (negatives && negatives.length !== B && negatives.length !== 1)
    throw new RangeError(`negativePrompts: one for all prompts or one each (${B}), got ${negatives.length}`);
  const previewEvery = o.previewEvery ?? 0;
  if (!Number.isInteger(previewEvery) || previewEvery < 0)
    throw new RangeError(`previewEvery must be a non-negative integer, got ${previewEvery}`);
  const useTaesd = previewEvery > 0 || o.decoder === 'taesdxl';
  if (useTaesd && !o.taesdxl)
    throw new RangeError(
      `${previewEvery ? 'previews need' : "decoder 'taesdxl' needs"} the TAESDXL decoder weights (option taesdxl)`,
    );
  if (useTaesd && (factor !== TAESD_SCALE || C !== 4))
    throw new RangeError(
      `TAESDXL decodes 4-channel latents at 1/${TAESD_SCALE} scale; this model's VAE has ${C} channels at 1/${factor}`,
    );
  const guided = guidance > 1; // diffusers: do_classifier_free_guidance = guidance_scale > 1
  const zeroNegative = guided && !negatives && comps.forceZerosForEmptyPrompt;
  const h = H / factor;
  const w = W / factor;
  const emit = o.onEvent ?? (() => {});
  const stages: SdxlStageRecord[] = [];
  const t0 = performance.now();

  /** Runs one stage to completion on the device, timing it and recording its peak memory. */
  const stage = async <T>(
    name: SdxlStageName,
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
    const rec: SdxlStageRecord = {
      stage: name,
      ms: performance.now() - s0,
      peakBytes: be.memory().peakBytes,
    };
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
  const loadTaesd = () =>
    stage('load TAESDXL', () => TaesdDecoder.load(be, o.taesdxl!, { dtype: o.vaeDtype ?? 'f32' }), {
      paramBytes: (m) => m.deviceBytes,
    });

  // tokenize: the prompts, then (when encoded) the negative prompts, as one batch per encoder
  const encodeNegatives = guided && !zeroNegative;
  const texts = encodeNegatives
    ? [
        ...o.prompts,
        ...o.prompts.map((_, b) => (negatives ? negatives[negatives.length === 1 ? 0 : b]! : '')),
      ]
    : o.prompts;
  const rows = texts.length;
  const [idsL, idsG, L] = await stage('tokenize', () => {
    const [tokL, tokG] = comps.tokenizers();
    if (tokL.maxLength !== tokG.maxLength)
      throw new RangeError(
        `the tokenizers pad to ${tokL.maxLength} and ${tokG.maxLength} tokens; SDXL's both to 77`,
      );
    return [tokL.encode(texts).ids, tokG.encode(texts).ids, tokL.maxLength] as const;
  });

  /** One encoder: load, encode every text, free; its penultimate states and pooled output stay. */
  const encode = async (which: 'CLIP-L' | 'CLIP-G', ids: Int32Array, load: () => SdxlTextEncoder) => {
    const enc = await stage(`load ${which}`, load, { paramBytes: (m) => m.deviceBytes });
    try {
      const run = () => {
        const out = enc.encodeSdxl(ids, rows, L);
        be.keep(out.penultimate);
        be.keep(out.pooled);
        return out;
      };
      if (o.warmup) {
        const w0 = run();
        w0.penultimate.dispose();
        w0.pooled.dispose();
        await be.sync();
      }
      return await stage(which, run);
    } finally {
      free(enc);
    }
  };
  /** With guidance, rows [uncond; cond] (diffusers' order): the encoded negatives, or zeros; t is consumed. */
  const arrange = (t: Tensor): Tensor => {
    if (!guided) return t;
    try {
      return be.keep(
        be.tidy(() => {
          if (!encodeNegatives) return be.concat([be.zeros(t.shape, t.dtype), t], 0);
          const [cond, uncond] = be.split(t, 0, [B, B]) as [Tensor, Tensor];
          return be.concat([uncond, cond], 0);
        }),
      );
    } finally {
      t.dispose();
    }
  };
  const clipL = await encode('CLIP-L', idsL, () => comps.loadClipL(be, dtype));
  clipL.pooled.dispose(); // SDXL pools from the second encoder only
  let context: Tensor;
  let pooled: Tensor;
  try {
    const clipG = await encode('CLIP-G', idsG, () => comps.loadClipG(be, dtype));
    try {
      // [rows, L, hidden_L + hidden_G]: both encoders' penultimate states side by side
      context = arrange(be.keep(be.tidy(() => be.concat([clipL.penultimate, clipG.penultimate], 2))));
    } catch (e) {
      clipG.pooled.dispose();
      throw e;
    } finally {
      clipG.penultimate.dispose();
    }
    try {
      pooled = arrange(clipG.pooled);
    } catch (e) {
      context.dispose();
      throw e;
    }
  } finally {
    clipL.penultimate.dispose();
  }

  // the UNet: sampler steps per method, each from the same noise
  const unetRows = guided ? 2 * B : B;
  const timeIds = Array.from({ length: unetRows }, () =>
    sdxlTimeIds(W, H, o.originalSize, o.cropTopLeft),
  ).flat();
  const latents: { method: string; z: Float32Array; stepMs: number[] }[] = [];
  try {
    const unet = await stage('load UNet', (p) => comps.loadUnet(be, dtype, p), {
      paramBytes: (m) => m.deviceBytes,
    });
    let taesd: TaesdDecoder | null = null;
    try {
      if (previewEvery > 0) taesd = await loadTaesd();
      const n = B * C * h * w;
      const run = async (
        m: SdxlPipelineMethod,
        count: number,
        onStep?: (i: number, ms: number, p?: PreviewImages) => void,
      ) => {
        // a fresh generator per run: every method starts from the same latents and ancestral noise
        const rng = new Rng(o.seed ?? 0);
        const first = nchwToNhwc(rng.normals(n), B, C, h, w);
        const euler = new EulerSampler(comps.scheduler, steps, sampler, () =>
          nchwToNhwc(rng.normals(n), B, C, h, w),
        );
        const setup = m.setup?.(be);
        let x = be.keep(
          be.tensor(
            first.map((v) => v * euler.initNoiseSigma),
            [B, h, w, C],
            'f32',
          ),
        );
        try {
          for (let i = 0; i < count; i++) {
            if (o.signal?.aborted) throw generationCancelled();
            const s0 = performance.now();
            const t = euler.timesteps[i]!;
            const eps = be.keep(
              be.tidy(() => {
                const xin = be.cast(be.scale(x, euler.inputScale(i)), dtype);
                const out = unet.forward(
                  {
                    sample: guided ? be.concat([xin, xin], 0) : xin,
                    timesteps: new Array(unetRows).fill(t),
                    encoderHiddenStates: context,
                    textEmbeds: pooled,
                    timeIds,
                  },
                  { reducer: setup?.reducer, cache: setup?.cache, step: i, steps },
                );
                if (!guided) return out;
                // eps_u + g·(eps_c − eps_u) = g·eps_c + (1 − g)·eps_u
                const [uncond, cond] = be.split(out, 0, [B, B]) as [Tensor, Tensor];
                return be.add(be.scale(cond, guidance), be.scale(uncond, 1 - guidance));
              }),
            );
            const x0 =
              onStep && taesd && (i + 1) % previewEvery === 0 && i + 1 < count
                ? be.keep(euler.predictedOriginal(be, x, eps, i))
                : null;
            const next = euler.step(be, x, eps, i);
            eps.dispose();
            x.dispose();
            x = be.keep(next);
            await be.sync();
            const ms = performance.now() - s0;
            let p: PreviewImages | undefined;
            if (x0) {
              try {
                const p0 = performance.now();
                const img = await taesd!.decode(nhwcToNchw(await x0.read(), B, C, h, w), B, h, w);
                p = {
                  step: i + 1,
                  width: W,
                  height: H,
                  images: signedImages(img.data, B),
                  ms: performance.now() - p0,
                };
              } finally {
                x0.dispose();
              }
            }
            onStep?.(i, ms, p);
          }
          return nhwcToNchw(await x.read(), B, C, h, w);
        } finally {
          x.dispose();
          setup?.dispose();
        }
      };
      for (const m of methods) {
        if (o.warmup) await run(m, 1);
        const stepMs: number[] = [];
        const z = await stage(
          'denoise',
          () =>
            run(m, steps, (i, ms, preview) => {
              stepMs.push(ms);
              const e: SdxlStageEvent = {
                stage: 'denoise',
                phase: 'progress',
                method: m.label,
                done: i + 1,
                total: steps,
                ms,
              };
              emit(preview ? { ...e, preview } : e);
            }),
          { method: m.label },
        );
        latents.push({ method: m.label, z, stepMs });
      }
    } finally {
      if (taesd) free(taesd);
      free(unet);
    }
  } finally {
    context.dispose();
    pooled.dispose();
  }

  // the final decode: the VAE, or TAESDXL
  const outputs: SdxlMethodOutput[] = [];
  const tiny = o.decoder === 'taesdxl' ? await loadTaesd() : null;
  const vae = tiny
    ? null
    : await stage('load VAE', (p) => comps.loadVae(be, o.vaeDtype ?? 'f32', p), {
        paramBytes: (m) => m.deviceBytes,
      });
  const decode = async (z: Float32Array): Promise<Float32Array[]> => {
    if (tiny) return signedImages((await tiny.decode(z, B, h, w)).data, B);
    return clampedImages((await vae!.decode(z, B, h, w)).data, B);
  };
  try {
    for (const l of latents) {
      if (o.warmup) await decode(l.z);
      const images = await stage('decode', () => decode(l.z), { method: l.method });
      outputs.push({ method: l.method, images, stepMs: l.stepMs });
    }
  } finally {
    free(tiny ?? vae!);
  }

  return {
    width: W,
    height: H,
    steps,
    guidance,
    sampler,
    zeroNegative,
    outputs,
    stages,
    totalMs: performance.now() - t0,
    peakBytes: Math.max(...stages.map((s) => s.peakBytes)),
  };
}
