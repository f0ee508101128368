export {
  type AeDecoderConfig,
  type AeEncoderConfig,
  type AeLayout,
  aeDecoderConfig,
  aeEncoderConfig,
  aeEncoderLayout,
  aeLayout,
  FLUX_AE_SCALE,
  layoutKey,
  POST_QUANT_CONV,
  QUANT_CONV,
  SDXL_VAE_SCALE,
} from './config.js';
export { AeDecoder, type AeLoadOptions, type DecodedImage, type DecodeOptions } from './decoder.js';
export { AeEncoder, downsampledSize, type EncodedLatents, type EncodeOptions } from './encoder.js';
