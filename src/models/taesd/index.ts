export {
  clampedChannelsLast,
  TAESD_SCALE,
  TAESD_WIDTH,
  type TaesdDecodeOptions,
  TaesdDecoder,
  type TaesdImage,
  type TaesdLoadOptions,
} from './decoder.js';
