// createReducer: the TokenReducer for a set of options (src/merge/options.ts).
import type { Backend } from '../backend.js';
import { dense, type TokenReducer } from './hooks.js';
import { type ReducerOptions, resolveReducerOptions } from './options.js';
import { TodoReducer } from './todo-reducer.js';
import { TomaReducer } from './toma-reducer.js';
import { TomesdReducer } from './tomesd-reducer.js';

export function createReducer(be: Backend, options: ReducerOptions): TokenReducer {
  const o = resolveReducerOptions(options);
  switch (o.method) {
    case 'dense':
      return dense;
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
      throw new Error(
        "method 'hilbert' is a sparse attention pattern, not a token reducer: create it as an AttentionPattern " +
          "and use method 'dense' (or another reducer) for token reduction",
      );
  }
}
