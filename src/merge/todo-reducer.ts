// ToDo as a TokenReducer (baseline): queries stay full length; in reduced blocks the image keys and
// values are average-pooled over 2x2 cells of the token grid (Flux: after RoPE) before attention.
// (ToDo's own code pools the inputs of the key/value projections, which is the same for an average; a
// model with a fused q|k|v projection, like ours, saves nothing by projecting pooled tokens apart.)
import type { KVReducePlan } from './hooks.js';
import { type BlockRequest, ScheduledReducer } from './scheduled-reducer.js';
import { todoDownsample } from './todo.js';

/** ToDo's downsample factor (its published default). */
export const TODO_FACTOR = 2;

export class TodoReducer extends ScheduledReducer {
  readonly name = 'todo';

  protected plan(req: BlockRequest): KVReducePlan {
    const { be } = this;
    const grid = req.grid;
    const f = TODO_FACTOR;
    return {
      kind: 'kv',
      downsampleKV: (k, v) => ({ k: todoDownsample(be, k, grid, f), v: todoDownsample(be, v, grid, f) }),
    };
  }
}
