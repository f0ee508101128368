// The Flux transformer (MMDiT) forward pass, as the official black-forest-labs/flux Flux.forward computes it:
//   img = img_in(img); vec = time_in(emb(t)) [+ guidance_in(emb(g))] + vector_in(y); txt = txt_in(txt)
//   double blocks on (img, txt); single blocks on [txt | img]; final_layer on the image tokens.
// forward() is synchronous: it records every launch of the pass (uploads of the timestep embeddings
// first) and never reads back, so a whole pass is submitted in a few command buffers. Each block runs
// inside be.tidy(), so intermediates go back to the pool as soon as the block is recorded.
import type { Backend } from '../../backend.js';
import { cachedForward } from '../../cache/cached-forward.js';
import type { StepCache } from '../../cache/step-cache.js';
import { openWeightFile } from '../../io/weight-file.js';
import { type AttentionPattern, dense, type ForwardInfo, type TokenReducer } from '../../merge/hooks.js';
import type { Tensor } from '../../tensor.js';
import { shapeStr } from '../../util/shape.js';
import { type FluxConfig, headDim } from './config.js';
import { type ForwardContext, LN_EPS } from './context.js';
import { doubleBlock } from './double-block.js';
import { FluxPositions } from './positions.js';
import { singleBlock } from './single-block.js';
import { TIMESTEP_DIM, timestepEmbedding } from './timestep.js';
import {
  type CheckpointLike,
  type ComputeDType,
  configFromCheckpoint,
  type FluxParams,
  type LoadOptions,
  loadParams,
  type MLPEmbedder,
  randomParams,
} from './weights.js';

export interface FluxInputs {
  /** [B, N, in_channels]: packed latent tokens in raster order, compute dtype. */
  img: Tensor;
  /** [B, Lt, context_in_dim]: text tokens (T5), compute dtype. */
  txt: Tensor;
  /** [B, vec_in_dim]: pooled text vector (CLIP), compute dtype. */
  y: Tensor;
  /** [B] timesteps in [0, 1] (the official code scales them by 1000). */
  timesteps: ArrayLike<number>;
  /** [B] guidance strengths; required when the config has guidance_embed, ignored otherwise. */
  guidance?: ArrayLike<number>;
  /** RoPE tables for the image and text ids (FluxPositions.grid / fromIds); reuse across steps. */
  positions: FluxPositions;
}

export interface ForwardOptions {
  /** Token reduction (default: dense). Its hooks are called as src/merge/hooks.ts documents. */
  reducer?: TokenReducer;
  /** Sparse attention pattern: image token order and per-block key ranges. */
  pattern?: AttentionPattern;
  /** Sampling step (0-based) and total steps, passed to the hooks (default 0 of 1). */
  step?: number;
  steps?: number;
  /**
   * Step cache (src/cache): reuses the block stack's work across sampling steps. Needs forwardAsync(),
   * since the cache reads its metric back during the pass.
   */
  cache?: StepCache;
  /**
   * Batch row -> image, for per-image cache decisions (with classifier-free guidance image i owns rows
   * i and i + B). Default: the whole batch decides together.
   */
  cacheGroups?: readonly number[];
}

/** A forward in progress: its hook info, the hooks (see FluxModel.beginForward). */
export interface ForwardRun {
  info: ForwardInfo;
  reducer: TokenReducer;
  pattern: AttentionPattern | null;
}

/** The pattern's image order: the permutation and its gather indices. */
export interface ImageOrder {
  /** raster[d] = raster index of the token at position d (the pattern's array). */
  raster: Uint32Array;
  /** u32 [B, N]: raster -> pattern order. */
  forward: Tensor;
  /** u32 [B, N]: pattern order -> raster, as rows of the joint [text | image] output. */
  restore: Tensor;
  /** u32 [B, N]: pattern order -> raster, as rows of the image-only output. */
  restoreImage: Tensor;
}

/** What the blocks start from (FluxModel.embed). */
export interface EmbeddedInputs {
  ctx: ForwardContext;
  /** [B, N, hidden] in the pattern's order, and [B, Lt, hidden]. */
  img: Tensor;
  txt: Tensor;
  order: ImageOrder | null;
}

