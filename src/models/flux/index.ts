// The Flux transformer: config, position ids, weights and the forward pass.
export * from './config.js';
export * from './ids.js';
export type { KeyLayout } from './layouts.js';
export { canonicalShapes, detectLayout, sourcesFor } from './layouts.js';
export * from './model.js';
export * from './positions.js';
export { timestepEmbedding } from './timestep.js';
export * from './weights.js';
