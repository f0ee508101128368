export {
  type AeDecoderConfig,
  type AeLayout,
  aeDecoderConfig,
  aeLayout,
  FLUX_AE_SCALE,
  layoutKey,
  POST_QUANT_CONV,
  SDXL_VAE_SCALE,
} from './config.js';
export { AeDecoder, type AeLoadOptions, type DecodedImage, type DecodeOptions } from './decoder.js';
