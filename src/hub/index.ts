// Models from the Hugging Face hub, in the cache layout Python's huggingface_hub shares.
export { hubCacheDir, hubEndpoint, hubToken } from './env.js';
export { HubError, type HubErrorCode } from './errors.js';
export { type ModelRef, parseModelRef } from './repo-id.js';
export { type DownloadProgress, type ResolveOptions, resolveModel } from './resolve.js';
export { FLUX_DIFFUSERS_PATTERNS } from './select.js';
