export { FLUX_T5_MAX_LENGTH, type T5Config, t5Config } from './config.js';
export { type T5EncodeOptions, T5Encoder, type T5LoadOptions } from './encoder.js';
export { positionBias, relativePositionBucket } from './relative-position.js';
