export {
  type AeDecoderConfig,
  type AeLayout,
  aeDecoderConfig,
  aeLayout,
  FLUX_AE_SCALE,
  layoutKey,
} from './config.js';
export { AeDecoder, type AeLoadOptions, type DecodedImage, type DecodeOptions } from './decoder.js';
