// The SD / SDXL UNet (diffusers' UNet2DConditionModel): config, key layouts, weights and the forward pass.
export { DEFAULT_HEAD_DIM, levelHeads, type UnetConfig, unetConfig, unetConfigFromJson } from './config.js';
export { detectUnetLayout, SGM_PREFIX, sgmName, type UnetLayout, unetKeys } from './layouts.js';
export {
  type UnetForwardOptions,
  type UnetInputs,
  type UnetLoadOptions,
  UnetModel,
  type UnetTransformerSite,
} from './model.js';
export { sgmKeyMap, unetConfigJson, unetShapes } from './shapes.js';
export { sinusoidalEmbedding } from './timestep.js';
