// Class-conditional sampling with a pixel-space Flux model (the embedded model): rectified-flow Euler
// steps over Flux's shifted schedule with classifier-free guidance, the token reducer / attention
// pattern / step cache applied at every step, progress and cancellation. Noise comes from our own seeded
// PRNG, so the CPU and WebGPU backends start from identical numbers.

import type { Backend } from '../backend.js';
import type { StepCache } from '../cache/step-cache.js';
import type { AttentionPattern, TokenReducer } from '../merge/hooks.js';
import type { FluxModel } from '../models/flux/model.js';
import type { Tensor } from '../tensor.js';
import type { AbortFlag } from '../util/abort.js';
import { Rng } from '../util/random.js';
import { packPatches, unpackToHWC } from './pixels.js';
import { fluxSchedule, type ScheduleKind } from './schedule.js';

/** Learned per-class text tokens and pooled vectors (class `nullClass` is the unconditional input). */
export interface ClassConditioning {
  names: string[];
  nullClass: number;
  /** [classes, T, ctx] */
  txt: Float32Array;
  /** [classes, vec] */
  y: Float32Array;
  textTokens: number;
}

export interface GenerateProgress {
  step: number;
  steps: number;
  /** Wall time of the finished step, GPU work included (ms). */
  stepMs: number;
  elapsedMs: number;
}

export interface GenerateOptions {
  model: FluxModel;
  conditioning: ClassConditioning;
  /** One class index per image. */
  classes: number[];
  width: number;
  height: number;
  steps: number;
  /** Noise seed of the batch (image i of a batch of B gets the i-th slice of one noise draw). */
  seed: number;
  /**
   * One noise seed per image, overriding `seed`: image i starts from initialNoise(seeds[i], 1, H, W), so it
   * is the same image whatever else is in the batch (what an evaluation over seeds needs).
   */
  seeds?: number[];
  /** Classifier-free guidance scale; 1 runs the conditional branch only. */
  cfg?: number;
  schedule?: ScheduleKind;
  reducer?: TokenReducer;
  pattern?: AttentionPattern;
  /**
   * Step cache (src/cache). Each image decides for itself (its conditional and unconditional rows are
   * one group), so with `seeds` an image is the same whatever else is in the batch; the decisions are
   * in cache.decisions() afterwards, one group per image.
   */
  cache?: StepCache;
  onProgress?: (p: GenerateProgress) => void;
  /**
   * The transformer's output [batch, N, 12] of every step, before guidance (conditional rows first);
   * valid during the call only (e.g. tools/fit-teacache.mjs reads it).
   */
  onModelOutput?: (step: number, output: Tensor) => void | Promise<void>;
  /** Checked between steps (an AbortSignal, or a flag another thread sets: util/abort.ts). */
  signal?: AbortFlag;
}

export interface GenerateResult {
  /** Interleaved RGB per image, values in [-1, 1]. */
  images: Float32Array[];
  width: number;
  height: number;
  totalMs: number;
  stepMs: number[];
}

/** Noise [B, 3, H, W] from the seed, packed to tokens (identical on every backend). */
export function initialNoise(seed: number, B: number, H: number, W: number): Float32Array {
  return packPatches(new Rng(seed).normals(B * 3 * H * W), B, 3, H, W);
}

/** Packed noise for a batch: one draw of B images from `seed`, or one image per entry of `seeds`. */
function batchNoise(
  seed: number,
  seeds: number[] | undefined,
  B: number,
  H: number,
  W: number,
): Float32Array {
  if (!seeds) return initialNoise(seed, B, H, W);
  const per = 3 * H * W;
  const out = new Float32Array(B * per);
  seeds.forEach((s, i) => {
    out.set(initialNoise(s, 1, H, W), i * per);
  });
  return out;
}

