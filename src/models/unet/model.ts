// diffusers' UNet2DConditionModel with SD/SDXL's structure (the SDXL base UNet), channels-last:
//   emb = time_embedding(sinusoid(t)) [+ add_embedding([text_embeds | sinusoid(time_ids)])]   (text_time)
//   x = conv_in(sample); skips = [x]
//   down levels: (resnet [+ transformer]) x layers_per_block, each output a skip; downsample (a skip)
//   mid: resnet, transformer, resnet
//   up levels (lowest resolution first): (concat [x, skips.pop()] -> resnet [+ transformer]) x
//     (layers_per_block + 1); upsample to the next skip's size
//   out = conv_out(silu(GroupNorm(x)))
// forward() is synchronous: it records the whole pass (host uploads first) and never reads back. Each
// block runs in its own tidy(), so intermediates go back to the pool as soon as it is recorded.

import type { Backend } from '../../backend.js';
import type { UnetForaCache } from '../../cache/unet-fora.js';
import { Checkpoint } from '../../io/safetensors.js';
import {
  denseUnet,
  type UnetBlockSite,
  type UnetForwardInfo,
  type UnetTokenReducer,
} from '../../merge/hooks.js';
import type { Tensor } from '../../tensor.js';
import { shapeStr } from '../../util/shape.js';
import { expectFamily } from '../detect.js';
import { RandomWeightSource } from '../random-weights.js';
import { type ComputeDType, ParamStore, WeightReader, type WeightSource } from '../weights.js';
import { downsample, resnet, transformer2d, type UnetContext, upsample } from './blocks.js';
import { checkUnetConfig, type UnetConfig, unetConfig } from './config.js';
import { type UnetLayout, unetKeys } from './layouts.js';
import { unetShapes } from './shapes.js';
import { sinusoidalEmbedding } from './timestep.js';
import { loadUnetWeights, type Transformer2DWeights, type UnetWeights } from './weights.js';

export interface UnetInputs {
  /** [B, H, W, in_channels]: the latents, channels-last, in the compute dtype. */
  sample: Tensor;
  /** Timesteps (0..999 for SDXL's scheduler): B values, or one for the whole batch. */
  timesteps: ArrayLike<number>;
  /** encoder_hidden_states [B, Lt, cross_attention_dim] (SDXL: both text encoders' penultimate states). */
  encoderHiddenStates: Tensor;
  /** text_time conditioning: the pooled text embedding [B, P] (SDXL: CLIP-G's projected pooled output). */
  textEmbeds?: Tensor;
  /** text_time conditioning: B·n ids, n per sample (SDXL: original size, crop top-left, target size). */
  timeIds?: ArrayLike<number>;
}

export interface UnetForwardOptions {
  /** Token reduction at the transformer blocks (default: dense; createUnetReducer); see src/merge/hooks.ts. */
  reducer?: UnetTokenReducer;
  /** Sampling step (0-based) and total steps, passed to the hooks (default 0 of 1). */
  step?: number;
  steps?: number;
  /** FORA's step cache for UNets (src/cache/unet-fora.ts): transformer modules reused between full steps. */
  cache?: UnetForaCache;
}

/** A hook site with where its block lives in the checkpoint (for logs and tests). */
export interface UnetTransformerSite extends UnetBlockSite {
  /** The Transformer2DModel holding the block (its diffusers key prefix) and the block's place in it. */
  module: string;
  layer: number;
  channels: number;
  heads: number;
}

export interface UnetLoadOptions {
  dtype?: ComputeDType;
  /** Values from a config.json (attention_head_dim, norm_num_groups, ...); see config.ts. */
  config?: Record<string, unknown>;
}

export class UnetModel {
  private readonly indexTables = new Map<string, Tensor>();

  private constructor(
    readonly be: Backend,
    readonly config: UnetConfig,
    readonly dtype: ComputeDType,
    private readonly store: ParamStore,
    private readonly w: UnetWeights,
    /** The checkpoint's key layout. */
    readonly layout: UnetLayout,
  ) {}