/**
 * The tensors embed() returns that outlive the blocks (silu(vec), reordered RoPE tables, order indices),
 * for callers outside a tidy(): img and txt are not among them (the blocks free them).
 */
export function embeddedState(e: EmbeddedInputs): Tensor[] {
  const t = [e.ctx.vecAct];
  if (e.order)
    t.push(e.order.forward, e.order.restore, e.order.restoreImage, e.ctx.tables.img, e.ctx.tables.joint);
  return t;
}

export class FluxModel {
  readonly config: FluxConfig;
  readonly dtype: ComputeDType;

  constructor(
    readonly be: Backend,
    readonly params: FluxParams,
  ) {
    this.config = params.config;
    this.dtype = params.dtype;
  }

  /** Seeded random weights generated on the device (benchmarks, tests). */
  static random(be: Backend, config: FluxConfig, o: { dtype: ComputeDType; seed?: number }): FluxModel {
    return new FluxModel(be, randomParams(be, config, o));
  }

  /**
   * Loads a checkpoint (.safetensors, *.safetensors.index.json, .gguf, or a folder with one of them; or
   * any reader of one, e.g. parseSafetensors() over fetched bytes in a browser). GGUF weight matrices
   * stay quantized on the device unless `quantized: 'dequantize'`. The config is the one given,
   * else the checkpoint's __metadata__.config, else inferred from the tensor shapes.
   */
  static load(
    be: Backend,
    checkpoint: string | CheckpointLike,
    o: LoadOptions & { config?: FluxConfig },
  ): FluxModel {
    if (typeof checkpoint !== 'string') {
      const config = o.config ?? configFromCheckpoint(checkpoint).config;
      return new FluxModel(be, loadParams(be, checkpoint, config, o));
    }
    const ck = openWeightFile(checkpoint);
    try {
      return FluxModel.load(be, ck, o);
    } finally {
      ck.close();
    }
  }

  /** The position tables for a rows x cols token grid and `textTokens` text tokens (ids as prepare() makes them). */
  positions(o: { batch: number; rows: number; cols: number; textTokens: number }): FluxPositions {
    return FluxPositions.grid(this.be, this.config, o);
  }

  /** One transformer forward: the velocity prediction [B, N, out_channels] for the image tokens. */
  forward(inputs: FluxInputs, options: ForwardOptions = {}): Tensor {
    if (options.cache)
      throw new TypeError(
        'forward(): a step cache decides from values read back during the pass; call forwardAsync()',
      );
    const run = this.beginForward(inputs, options);
    try {
      return this.be.tidy(() => {
        const e = this.embed(inputs, run);
        const { img, txt } = this.doubleBlocks(e, e.img, e.txt);
        return this.finalLayer(e, this.singleBlocks(e, img, txt));
      });
    } finally {
      run.reducer.endForward();
    }
  }

  /**
   * forward() with a step cache (options.cache, src/cache): the cache's metric is read back after the
   * embeddings (and the first block, for First-Block-Cache) and decides whether the remaining blocks run.
   * Without a cache this is forward().
   */
  async forwardAsync(inputs: FluxInputs, options: ForwardOptions = {}): Promise<Tensor> {
    if (!options.cache) return this.forward(inputs, options);
    return cachedForward(this, inputs, options);
  }

  // ---- the stages of a forward (forward() runs them in one tidy; src/cache runs them around a readback) --

  /** Checks the inputs and starts the hooks' forward; the caller must call run.reducer.endForward(). */
  beginForward(inputs: FluxInputs, options: ForwardOptions): ForwardRun {
    const { B, N, Lt } = this.checkInputs(inputs);
    const pos = inputs.positions;
    const reducer = options.reducer ?? dense;
    const pattern = options.pattern ?? null;
    if ((reducer !== dense || pattern) && !pos.grid)
      throw new Error(
        'forward(): token reduction and attention patterns need image ids on a raster grid (0, row, col)',
      );
    const info: ForwardInfo = {
      step: options.step ?? 0,
      steps: options.steps ?? 1,
      batch: B,
      grid: pos.grid ?? [1, N],
      textTokens: Lt,
    };
    reducer.beginForward(info);
    return { info, reducer, pattern };
  }

