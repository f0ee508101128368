// FLUX.1 components with random weights (benchmarks and tests without checkpoints): each model is built
// when loaded, by default directly on the device with the backend's random op (a full-size T5-XXL in
// about a second, no host work), or on the host from the same per-key streams a random-weight folder
// (random-folder.ts) is written with, so that loading that folder gives exactly the same models.
// Tokenizers are the synthetic ones the folder writer uses.
import type { Backend } from '../backend.js';
import { AeDecoder } from '../models/ae/decoder.js';
import { aeConfigJson, aeDecoderShapes } from '../models/ae/shapes.js';
import { clipConfigJson, clipTextShapes } from '../models/clip/shapes.js';
import { ClipTextModel } from '../models/clip/text-model.js';
import { countingSource } from '../models/counting-source.js';
import { FluxModel } from '../models/flux/model.js';
import { fluxStoredShapes } from '../models/flux/shapes.js';
import { loadParams } from '../models/flux/weights.js';
import { RandomWeightSource } from '../models/random-weights.js';
import { T5Encoder } from '../models/t5/encoder.js';
import { t5ConfigJson, t5Shapes } from '../models/t5/shapes.js';
import type { ComputeDType, WeightSource } from '../models/weights.js';
import { clipTokenizerJson } from '../text/load-tokenizer.js';
import { syntheticClipTokenizer, syntheticT5Tokenizer } from '../text/synthetic-tokenizers.js';
import { PromptTokenizer } from '../text/tokenizer.js';
import { checkComponentsFit, type FluxComponents, type LoadProgress } from './flux-components.js';
import type { FluxPipelinePreset } from './flux-presets.js';

export interface RandomComponentOptions {
  /** The seed of the weights and tokenizers (a folder written with the same seed holds the same ones). */
  seed?: number;
  /** Generate weights on the device (default) or on the host. */
  onDevice?: boolean;
  /** For descriptions, e.g. the preset's name. */
  name?: string;
}

export function randomFluxComponents(p: FluxPipelinePreset, o: RandomComponentOptions = {}): FluxComponents {
  const seed = o.seed ?? 0;
  const onDevice = o.onDevice ?? true;
  const where = `random ${o.name ?? 'preset'}`;
  checkComponentsFit(p.transformer, p.t5, p.clip, p.ae, {
    transformer: where,
    t5: where,
    clip: where,
    ae: where,
  });
  const source = (what: string, shapes: Map<string, number[]>, onProgress?: LoadProgress): WeightSource => {
    const src = new RandomWeightSource(`${where} ${what}`, shapes, { seed, onDevice });
    return onProgress ? countingSource(src, shapes.keys(), onProgress) : src;
  };
  const t5Tokenizers = new Map<number, PromptTokenizer>();
  let clipTok: PromptTokenizer | null = null;
  return {
    description: `${where} (${onDevice ? 'generated on the device' : 'generated on the host'}, seed ${seed})`,
    transformerConfig: p.transformer,
    t5Config: p.t5,
    clipConfig: p.clip,
    aeConfig: p.ae,
    transformerWeightBytes: () => undefined,
    t5Tokenizer(maxLength) {
      let tok = t5Tokenizers.get(maxLength);
      if (!tok) {
        const t = syntheticT5Tokenizer(p.t5TokenizerVocab, { seed: seed + 5 });
        tok = new PromptTokenizer(t.tokenizer, t.config, { maxLength });
        t5Tokenizers.set(maxLength, tok);
      }
      return tok;
    },
    clipTokenizer() {
      if (!clipTok) {
        const t = syntheticClipTokenizer(p.clipTokenizerVocab, { seed: seed + 7 });
        clipTok = new PromptTokenizer(clipTokenizerJson(t.vocab, t.merges), t.config, { maxLength: 77 });
      }
      return clipTok;
    },
    loadT5(be: Backend, dtype: ComputeDType, onProgress?: LoadProgress) {
      return T5Encoder.load(be, source('T5', t5Shapes(p.t5), onProgress), {
        dtype,
        config: t5ConfigJson(p.t5),
      });
    },
    loadClip(be, dtype, onProgress) {
      return ClipTextModel.load(be, source('CLIP', clipTextShapes(p.clip), onProgress), {
        dtype,
        config: clipConfigJson(p.clip),
      });
    },
    loadTransformer(be, dtype, onProgress, o) {
      // on-device random weights cannot be streamed (they have no host copy): a memory plan loads from
      // the host-generated source
      if (onDevice && o?.maxParamBytes === undefined)
        return FluxModel.random(be, p.transformer, { dtype, seed });
      const shapes = fluxStoredShapes(p.transformer, 'diffusers');
      const src = new RandomWeightSource(`${where} transformer`, shapes, { seed });
      return new FluxModel(
        be,
        loadParams(be, src, p.transformer, {
          dtype,
          maxParamBytes: o?.maxParamBytes,
          onTensor: onProgress ? (_k, done, total) => onProgress(done, total) : undefined,
        }),
      );
    },
    loadAe(be, dtype, onProgress) {
      return AeDecoder.load(be, source('autoencoder', aeDecoderShapes(p.ae, 'diffusers'), onProgress), {
        dtype,
        config: aeConfigJson(p.ae),
      });
    },
  };
}
