// createReducer / createUnetReducer: the reducer for a set of options (src/merge/options.ts), for Flux
// (TokenReducer) and for UNets (UnetTokenReducer). The same options object serves both.
import type { Backend } from '../backend.js';
import { dense, denseUnet, type TokenReducer, type UnetTokenReducer } from './hooks.js';
import {
  type ReducerOptions,
  type ResolvedReducerOptions,
  resolveReducerOptions,
  resolveUnetReducerOptions,
} from './options.js';
import type { ScheduledReducer } from './scheduled-reducer.js';
import { TodoReducer } from './todo-reducer.js';
import { TomaReducer } from './toma-reducer.js';
import { TomesdReducer } from './tomesd-reducer.js';
import { UnetReducer } from './unet-reducer.js';

const HILBERT =
  "method 'hilbert' is a sparse attention pattern, not a token reducer: create it as an AttentionPattern " +
  "and use method 'dense' (or another reducer) for token reduction";

function methodReducer(be: Backend, o: ResolvedReducerOptions): ScheduledReducer | null {
  switch (o.method) {
    case 'dense':
      return null;
    case 'toma':
      return new TomaReducer(be, o);
    case 'tomesd':
      return new TomesdReducer(be, o);
    case 'todo':
      return new TodoReducer(be, o);
    case 'hilbert':
      // HilbertA reorders tokens and restricts attention; it removes no tokens, so it is an
      // AttentionPattern (src/merge/hooks.ts), created by its own module and passed to the model next
      // to a reducer. Wire it here if the model takes a single method option.
      throw new Error(HILBERT);
  }
}

export function createReducer(be: Backend, options: ReducerOptions): TokenReducer {
  return methodReducer(be, resolveReducerOptions(options)) ?? dense;
}

/**
 * The reducer for a UNet's transformer blocks (SD / SDXL), with the UNet defaults of the method
 * (UNET_DEFAULTS in src/merge/options.ts). Flux-only options (exemptDouble, exemptSingle) are ignored.
 */
export function createUnetReducer(be: Backend, options: ReducerOptions): UnetTokenReducer {
  const o = resolveUnetReducerOptions(options);
  if (o.method === 'hilbert') throw new Error(`${HILBERT}; UNets have no attention pattern yet`);
  const core = methodReducer(be, o);
  return core ? new UnetReducer(be, core, o) : denseUnet;
}
