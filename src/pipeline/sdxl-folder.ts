// SDXL components from located files (sdxl-layout.ts): each part's weights seen under the names its loader
// reads (a diffusers component as it is; a single file's part through the SGM prefix views of
// models/sdxl-single-file.ts, OpenCLIP's names mapped for CLIP-G), checked before anything loads: each
// part's model family and config, that the parts fit each other (context width = CLIP-L + CLIP-G widths,
// pooled width = CLIP-G's projection, latent channels) and that each tokenizer fits its encoder.
import { aeDecoderConfig } from '../models/ae/config.js';
import { AeDecoder } from '../models/ae/decoder.js';
import { clipTextConfig } from '../models/clip/config.js';
import { ClipTextModel } from '../models/clip/text-model.js';
import { countingSource } from '../models/counting-source.js';
import { expectFamily, type ModelFamily } from '../models/detect.js';
import {
  SDXL_CLIP_G_CONFIG,
  sdxlClipGSource,
  sdxlClipLSource,
  sdxlVaeSource,
} from '../models/sdxl-single-file.js';
import { unetConfig } from '../models/unet/config.js';
import { UnetModel } from '../models/unet/model.js';
import type { WeightSource } from '../models/weights.js';
import { loadClipTokenizer } from '../text/load-tokenizer.js';
import type { PromptTokenizer } from '../text/tokenizer.js';
import type { FluxFileAccess } from './flux-components.js';
import { nodeFluxAccess } from './flux-components.js';
import {
  checkSdxlFit,
  checkSdxlTokenizer,
  type LoadProgress,
  type SdxlComponents,
  type SdxlSizes,
} from './sdxl-components.js';
import type { SdxlComponentFiles, SdxlFiles } from './sdxl-layout.js';
import { SDXL_MAX_LENGTH } from './sdxl-random.js';

type Part = 'unet' | 'clipL' | 'clipG' | 'vae';

const FAMILY: Record<Part, ModelFamily> = { unet: 'unet', clipL: 'clip', clipG: 'clip', vae: 'ae' };

/** Components from files on disk, validated before anything is loaded. */
export function openSdxlFolder(files: SdxlFiles): SdxlComponents {
  return openSdxlComponents(files, nodeFluxAccess);
}

