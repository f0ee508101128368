// The four models and two tokenizers of a FLUX.1 pipeline, loadable one at a time. FluxComponents is what
// the pipeline (flux-pipeline.ts) runs on; openFluxFolder gives them from files on disk (located by
// model-folder.ts), random-components.ts from random weights. Opening checks everything that can be
// checked without loading weights: each file's model family, the configs, that the components fit each
// other (T5 width = the transformer's context width, CLIP width = its vector width, 4 x latent channels =
// its input channels) and that each tokenizer fits its encoder's embedding table.
import type { Backend } from '../backend.js';
import { GgufReader } from '../io/gguf.js';
import { Checkpoint } from '../io/safetensors.js';
import { openWeightFile } from '../io/weight-file.js';
import { type AeDecoderConfig, aeDecoderConfig, aeLayout } from '../models/ae/config.js';
import { AeDecoder } from '../models/ae/decoder.js';
import { aeDecoderShapes } from '../models/ae/shapes.js';
import { type ClipTextConfig, clipPrefix, clipTextConfig } from '../models/clip/config.js';
import { clipTextShapes } from '../models/clip/shapes.js';
import { ClipTextModel } from '../models/clip/text-model.js';
import { countingSource } from '../models/counting-source.js';
import { expectFamily } from '../models/detect.js';
import { configFromObject, type FluxConfig } from '../models/flux/config.js';
import { storedWeightBytes } from '../models/flux/memory.js';
import { FluxModel } from '../models/flux/model.js';
import { type CheckpointLike, configFromCheckpoint } from '../models/flux/weights.js';
import { FLUX_T5_MAX_LENGTH, type T5Config, t5Config } from '../models/t5/config.js';
import { T5Encoder } from '../models/t5/encoder.js';
import { isT5Gguf, t5SourceFromGguf } from '../models/t5/gguf-names.js';
import { t5Shapes } from '../models/t5/shapes.js';
import type { ComputeDType } from '../models/weights.js';
import { loadClipTokenizer, loadT5Tokenizer, type TokenizerFiles } from '../text/load-tokenizer.js';
import type { PromptTokenizer } from '../text/tokenizer.js';
import type { FluxFiles } from './flux-layout.js';

export type LoadProgress = (done: number, total: number) => void;

export interface FluxComponents {
  /** Where the components come from (for logs). */
  readonly description: string;
  readonly transformerConfig: FluxConfig;
  readonly t5Config: T5Config;
  readonly clipConfig: ClipTextConfig;
  readonly aeConfig: AeDecoderConfig;
  /** Tokenizers (cached); the T5 one pads and truncates to maxLength. */
  t5Tokenizer(maxLength: number): PromptTokenizer;
  clipTokenizer(): PromptTokenizer;
  /** The transformer's parameter bytes as held when its file keeps matrices quantized (GGUF), else undefined. */
  transformerWeightBytes(valueBytes: number): { bytes: number; largest: number } | undefined;
  /** Each load puts one model on the device; the caller disposes it. Progress: bytes (or tensors). */
  loadT5(be: Backend, dtype: ComputeDType, onProgress?: LoadProgress): T5Encoder;
  loadClip(be: Backend, dtype: ComputeDType, onProgress?: LoadProgress): ClipTextModel;
  /** maxParamBytes: the transformer's memory plan (LoadOptions.maxParamBytes in models/flux/weights.ts). */
  loadTransformer(
    be: Backend,
    dtype: ComputeDType,
    onProgress?: LoadProgress,
    o?: { maxParamBytes?: number },
  ): FluxModel;
  loadAe(be: Backend, dtype: ComputeDType, onProgress?: LoadProgress): AeDecoder;
}

export class FluxComponentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FluxComponentError';
  }
}

/** 'dev' when the transformer has a guidance embedder (FLUX.1-dev), else 'schnell'. */
export function fluxVariant(c: FluxConfig): 'dev' | 'schnell' {
  return c.guidance_embed ? 'dev' : 'schnell';
}

/**
 * Throws unless a tokenizer's ids fit an embedding table of `rows` rows: no id past the table, and the
 * table no larger than the vocabulary rounded up to a multiple of 128 (T5's 32100 ids in 32128 rows).
 */