  /**
   * Loads a UNet checkpoint in the diffusers or the single-file (SGM) layout, one tensor at a time: a
   * path (.safetensors, *.safetensors.index.json or a folder with one) or any WeightSource.
   */
  static load(be: Backend, src: WeightSource | string, opts: UnetLoadOptions = {}): UnetModel {
    if (typeof src === 'string') {
      const ck = Checkpoint.open(src);
      try {
        return UnetModel.load(be, ck, opts);
      } finally {
        ck.close();
      }
    }
    expectFamily(src.path, src.keys(), 'unet');
    const config = unetConfig(src, opts.config ?? {});
    const keys = unetKeys(src);
    const dtype = opts.dtype ?? 'f32';
    const store = new ParamStore();
    try {
      const r = new WeightReader(be, src, dtype, store, '', 'a UNet');
      return new UnetModel(be, config, dtype, store, loadUnetWeights(r, config, keys.stored), keys.layout);
    } catch (e) {
      store.dispose();
      throw e;
    }
  }

  /** Seeded random weights made on the device (benchmarks): the initialisation of random-weights.ts. */
  static random(be: Backend, config: UnetConfig, o: { dtype: ComputeDType; seed?: number }): UnetModel {
    checkUnetConfig(config, 'random UNet config');
    const src = new RandomWeightSource('random-unet', unetShapes(config), { seed: o.seed, onDevice: true });
    const store = new ParamStore();
    try {
      const r = new WeightReader(be, src, o.dtype, store, '', 'a UNet');
      return new UnetModel(
        be,
        config,
        o.dtype,
        store,
        loadUnetWeights(r, config, (k) => k),
        'diffusers',
      );
    } catch (e) {
      store.dispose();
      throw e;
    }
  }

  get deviceBytes(): number {
    return this.store.bytes;
  }

  /** Grid [rows, cols] of each resolution level for an H x W latent (stride-2 convolutions round up). */
  levelGrids(H: number, W: number): [number, number][] {
    const grids: [number, number][] = [[H, W]];
    for (let i = 1; i < this.config.block_out_channels.length; i++) {
      const [h, w] = grids[i - 1]!;
      grids.push([Math.ceil(h / 2), Math.ceil(w / 2)]);
    }
    return grids;
  }

  /** Every BasicTransformerBlock of a forward on an H x W latent, in forward order (the hook sites). */
  transformerBlocks(H: number, W: number): UnetTransformerSite[] {
    const grids = this.levelGrids(H, W);
    const sites: UnetTransformerSite[] = [];
    const add = (t: Transformer2DWeights | null, path: UnetBlockSite['path']) => {
      if (!t) return;
      for (let layer = 0; layer < t.blocks.length; layer++)
        sites.push({
          index: sites.length,
          level: t.level,
          grid: grids[t.level]!,
          path,
          module: t.key,
          layer,
          channels: t.channels,
          heads: t.heads,
        });
    };
    for (const d of this.w.down) for (const a of d.attentions) add(a, 'down');
    add(this.w.mid.attention, 'mid');
    for (const u of this.w.up) for (const a of u.attentions) add(a, 'up');
    return sites;
  }

  /** The resolution levels that hold transformer blocks, ascending (SDXL: 1, 2). */
  attentionLevels(): number[] {
    const w = this.w;
    const levels = new Set<number>();
    for (const t of [
      ...w.down.flatMap((d) => d.attentions),
      w.mid.attention,
      ...w.up.flatMap((u) => u.attentions),
    ])
      if (t) levels.add(t.level);
    return [...levels].sort((a, b) => a - b);
  }

  /** One UNet forward: the noise prediction [B, H, W, out_channels] (channels-last, compute dtype). */
  forward(inputs: UnetInputs, options: UnetForwardOptions = {}): Tensor {
    const { B, H, W } = this.checkInputs(inputs);
    const reducer = options.reducer ?? denseUnet;
    const info: UnetForwardInfo = {
      step: options.step ?? 0,
      steps: options.steps ?? 1,
      batch: B,
      latent: [H, W],
      attentionLevels: this.attentionLevels(),
    };
    const cache = options.cache;
    cache?.begin(info.step, `${B}x${H}x${W}`);
    reducer.beginForward(info);
    try {
      return this.be.tidy(() => this.run(inputs, info, reducer, cache));
    } finally {
      reducer.endForward();
    }
  }

