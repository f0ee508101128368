export {
  CLIP_PROJECTION_KEY,
  type ClipActivation,
  type ClipTextConfig,
  clipTextConfig,
  FLUX_CLIP_MAX_LENGTH,
  poolPositions,
} from './config.js';
export {
  type ClipEncodeOptions,
  type ClipLoadOptions,
  type ClipOutput,
  ClipTextModel,
  type SdxlTextFeatures,
} from './text-model.js';
