export { type ClipTextConfig, clipTextConfig, FLUX_CLIP_MAX_LENGTH, poolPositions } from './config.js';
export { type ClipLoadOptions, type ClipOutput, ClipTextModel } from './text-model.js';
