// ToDo as a TokenReducer (baseline): queries stay full length; in reduced blocks the image keys and
// values are average-pooled over 2x2 cells of the token grid (after RoPE) before attention.
import type { Tensor } from '../tensor.js';
import type { ForwardInfo, KVReducePlan } from './hooks.js';
import { type BlockKind, ScheduledReducer } from './scheduled-reducer.js';
import { todoDownsample } from './todo.js';

export class TodoReducer extends ScheduledReducer {
  readonly name = 'todo';

  protected plan(_kind: BlockKind, _x: Tensor, info: ForwardInfo): KVReducePlan {
    const { be } = this;
    const grid = info.grid;
    return {
      kind: 'kv',
      downsampleKV: (k, v) => ({ k: todoDownsample(be, k, grid, 2), v: todoDownsample(be, v, grid, 2) }),
    };
  }
}