export function checkTokenizerFits(
  tok: PromptTokenizer,
  rows: number,
  tokenizer: string,
  encoder: string,
): void {
  const n = tok.vocabSize;
  if (n > rows || Math.ceil(n / 128) * 128 < rows)
    throw new FluxComponentError(
      `the tokenizer in ${tokenizer} does not match ${encoder}: it has ${n} tokens but the encoder's embedding table has ${rows} rows (is it the other encoder's tokenizer?)`,
    );
}

/** The components' mutual fit (widths and channels), with errors naming both sides. */
export function checkComponentsFit(
  t: FluxConfig,
  t5: T5Config,
  clip: ClipTextConfig,
  ae: AeDecoderConfig,
  where: { transformer: string; t5: string; clip: string; ae: string },
): void {
  const fail = (m: string) => {
    throw new FluxComponentError(`the components do not belong together: ${m}`);
  };
  if (t.context_in_dim !== t5.d_model)
    fail(
      `the transformer (${where.transformer}) takes ${t.context_in_dim}-wide text tokens but the T5 encoder (${where.t5}) makes ${t5.d_model}-wide ones`,
    );
  if (t.vec_in_dim !== clip.hidden_size)
    fail(
      `the transformer (${where.transformer}) takes a ${t.vec_in_dim}-wide pooled vector but the CLIP encoder (${where.clip}) makes ${clip.hidden_size}-wide ones`,
    );
  if (t.in_channels !== 4 * ae.z_channels || t.out_channels !== 4 * ae.z_channels)
    fail(
      `the transformer (${where.transformer}) has ${t.in_channels} -> ${t.out_channels} channels per token but the autoencoder (${where.ae}) has ${ae.z_channels} latent channels (x 4 per 2x2 patch = ${4 * ae.z_channels})`,
    );
}

/** A reader that holds open files until closed. */
type Closable<T> = T & { close(): void };

/**
 * Where a component's weights and tokenizer files are read from: the file system (nodeFluxAccess), or a
 * browser's picked folder (flux-file-list.ts).
 */
export interface FluxFileAccess {
  /** CLIP's and the autoencoder's weights: a .safetensors file, an index, or a folder. */
  openCheckpoint(path: string): Closable<CheckpointLike>;
  /** The transformer's and T5's weights: safetensors as above, or GGUF. */
  openWeights(path: string): Closable<CheckpointLike>;
  /** The tokenizers' files (default: the file system). */
  tokenizerFiles?: TokenizerFiles;
}

export const nodeFluxAccess: FluxFileAccess = {
  openCheckpoint: (path) => Checkpoint.open(path),
  openWeights: (path) => openWeightFile(path),
};

/** Opens a header-only view of weights, runs fn, closes it. */
function withOpen<S extends { close(): void }, T>(open: () => S, fn: (ck: S) => T): T {
  const ck = open();
  try {
    return fn(ck);
  } finally {
    ck.close();
  }
}

/**
 * The T5 encoder's view of its weights: a GGUF file in llama.cpp's naming (the community's
 * t5-v1_1-xxl conversions) is seen under the Hugging Face names.
 */
function t5View(ck: CheckpointLike): CheckpointLike {
  if (!(ck instanceof GgufReader)) return ck;
  if (!isT5Gguf(ck))
    throw new FluxComponentError(
      `${ck.path}: GGUF file of architecture "${ck.architecture ?? 'unknown'}", not a T5 encoder (llama.cpp's "t5encoder")`,
    );
  return t5SourceFromGguf(ck);
}

/** Components from files on disk, validated before anything is loaded. */
export function openFluxFolder(files: FluxFiles): FluxComponents {
  return openFluxComponents(files, nodeFluxAccess);
}

