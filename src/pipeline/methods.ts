// Methods by name for the pipeline and the CLI: a token reducer and/or an attention pattern per
// generation. Defaults for the embedded model (2 double + 4 single blocks) differ from Flux-dev's: the
// spec's 5 + 5 exempt blocks would leave nothing to merge, so only the first block of each kind is kept
// dense, and every step merges (the schedule is an option).
import type { Backend } from '../backend.js';
import type { AttentionPattern, TokenReducer } from '../merge/hooks.js';
import { dense } from '../merge/hooks.js';
import type { ReducerOptions } from '../merge/options.js';
import { createReducer } from '../merge/reducers.js';
import { createHilbertPattern } from '../sparse/hilbert-pattern.js';
import { createTomaHilbert } from '../sparse/toma-hilbert.js';

export const METHODS = ['dense', 'toma', 'tomesd', 'todo', 'hilbert', 'toma+hilbert'] as const;
export type MethodName = (typeof METHODS)[number];

export interface MethodSetup {
  name: string;
  reducer: TokenReducer;
  pattern?: AttentionPattern;
  dispose(): void;
}

export type MethodOptions = Omit<ReducerOptions, 'method'>;

/** Reducer options for a small model: exempt only the first block of each kind, merge every step. */
export function smallModelDefaults(depthDouble: number, depthSingle: number): MethodOptions {
  return { exemptDouble: Math.min(1, depthDouble), exemptSingle: Math.min(1, depthSingle), mergeEvery: 1 };
}

/** doubleBlocks: the model's double-stream depth (HilbertA numbers layers across both kinds). */
export function createMethod(
  be: Backend,
  method: MethodName,
  o: MethodOptions = {},
  doubleBlocks = 19,
): MethodSetup {
  switch (method) {
    case 'dense':
      return { name: 'dense', reducer: dense, dispose() {} };
    case 'hilbert': {
      const pattern = createHilbertPattern(be, {}, { doubleBlocks });
      return { name: 'hilbert', reducer: dense, pattern, dispose: () => pattern.dispose() };
    }
    case 'toma+hilbert': {
      const c = createTomaHilbert(be, o, {}, doubleBlocks);
      return {
        name: `toma+hilbert ${o.ratio ?? 0.5}`,
        reducer: c.reducer,
        pattern: c.pattern,
        dispose: () => c.dispose(),
      };
    }
    case 'toma':
    case 'tomesd':
    case 'todo': {
      const reducer = createReducer(be, { ...o, method });
      const label = method === 'todo' ? 'todo' : `${method} ${o.ratio ?? 0.5}`;
      return { name: label, reducer, dispose: () => reducer.dispose() };
    }
    default:
      throw new RangeError(`unknown method "${method}" (${METHODS.join(', ')})`);
  }
}