export async function generate(o: GenerateOptions): Promise<GenerateResult> {
  const { model, conditioning: cond } = o;
  const be: Backend = model.be;
  const B = o.classes.length;
  const { width: W, height: H } = o;
  const cfg = o.cfg ?? 1;
  const c = model.config;
  if (B < 1) throw new RangeError('generate(): at least one class');
  if (!Number.isInteger(W) || !Number.isInteger(H) || W < 2 || H < 2 || W % 2 || H % 2) {
    throw new RangeError(`generate(): width and height must be even integers >= 2, got ${W}x${H}`);
  }
  if (c.in_channels !== 12)
    throw new Error(
      `generate(): this sampler is for pixel-space models (12 channels per token); the model has ${c.in_channels}`,
    );
  if (o.seeds && (o.seeds.length !== B || !o.seeds.every((s) => Number.isInteger(s) && s >= 0)))
    throw new RangeError(
      `generate(): seeds must be ${B} non-negative integers (one per class), got ${JSON.stringify(o.seeds)}`,
    );
  for (const k of o.classes) {
    if (!Number.isInteger(k) || k < 0 || k >= cond.names.length)
      throw new RangeError(`generate(): class ${k} is not one of 0..${cond.names.length - 1}`);
  }
  const guided = cfg !== 1;
  const rows = H / 2;
  const cols = W / 2;
  const N = rows * cols;
  const batch = guided ? 2 * B : B;
  const T = cond.textTokens;
  const ctxDim = c.context_in_dim;
  const vecDim = c.vec_in_dim;

  // conditional rows first, then the unconditional ones
  const order = guided ? [...o.classes, ...o.classes.map(() => cond.nullClass)] : o.classes;
  const txt = new Float32Array(batch * T * ctxDim);
  const y = new Float32Array(batch * vecDim);
  order.forEach((k, i) => {
    txt.set(cond.txt.subarray(k * T * ctxDim, (k + 1) * T * ctxDim), i * T * ctxDim);
    y.set(cond.y.subarray(k * vecDim, (k + 1) * vecDim), i * vecDim);
  });

  const dtype = model.dtype;
  const ts = fluxSchedule(o.steps, N, o.schedule ?? 'dev');
  const stepMs: number[] = [];
  const t0 = performance.now();
  const positions = model.positions({ batch, rows, cols, textTokens: T });
  // image b owns rows b (conditional) and B + b (unconditional): one cache group
  const cacheGroups = order.map((_, r) => r % B);
  const txtT = be.keep(be.tensor(txt, [batch, T, ctxDim], dtype));
  const yT = be.keep(be.tensor(y, [batch, vecDim], dtype));
  let x: Tensor = be.keep(be.tensor(batchNoise(o.seed, o.seeds, B, H, W), [B, N, 12], dtype));
  try {
    for (let i = 0; i < o.steps; i++) {
      if (o.signal?.aborted) throw new DOMException('generation cancelled', 'AbortError');
      const s0 = performance.now();
      const tCur = ts[i]!;
      const dt = ts[i + 1]! - tCur;
      const inputs = (img: Tensor) => ({
        img,
        txt: txtT,
        y: yT,
        timesteps: new Array(batch).fill(tCur),
        positions,
      });
      const hooks = { reducer: o.reducer, pattern: o.pattern, step: i, steps: o.steps };
      /** The Euler step from the model output v. */
      const euler = (v: Tensor) => {
        let vel = v;
        if (guided) {
          // v_u + cfg·(v_c − v_u) = cfg·v_c + (1 − cfg)·v_u
          const [vc, vu] = be.split(v, 0, [B, B]) as [Tensor, Tensor];
          vel = be.add(be.scale(vc, cfg), be.scale(vu, 1 - cfg));
        }
        return be.add(x, be.scale(vel, dt));
      };
      let next: Tensor;
      if (!o.cache && !o.onModelOutput) {
        next = be.tidy(() => euler(model.forward(inputs(guided ? be.concat([x, x], 0) : x), hooks)));
      } else {
        const img = guided ? be.keep(be.concat([x, x], 0)) : x;
        let v: Tensor;
        try {
          v = await model.forwardAsync(inputs(img), { ...hooks, cache: o.cache, cacheGroups });
        } finally {
          if (guided) img.dispose();
        }
        try {
          await o.onModelOutput?.(i, v);
          next = be.tidy(() => euler(v));
        } finally {
          v.dispose();
        }
      }
      x.dispose();
      x = be.keep(next);
      await be.sync();
      const ms = performance.now() - s0;
      stepMs.push(ms);
      o.onProgress?.({ step: i + 1, steps: o.steps, stepMs: ms, elapsedMs: performance.now() - t0 });
    }
    const tokens = await x.read();
    const images = unpackToHWC(tokens, B, 3, H, W).map((img) => img.map((v) => Math.max(-1, Math.min(1, v))));
    return { images, width: W, height: H, totalMs: performance.now() - t0, stepMs };
  } finally {
    x.dispose();
    txtT.dispose();
    yT.dispose();
    positions.dispose();
  }
}