/** Components from located files read through `access`, validated before anything is loaded. */
export function openFluxComponents(files: FluxFiles, access: FluxFileAccess): FluxComponents {
  const withCheckpoint = <T>(path: string, fn: (ck: CheckpointLike) => T): T =>
    withOpen(() => access.openCheckpoint(path), fn);
  const withWeightFile = <T>(path: string, fn: (ck: CheckpointLike) => T): T =>
    withOpen(() => access.openWeights(path), fn);
  /** The T5 encoder's weights: safetensors, or GGUF (t5View). */
  const withT5Weights = <T>(path: string, fn: (ck: CheckpointLike) => T): T =>
    withOpen(
      () => access.openWeights(path),
      (ck) => fn(t5View(ck)),
    );
  const tPath = files.transformer.weights;
  const transformerConfig = withWeightFile(tPath, (ck) => {
    expectFamily(ck.path, ck.keys(), 'flux');
    return Object.keys(files.transformer.config).length
      ? configFromObject(files.transformer.config, `${tPath}: config.json`)
      : configFromCheckpoint(ck).config;
  });
  const t5 = withT5Weights(files.t5.weights, (ck) => {
    expectFamily(ck.path, ck.keys(), 't5');
    return t5Config(ck, files.t5.config);
  });
  const clip = withCheckpoint(files.clip.weights, (ck) => {
    expectFamily(ck.path, ck.keys(), 'clip');
    return clipTextConfig(ck, files.clip.config);
  });
  const ae = withCheckpoint(files.ae.weights, (ck) => {
    expectFamily(ck.path, ck.keys(), 'ae');
    return aeDecoderConfig(ck, files.ae.config);
  });
  checkComponentsFit(transformerConfig, t5, clip, ae, {
    transformer: tPath,
    t5: files.t5.weights,
    clip: files.clip.weights,
    ae: files.ae.weights,
  });

  const t5Tokenizers = new Map<number, PromptTokenizer>();
  let clipTok: PromptTokenizer | null = null;
  const components: FluxComponents = {
    description: files.pipelineClass ? `${files.pipelineClass} folder ${files.root}` : `transformer ${tPath}`,
    transformerConfig,
    t5Config: t5,
    clipConfig: clip,
    aeConfig: ae,
    t5Tokenizer(maxLength) {
      let tok = t5Tokenizers.get(maxLength);
      if (!tok) {
        tok = loadT5Tokenizer(files.t5.tokenizer, maxLength, access.tokenizerFiles);
        checkTokenizerFits(tok, t5.vocab_size, files.t5.tokenizer, `the T5 encoder (${files.t5.weights})`);
        t5Tokenizers.set(maxLength, tok);
      }
      return tok;
    },
    clipTokenizer() {
      if (!clipTok) {
        const tok = loadClipTokenizer(files.clip.tokenizer, undefined, access.tokenizerFiles);
        checkTokenizerFits(
          tok,
          clip.vocab_size,
          files.clip.tokenizer,
          `the CLIP encoder (${files.clip.weights})`,
        );
        clipTok = tok;
      }
      return clipTok;
    },
    loadT5(be, dtype, onProgress) {
      return withT5Weights(files.t5.weights, (ck) => {
        const src = onProgress ? countingSource(ck, t5Shapes(t5).keys(), onProgress) : ck;
        return T5Encoder.load(be, src, { dtype, config: files.t5.config });
      });
    },
    loadClip(be, dtype, onProgress) {
      return withCheckpoint(files.clip.weights, (ck) => {
        const prefix = clipPrefix(ck);
        const keys = [...clipTextShapes(clip).keys()].map((k) => prefix + k.slice('text_model.'.length));
        const src = onProgress ? countingSource(ck, keys, onProgress) : ck;
        return ClipTextModel.load(be, src, { dtype, config: files.clip.config });
      });
    },
    transformerWeightBytes(valueBytes) {
      return withWeightFile(tPath, (ck) => storedWeightBytes(ck, transformerConfig, valueBytes));
    },
    loadTransformer(be, dtype, onProgress, o) {
      return withWeightFile(tPath, (ck) =>
        FluxModel.load(be, ck, {
          dtype,
          config: transformerConfig,
          maxParamBytes: o?.maxParamBytes,
          onTensor: onProgress ? (_k, done, total) => onProgress(done, total) : undefined,
        }),
      );
    },
    loadAe(be, dtype, onProgress) {
      return withCheckpoint(files.ae.weights, (ck) => {
        const keys = aeDecoderShapes(ae, aeLayout(ck)).keys();
        const src = onProgress ? countingSource(ck, keys, onProgress) : ck;
        return AeDecoder.load(be, src, { dtype, config: files.ae.config });
      });
    },
  };
  // the default tokenizers are checked now, so a mismatch is reported before any weights load
  components.t5Tokenizer(FLUX_T5_MAX_LENGTH[fluxVariant(transformerConfig)]);
  components.clipTokenizer();
  return components;
}
