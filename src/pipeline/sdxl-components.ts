// The four models and two tokenizers of an SDXL pipeline, loadable one at a time: what the pipeline
// (sdxl-pipeline.ts) runs on. Each model is seen through the small interface the pipeline needs, so the
// pipeline does not depend on how a model is built; openSdxlFolder (sdxl-folder.ts) gives them from files,
// randomSdxlComponents (sdxl-random.ts) from random weights. The sizes below are what opening checks
// before anything loads: that the components fit each other and the tokenizers fit their encoders.

import type { Backend } from '../backend.js';
import type { UnetForaCache } from '../cache/unet-fora.js';
import type { UnetTokenReducer } from '../merge/hooks.js';
import type { ComputeDType } from '../models/weights.js';
import type { DiscreteSchedulerConfig } from '../schedulers/discrete.js';
import type { Tensor } from '../tensor.js';
import type { PromptTokenizer } from '../text/tokenizer.js';

export type LoadProgress = (done: number, total: number) => void;

/** A text encoder as SDXL uses it: hidden_states[-2] and the pooled output (CLIP-G: text_embeds). */
export interface SdxlTextEncoder {
  /** Token ids [B·L] -> penultimate [B, L, hidden] and pooled [B, width] in the compute dtype. */
  encodeSdxl(ids: ArrayLike<number>, B: number, L: number): { penultimate: Tensor; pooled: Tensor };
  readonly deviceBytes: number;
  dispose(): void;
}

export interface SdxlUnetInputs {
  /** Channels-last [B, h, w, C] latents, scaled for the model input, in the compute dtype. */
  sample: Tensor;
  /** One timestep per row (or one for all). */
  timesteps: ArrayLike<number>;
  /** [B, L, context width]: both encoders' penultimate states side by side. */
  encoderHiddenStates: Tensor;
  /** [B, pooled width]: CLIP-G's text_embeds. */
  textEmbeds: Tensor;
  /** B·6 micro-conditioning ids: (orig_h, orig_w, crop_top, crop_left, target_h, target_w) per row. */
  timeIds: ArrayLike<number>;
}

export interface SdxlUnetHooks {
  /** A token reducer of the UNet's transformer blocks (from the method's setup). */
  reducer?: UnetTokenReducer;
  /** FORA's UNet step cache (from the method's setup). */
  cache?: UnetForaCache;
  step?: number;
  steps?: number;
}

/** The SDXL UNet: one forward gives the noise estimate [B, h, w, C] (channels-last, compute dtype). */
export interface SdxlUnet {
  forward(inputs: SdxlUnetInputs, hooks?: SdxlUnetHooks): Tensor;
  readonly deviceBytes: number;
  dispose(): void;
}

export interface SdxlVae {
  /**
   * Latents [B, C, h, w] as the sampler leaves them (the decoder divides by its scaling factor) ->
   * channels-last RGB [B, 8h, 8w, 3] in about [-1, 1].
   */
  decode(z: Float32Array, B: number, h: number, w: number): Promise<{ data: Float32Array }>;
  readonly deviceBytes: number;
  dispose(): void;
}

/** The sizes that decide whether the parts belong together (from configs and shapes, no weights read). */
export interface SdxlSizes {
  unet: {
    inChannels: number;
    outChannels: number;
    /** Width of the cross-attention context (SDXL: 2048 = 768 + 1280). */
    contextWidth: number;
    /**
     * Width of the pooled text input of add_embedding (SDXL: 1280): its input width less the sinusoidal
     * features of the 6 micro-conditioning ids (2816 − 6 × 256).
     */
    pooledWidth: number;
    /** Latent side the model was trained at (SDXL: 128, i.e. 1024 pixels). */
    sampleSize: number;
    /** Latent downsamplings of the UNet (levels − 1): the latent sides must be multiples of 2^this. */
    downsamplings: number;
  };
  clipL: { hidden: number; vocab: number };
  clipG: { hidden: number; pooled: number; vocab: number };
  vae: { latentChannels: number /** pixels per latent cell (8) */; scale: number };
}

export interface SdxlComponents {
  /** Where the components come from (for logs). */
  readonly description: string;
  readonly sizes: SdxlSizes;
  readonly scheduler: DiscreteSchedulerConfig;
  /** model_index.json's force_zeros_for_empty_prompt: no negative prompt -> zero embeddings. */
  readonly forceZerosForEmptyPrompt: boolean;
  /** The two tokenizers (cached): CLIP-L's and CLIP-G's, 77 tokens each. */
  tokenizers(): [PromptTokenizer, PromptTokenizer];
  /** Each load puts one model on the device; the caller disposes it. Progress: bytes (or tensors). */
  loadClipL(be: Backend, dtype: ComputeDType, onProgress?: LoadProgress): SdxlTextEncoder;
  loadClipG(be: Backend, dtype: ComputeDType, onProgress?: LoadProgress): SdxlTextEncoder;
  loadUnet(be: Backend, dtype: ComputeDType, onProgress?: LoadProgress): SdxlUnet;
  loadVae(be: Backend, dtype: ComputeDType, onProgress?: LoadProgress): SdxlVae;
}

export class SdxlComponentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SdxlComponentError';
  }
}

/** The components' mutual fit, with errors naming both sides (`where`: each part's file). */
export function checkSdxlFit(s: SdxlSizes, where: Record<'unet' | 'clipL' | 'clipG' | 'vae', string>): void {
  const fail = (m: string) => {
    throw new SdxlComponentError(`the components do not belong together: ${m}`);
  };
  const text = s.clipL.hidden + s.clipG.hidden;
  if (s.unet.contextWidth !== text)
    fail(
      `the UNet (${where.unet}) cross-attends to ${s.unet.contextWidth}-wide text features but the text encoders make ${s.clipL.hidden} (${where.clipL}) + ${s.clipG.hidden} (${where.clipG}) = ${text}`,
    );
  if (s.unet.pooledWidth !== s.clipG.pooled)
    fail(
      `the UNet (${where.unet}) takes a ${s.unet.pooledWidth}-wide pooled text embedding (beside SDXL's 6 size and crop ids) but the second text encoder (${where.clipG}) makes ${s.clipG.pooled}-wide ones`,
    );
  if (s.unet.inChannels !== s.vae.latentChannels || s.unet.outChannels !== s.vae.latentChannels)
    fail(
      `the UNet (${where.unet}) has ${s.unet.inChannels} -> ${s.unet.outChannels} channels but the VAE (${where.vae}) has ${s.vae.latentChannels} latent channels`,
    );
}

/**
 * Throws unless a tokenizer's ids fit an embedding table of `rows` rows: no id past the table, and the
 * table no larger than the vocabulary rounded up to a multiple of 128.
 */
export function checkSdxlTokenizer(
  tok: PromptTokenizer,
  rows: number,
  tokenizer: string,
  encoder: string,
): void {
  const n = tok.vocabSize;
  if (n > rows || Math.ceil(n / 128) * 128 < rows)
    throw new SdxlComponentError(
      `the tokenizer in ${tokenizer} does not match ${encoder}: it has ${n} tokens but the encoder's embedding table has ${rows} rows`,
    );
}
