// ToDo as a TokenReducer (baseline): queries stay full length; in reduced blocks the image keys and
// values are average-pooled over 2x2 cells of the token grid (Flux: after RoPE) before attention. In a
// UNet the pooling may run on attn1's input instead (downsampleTokens), before the key/value projection,
// as ToDo does (it downsamples the inputs of to_k and to_v): equal for an average, and cheaper.
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
      downsampleTokens: (x) =>
        be.tidy(() => {
          const [B, N, C] = x.shape as [number, number, number];
          const y = todoDownsample(be, be.reshape(x, [B, 1, N, C]), grid, f);
          return be.reshape(y, [B, y.dim(2), C]);
        }),
    };
  }
}
