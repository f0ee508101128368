// toma-webgpu's public API. What is exported here is what the package promises; deeper modules are
// implementation and may change between releases.
//
// The one-call pipeline (most users need nothing else):
//   import { pipeline } from 'toma-webgpu';
//   const pipe = await pipeline('text-to-image');            // the embedded model, best device
//   const [image] = await pipe('green-meadow', { seed: 1 });
//   await image.save('meadow.png');
//
// FLUX.1 (safetensors or GGUF; FluxTextToImage.run takes maxDeviceBytes for the memory plan) comes from
// TextToImagePipeline.fromPretrained(folder or repo id), Stable Diffusion XL (a diffusers folder or the
// single-file release; SdxlTextToImage) from fromPretrained(path). The HTTP server is 'toma-webgpu/serve'.
//
// The engine underneath (backends, models, methods, caches) for those who compose their own loops.

// the pipeline
export {
  type BackendChoice,
  chooseDtype,
  type DeviceOptions,
  type DTypeChoice,
  defaultDtype,
  openBackend,
} from './api/device.js';
export { EmbeddedPipeline } from './api/embedded-pipeline.js';
export type { FluxTextToImage } from './api/flux-text-to-image.js';
export { GeneratedImage, type ImageInfo } from './api/image.js';
export {
  EMBEDDED_DEFAULTS,
  type GenerateCallOptions,
  type ImagePipelineFunction,
  type LoadOptions,
  type LoadProgress,
  type PipelineKind,
  pipeline,
  type StepProgress,
  TextToImagePipeline,
} from './api/pipeline.js';
export type { SdxlRunOptions, SdxlTextToImage } from './api/sdxl-text-to-image.js';

// backends and tensors
export { type Activation, Backend, type BackendInfo } from './backend.js';
export { type BackendName, createBackend } from './backends.js';
export { type CreateCacheOptions, createCache } from './cache/create.js';
export { type CacheDecisions, fullSteps, type StepCache } from './cache/step-cache.js';
export { CpuBackend } from './cpu/backend.js';
export { GpuBackend, type GpuBackendOptions } from './gpu/backend.js';
export { NoAdapterError } from './gpu/device.js';
// quantized weights (GGUF): reading, writing, converting (what `toma quantize` runs)
export { GgufBytes, GgufError, GgufFile, type GgufTensorToWrite, writeGguf } from './io/gguf.js';
export { encodePng, encodePngAsync } from './io/png.js';
export { parseSafetensors, SafetensorsBytes } from './io/safetensors-bytes.js';
export { SafetensorsError, type TensorReader } from './io/safetensors-format.js';
export { openWeightFile, type WeightFile } from './io/weight-file.js';
export type { AttentionPattern, TokenReducer, UnetTokenReducer } from './merge/hooks.js';
export { createReducer, createUnetReducer } from './merge/reducers.js';
export type { ChosenDestinations } from './merge/toma-reducer.js';
// models and checkpoints
export { FLUX_PRESETS, type FluxConfig, FluxConfigError } from './models/flux/config.js';
export { FluxModel } from './models/flux/model.js';
export type { ComputeDType } from './models/weights.js';
export {
  type ClassConditioning,
  type GenerateOptions,
  type GenerateProgress,
  type GenerateResult,
  generate,
} from './pipeline/generate.js';
export {
  createMethod,
  METHODS,
  type MethodConfig,
  type MethodName,
  type MethodOptions,
  type MethodSetup,
  parseConfig as parseMethodConfig,
} from './pipeline/methods.js';
// random-weight SDXL folders with the release's layout and key names (what tools/make-random-sdxl-folder.mjs writes)
export { SDXL_PRESETS, sdxlPreset } from './pipeline/sdxl-presets.js';
export { type RandomSdxlFolderOptions, writeRandomSdxlFolder } from './pipeline/sdxl-random.js';
export { CONVERT_TYPES, type ConvertOptions, type ConvertType, convertToGguf } from './quant/convert.js';
export { dequantize } from './quant/dequant.js';
export { GGML_TYPES, type GgmlTypeName, QUANT_TYPES, type QuantTypeName } from './quant/ggml-types.js';
export { quantize } from './quant/quantize.js';
export { QuantizedMatrix } from './quant/quantized-matrix.js';
// sampling, methods and caches
export {
  type DiscreteSchedulerConfig,
  discreteSchedulerConfig,
  SDXL_SCHEDULER_CONFIG,
  type SigmaSchedule,
  sigmaSchedule,
} from './schedulers/discrete.js';
export { EulerSampler, SAMPLERS, type SamplerName } from './schedulers/euler.js';
export { type DType, Tensor } from './tensor.js';