  /** The embeddings: img_in (in the pattern's image order), txt_in, vec, silu(vec) and the RoPE tables. */
  embed(inputs: FluxInputs, run: ForwardRun): EmbeddedInputs {
    const { be, config: c } = this;
    const { info, reducer, pattern } = run;
    const w = this.params.tree;
    const pos = inputs.positions;
    const B = info.batch;
    const N = pos.imageTokens;
    // Uploads first: a write after recorded launches would submit them early.
    const temb = be.tensor(timestepEmbedding(inputs.timesteps), [B, TIMESTEP_DIM], this.dtype);
    const gemb =
      w.guidance_in && be.tensor(timestepEmbedding(inputs.guidance!), [B, TIMESTEP_DIM], this.dtype);
    const order = pattern ? this.imageOrder(pattern, info, N) : null;

    let tables = { txt: pos.txt, img: pos.img, joint: pos.joint };
    let img = inputs.img;
    if (order) {
      // The pattern's order: applied before the per-token embedding (the same result as after it, on
      // in_channels instead of hidden_size values) and undone by the output gather after final_layer.
      img = be.gather(img, order.forward);
      const P = headDim(c) / 2;
      const imgTable = be.reshape(be.gather(be.reshape(pos.img, [B, N, P * 2]), order.forward), [B, N, P, 2]);
      tables = { txt: pos.txt, img: imgTable, joint: be.concat([pos.txt, imgTable], 1) };
    }

    img = be.matmul(img, w.img_in.weight, { bias: w.img_in.bias });
    let vec = mlpEmbedder(be, w.time_in, temb);
    if (w.guidance_in) vec = mlpEmbedder(be, w.guidance_in, gemb!, vec);
    vec = mlpEmbedder(be, w.vector_in, inputs.y, vec);
    const txt = be.matmul(inputs.txt, w.txt_in.weight, { bias: w.txt_in.bias });
    const ctx: ForwardContext = {
      be,
      config: c,
      info,
      reducer,
      pattern,
      vecAct: be.activation(vec, 'silu'),
      tables,
    };
    return { ctx, img, txt, order };
  }

  /**
   * Double-stream blocks [from, to) on (img, txt); each runs in its own tidy() and frees its inputs
   * (the given img and txt included) as soon as its outputs exist.
   */
  doubleBlocks(
    e: EmbeddedInputs,
    img: Tensor,
    txt: Tensor,
    from = 0,
    to = this.config.depth,
  ): { img: Tensor; txt: Tensor } {
    const { be, params } = this;
    for (let i = from; i < to; i++) {
      params.enterBlock('double', i);
      const bw = params.tree.double_blocks[i]!;
      const next = be.tidy(() => doubleBlock(e.ctx, bw, i, img, txt));
      params.leaveBlock('double', i);
      img.dispose();
      txt.dispose();
      ({ img, txt } = next);
    }
    return { img, txt };
  }

  /** The single-stream blocks on [txt | img] (inputs freed); returns the joint hidden states. */
  singleBlocks(e: EmbeddedInputs, img: Tensor, txt: Tensor): Tensor {
    const { be, params } = this;
    let x = be.concat([txt, img], 1);
    img.dispose();
    txt.dispose();
    for (let i = 0; i < this.config.depth_single_blocks; i++) {
      params.enterBlock('single', i);
      const bw = params.tree.single_blocks[i]!;
      const next = be.tidy(() => singleBlock(e.ctx, bw, i, x));
      params.leaveBlock('single', i);
      x.dispose();
      x = next;
    }
    return x;
  }

  /**
   * final_layer, then the image rows in raster order: x is the joint [text | image] sequence, or only
   * the image rows [B, N, hidden] (step caches, where no text rows were computed). final_layer works
   * per token, so both give the same image rows. On the joint sequence the text rows are a little
   * wasted work, less than copying out the image hidden states first.
   */
  finalLayer(e: EmbeddedInputs, x: Tensor): Tensor {
    const { be, config: c } = this;
    const f = this.params.tree.final_layer;
    const ada = f.adaLN_modulation[1];
    // adaLN_modulation chunks (shift, scale), read in place
    const table = be.matmul(e.ctx.vecAct, ada.weight, { bias: ada.bias });
    const h = be.modulate(x, table, table, LN_EPS, { shift: 0, scale: c.hidden_size });
    const out = be.matmul(h, f.linear.weight, { bias: f.linear.bias });
    const { textTokens: Lt, grid } = e.ctx.info;
    const N = grid[0] * grid[1];
    if (x.dim(1) === N) return e.order ? be.gather(out, e.order.restoreImage) : out; // image rows only
    return e.order ? be.gather(out, e.order.restore) : be.slice(out, 1, Lt, N);
  }