  private run(
    inputs: UnetInputs,
    info: UnetForwardInfo,
    reducer: UnetTokenReducer,
    cache?: UnetForaCache,
  ): Tensor {
    const { be, config: c, w } = this;
    const B = info.batch;
    const ctx: UnetContext = {
      be,
      config: c,
      info,
      reducer,
      text: inputs.encoderHiddenStates,
      ...this.timeEmbedding(inputs, B),
      indices: (key, make, rows) => this.indexTable(key, make, rows),
    };
    // hook sites in forward order, consumed by each transformer in turn
    const sites = this.transformerBlocks(info.latent[0], info.latent[1]);
    let nextSite = 0;
    const runTransformer = (t: Transformer2DWeights, x: Tensor) => {
      const own = sites.slice(nextSite, nextSite + t.blocks.length);
      nextSite += t.blocks.length;
      const compute = () => be.tidy(() => transformer2d(ctx, t, x, own));
      return cache ? cache.module(x, compute) : compute();
    };
    const step = (fn: () => Tensor) => be.tidy(fn);

    let x = step(() => be.conv2d(inputs.sample, w.convIn.weight, { bias: w.convIn.bias }));
    const skips: Tensor[] = [x];
    for (const level of w.down) {
      level.resnets.forEach((r, j) => {
        const prev = x;
        x = step(() => resnet(ctx, r, prev));
        const a = level.attentions[j];
        if (a) {
          const h = x;
          x = runTransformer(a, h);
          h.dispose();
        }
        skips.push(x);
      });
      if (level.downsample) {
        const prev = x;
        x = step(() => downsample(ctx, level.downsample!, prev));
        skips.push(x);
      }
    }
    // mid block (its input is the last skip: kept)
    const mid = w.mid;
    const m0 = step(() => resnet(ctx, mid.resnets[0], x));
    const m1 = runTransformer(mid.attention, m0);
    m0.dispose();
    x = step(() => resnet(ctx, mid.resnets[1], m1));
    m1.dispose();

    for (const level of w.up) {
      level.resnets.forEach((r, j) => {
        const skip = skips.pop()!;
        const prev = x;
        const cat = step(() => be.concat([prev, skip], 3));
        prev.dispose();
        skip.dispose();
        x = step(() => resnet(ctx, r, cat));
        cat.dispose();
        const a = level.attentions[j];
        if (a) {
          const h = x;
          x = runTransformer(a, h);
          h.dispose();
        }
      });
      if (level.upsample) {
        const target = skips.at(-1)!;
        const prev = x;
        x = step(() => upsample(ctx, level.upsample!, prev, target.dim(1), target.dim(2)));
        prev.dispose();
      }
    }
    if (skips.length !== 0 || nextSite !== sites.length)
      throw new Error(`UNet forward: ${skips.length} skips and ${sites.length - nextSite} blocks left over`);
    const normed = be.groupNorm(x, { groups: c.norm_num_groups, eps: c.norm_eps, ...w.normOut, silu: true });
    return be.conv2d(normed, w.convOut.weight, { bias: w.convOut.bias });
  }

  /** silu(emb) through every resnet's time projection: the [B, Σ Cout] table, and zeros like it. */
  private timeEmbedding(inputs: UnetInputs, B: number): { temb: Tensor; zeros: Tensor } {
    const { be, config: c, dtype, w } = this;
    const sin = { flipSinToCos: c.flip_sin_to_cos, freqShift: c.freq_shift };
    const ts =
      inputs.timesteps.length === 1
        ? Array.from({ length: B }, () => inputs.timesteps[0]!)
        : inputs.timesteps;
    // uploads first: on WebGPU a write after recorded launches would submit them early
    const tproj = be.tensor(
      sinusoidalEmbedding(ts, c.timestep_input_dim, sin),
      [B, c.timestep_input_dim],
      dtype,
    );
    let ids: Tensor | undefined;
    if (w.addEmbedding) {
      const A = c.addition_time_embed_dim;
      const n = inputs.timeIds!.length / B;
      ids = be.tensor(sinusoidalEmbedding(inputs.timeIds!, A, sin), [B, n * A], dtype);
    }
    const cols = w.tembProj.weight.dim(0);
    const zeros = be.zeros([B, cols], dtype);
    const mlp = (
      m: { linear1: { weight: Tensor; bias?: Tensor }; linear2: { weight: Tensor; bias?: Tensor } },
      x: Tensor,
      residual?: Tensor,
    ) => {
      const h = be.matmul(x, m.linear1.weight, { bias: m.linear1.bias, activation: 'silu' });
      return be.matmul(h, m.linear2.weight, { bias: m.linear2.bias, residual });
    };
    let emb = mlp(w.timeEmbedding, tproj);
    if (w.addEmbedding) emb = mlp(w.addEmbedding, be.concat([inputs.textEmbeds!, ids!], 1), emb);
    const temb = be.matmul(be.activation(emb, 'silu'), w.tembProj.weight, { bias: w.tembProj.bias });
    return { temb, zeros };
  }