/** Components from located files read through `access` (the file system, or a browser's picked folder). */
export function openSdxlComponents(files: SdxlFiles, access: FluxFileAccess): SdxlComponents {
  /** The part's weights under its loader's names, for fn; closed after. */
  const withPart = <T>(part: Part, fn: (src: WeightSource, config: Record<string, unknown>) => T): T => {
    const f: SdxlComponentFiles = files[part];
    const ck = access.openCheckpoint(f.weights);
    try {
      // a single file: the part's view (the UNet reads its SGM prefix itself)
      const inFile = f.prefix !== '';
      const src: WeightSource = !inFile
        ? ck
        : part === 'clipL'
          ? sdxlClipLSource(ck)
          : part === 'clipG'
            ? sdxlClipGSource(ck)
            : part === 'vae'
              ? sdxlVaeSource(ck)
              : ck;
      const config = inFile && part === 'clipG' ? { ...SDXL_CLIP_G_CONFIG, ...f.config } : f.config;
      return fn(src, config);
    } finally {
      ck.close();
    }
  };
  const family = (part: Part, src: WeightSource) => expectFamily(src.path, src.keys(), FAMILY[part]);

  const clipL = withPart('clipL', (src, config) => {
    family('clipL', src);
    return clipTextConfig(src, config);
  });
  const clipG = withPart('clipG', (src, config) => {
    family('clipG', src);
    return clipTextConfig(src, config);
  });
  // a single file has no unet/config.json: the width of the size/crop features follows from the pooled
  // text width (add_embedding takes CLIP-G's projection + 6 ids x addition_time_embed_dim)
  const unetGiven = (config: Record<string, unknown>, src: WeightSource): Record<string, unknown> => {
    if (Object.keys(config).length || clipG.projection_dim === undefined) return config;
    const k = `${files.unet.prefix}label_emb.0.0.weight`;
    const inWidth = src.has(k) ? src.info(k).shape[1]! : 0;
    const a = (inWidth - clipG.projection_dim) / 6;
    return Number.isInteger(a) && a > 0 ? { addition_time_embed_dim: a } : config;
  };
  const unet = withPart('unet', (src, config) => {
    family('unet', src);
    return unetConfig(src, unetGiven(config, src));
  });
  const vae = withPart('vae', (src, config) => {
    family('vae', src);
    return aeDecoderConfig(src, config);
  });
  if (clipG.projection_dim === undefined)
    throw new Error(
      `${files.clipG.weights}: the second text encoder has no text_projection (SDXL's is a CLIPTextModelWithProjection)`,
    );
  if (!unet.addition_embed_type)
    throw new Error(`${files.unet.weights}: the UNet has no add_embedding (SDXL's text_time conditioning)`);
  const sizes: SdxlSizes = {
    unet: {
      inChannels: unet.in_channels,
      outChannels: unet.out_channels,
      contextWidth: unet.cross_attention_dim,
      pooledWidth: unet.projection_class_embeddings_input_dim - 6 * unet.addition_time_embed_dim,
      sampleSize: typeof files.unet.config.sample_size === 'number' ? files.unet.config.sample_size : 128,
      downsamplings: unet.block_out_channels.length - 1,
    },
    clipL: { hidden: clipL.hidden_size, vocab: clipL.vocab_size },
    clipG: { hidden: clipG.hidden_size, pooled: clipG.projection_dim, vocab: clipG.vocab_size },
    vae: { latentChannels: vae.z_channels, scale: 2 ** (vae.level_channels.length - 1) },
  };
  const where = (p: Part) =>
    files[p].prefix ? `${files[p].weights} [${files[p].prefix}*]` : files[p].weights;
  checkSdxlFit(sizes, {
    unet: where('unet'),
    clipL: where('clipL'),
    clipG: where('clipG'),
    vae: where('vae'),
  });

  let tokenizers: [PromptTokenizer, PromptTokenizer] | null = null;
  /** Loads a part, counting the bytes of its tensors for the progress callback. */
  const load = <T>(
    part: Part,
    onProgress: LoadProgress | undefined,
    make: (src: WeightSource, config: Record<string, unknown>) => T,
  ) =>
    withPart(part, (src, config) => {
      if (!onProgress) return make(src, config);
      // the part's own tensors (the UNet sees the whole single file), less buffers no loader reads
      const prefix = part === 'unet' ? files.unet.prefix : '';
      const keys = src.keys().filter((k) => k.startsWith(prefix) && !k.endsWith('position_ids'));
      return make(countingSource(src, keys, onProgress), config);
    });

  const components: SdxlComponents = {
    description: files.pipelineClass
      ? `${files.pipelineClass} folder ${files.root}`
      : `${files.layout} SDXL checkpoint ${files.unet.weights}`,
    sizes,
    scheduler: files.scheduler,
    forceZerosForEmptyPrompt: files.forceZerosForEmptyPrompt,
    tokenizers() {
      if (!tokenizers) {
        const tok = (t: SdxlFiles['clipL']['tokenizer']) =>
          loadClipTokenizer(t.dir, SDXL_MAX_LENGTH, access.tokenizerFiles, { padToken: t.padToken });
        const l = tok(files.clipL.tokenizer);
        const g = tok(files.clipG.tokenizer);
        checkSdxlTokenizer(
          l,
          clipL.vocab_size,
          files.clipL.tokenizer.dir,
          `the first text encoder (${where('clipL')})`,
        );
        checkSdxlTokenizer(
          g,
          clipG.vocab_size,
          files.clipG.tokenizer.dir,
          `the second text encoder (${where('clipG')})`,
        );
        tokenizers = [l, g];
      }
      return tokenizers;
    },
    loadClipL: (be, dtype, onProgress) =>
      load('clipL', onProgress, (src, config) => ClipTextModel.load(be, src, { dtype, config })),
    loadClipG: (be, dtype, onProgress) =>
      load('clipG', onProgress, (src, config) => ClipTextModel.load(be, src, { dtype, config })),
    loadUnet: (be, dtype, onProgress) =>
      load('unet', onProgress, (src, config) =>
        UnetModel.load(be, src, { dtype, config: unetGiven(config, src) }),
      ),
    loadVae: (be, dtype, onProgress) =>
      load('vae', onProgress, (src, config) => AeDecoder.load(be, src, { dtype, config })),
  };
  components.tokenizers(); // a mismatch is reported now, before any weights load
  return components;
}