  private checkInputs(inputs: FluxInputs): { B: number; N: number; Lt: number } {
    const c = this.config;
    const pos = inputs.positions;
    const B = pos.batch;
    const N = pos.imageTokens;
    const Lt = pos.textTokens;
    const expect = (t: Tensor | undefined, shape: number[], what: string) => {
      if (!t) throw new TypeError(`forward(): inputs.${what} is missing`);
      if (t.dtype !== this.dtype)
        throw new TypeError(
          `forward(): inputs.${what} is ${t.dtype} but the model computes in ${this.dtype}`,
        );
      if (t.rank !== shape.length || t.shape.some((d, i) => d !== shape[i]))
        throw new RangeError(
          `forward(): inputs.${what} has shape ${shapeStr(t.shape)}, expected ${shapeStr(shape)} (batch ${B}, ${N} image and ${Lt} text tokens from the positions)`,
        );
    };
    expect(inputs.img, [B, N, c.in_channels], 'img');
    expect(inputs.txt, [B, Lt, c.context_in_dim], 'txt');
    expect(inputs.y, [B, c.vec_in_dim], 'y');
    if (pos.be !== this.be) throw new TypeError('forward(): inputs.positions belong to another backend');
    const numbers = (v: ArrayLike<number> | undefined, what: string) => {
      if (!v || v.length !== B) throw new RangeError(`forward(): inputs.${what} must hold ${B} values`);
      for (let i = 0; i < B; i++)
        if (!Number.isFinite(v[i])) throw new RangeError(`forward(): inputs.${what}[${i}] is not finite`);
    };
    numbers(inputs.timesteps, 'timesteps');
    if (c.guidance_embed) numbers(inputs.guidance, 'guidance (the model has a guidance embedder)');
    return { B, N, Lt };
  }

  /** The pattern's image order as gather indices: forward [B, N] and restore [B, N] (into the joint output). */
  private imageOrder(pattern: AttentionPattern, info: ForwardInfo, N: number): ImageOrder | null {
    const order = pattern.imageOrder(info);
    if (!order) return null;
    if (order.length !== N)
      throw new RangeError(
        `attention pattern "${pattern.name}": image order has ${order.length} entries for ${N} tokens`,
      );
    const restoreImage = new Uint32Array(N).fill(0xffffffff);
    order.forEach((raster, d) => {
      if (raster >= N || restoreImage[raster] !== 0xffffffff)
        throw new RangeError(
          `attention pattern "${pattern.name}": image order is not a permutation of 0..${N - 1}`,
        );
      restoreImage[raster] = d; // row of raster token `raster` among the image rows
    });
    // ... and in the joint [text | image] output
    const restore = restoreImage.map((d) => info.textTokens + d);
    const B = info.batch;
    const repeat = (a: Uint32Array) => {
      const all = new Uint32Array(B * N);
      for (let b = 0; b < B; b++) all.set(a, b * N);
      return all;
    };
    return {
      raster: order,
      forward: this.be.tensor(repeat(order), [B, N], 'u32'),
      restore: this.be.tensor(repeat(restore), [B, N], 'u32'),
      restoreImage: this.be.tensor(repeat(restoreImage), [B, N], 'u32'),
    };
  }

  dispose(): void {
    this.params.dispose();
  }
}

/** in_layer -> SiLU -> out_layer (+ residual, fused into the last matmul). */
function mlpEmbedder(be: Backend, m: MLPEmbedder, x: Tensor, residual?: Tensor): Tensor {
  const h = be.matmul(x, m.in_layer.weight, { bias: m.in_layer.bias, activation: 'silu' });
  return be.matmul(h, m.out_layer.weight, { bias: m.out_layer.bias, residual });
}