  /** A cached u32 [rows, n] table repeating `make()` for each row (the batch). */
  private indexTable(key: string, make: () => Uint32Array, rows: number): Tensor {
    let t = this.indexTables.get(key);
    if (!t) {
      const one = make();
      const all = new Uint32Array(rows * one.length);
      for (let b = 0; b < rows; b++) all.set(one, b * one.length);
      t = this.be.keep(this.be.tensor(all, [rows, one.length], 'u32'));
      this.indexTables.set(key, t);
    }
    return t;
  }

  private checkInputs(inputs: UnetInputs): { B: number; H: number; W: number; Lt: number } {
    const c = this.config;
    const s = inputs.sample;
    const check = (t: Tensor | undefined, what: string, rank: number, want: (number | null)[]) => {
      if (!t) throw new TypeError(`UNet forward: inputs.${what} is missing`);
      if (t.backend !== this.be)
        throw new TypeError(`UNet forward: inputs.${what} belongs to another backend`);
      if (t.dtype !== this.dtype)
        throw new TypeError(
          `UNet forward: inputs.${what} is ${t.dtype} but the model computes in ${this.dtype}`,
        );
      if (t.rank !== rank || want.some((d, i) => d !== null && t.dim(i) !== d))
        throw new RangeError(
          `UNet forward: inputs.${what} has shape ${shapeStr(t.shape)}, expected [${want.map((d) => d ?? '*').join(', ')}]`,
        );
    };
    check(s, 'sample', 4, [null, null, null, c.in_channels]);
    const [B, H, W] = s.shape as [number, number, number, number];
    if (B === 0 || H === 0 || W === 0)
      throw new RangeError(`UNet forward: empty sample ${shapeStr(s.shape)}`);
    check(inputs.encoderHiddenStates, 'encoderHiddenStates', 3, [B, null, c.cross_attention_dim]);
    const Lt = inputs.encoderHiddenStates.dim(1);
    if (Lt === 0) throw new RangeError('UNet forward: encoderHiddenStates has no tokens');
    const finite = (v: ArrayLike<number>, what: string) => {
      for (let i = 0; i < v.length; i++)
        if (!Number.isFinite(v[i])) throw new RangeError(`UNet forward: inputs.${what}[${i}] is not finite`);
    };
    const ts = inputs.timesteps;
    if (!ts || (ts.length !== B && ts.length !== 1))
      throw new RangeError(
        `UNet forward: inputs.timesteps must hold ${B} values (or one), got ${ts?.length}`,
      );
    finite(ts, 'timesteps');
    if (c.addition_embed_type === 'text_time') {
      check(inputs.textEmbeds, 'textEmbeds', 2, [B, null]);
      const P = inputs.textEmbeds!.dim(1);
      const ids = inputs.timeIds;
      const A = c.addition_time_embed_dim;
      const want = c.projection_class_embeddings_input_dim;
      if (!ids || ids.length % B !== 0 || P + (ids.length / B) * A !== want)
        throw new RangeError(
          `UNet forward: text_time conditioning needs text_embeds [B, P] and B·n time ids with P + n·${A} = ${want}; got P = ${P} and ${ids?.length ?? 0} ids for batch ${B}`,
        );
      finite(ids, 'timeIds');
    }
    return { B, H, W, Lt };
  }

  dispose(): void {
    this.store.dispose();
    for (const t of this.indexTables.values()) t.dispose();
    this.indexTables.clear();
  }
}
