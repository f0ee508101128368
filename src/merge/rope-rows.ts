// RoPE rows for reduced token sequences: each kept token takes the (cos, sin) row of a representative
// image token (ToMA: its destination; ToMeSD: its destination, or itself if unmerged). A row gather.
import type { Backend } from '../backend.js';
import type { Tensor } from '../tensor.js';
import { checkTensor } from './check.js';

/** table f32 [B, N, P, 2] (Flux layout), idx u32 [B, M] raster indices -> [B, M, P, 2]. */
export function gatherRopeRows(be: Backend, table: Tensor, idx: Tensor, op = 'gatherRopeRows'): Tensor {
  checkTensor(be, table, op, 'RoPE table', ['f32'], [null, null, null, 2]);
  const [B, N, P] = table.shape as [number, number, number, 2];
  checkTensor(be, idx, op, 'indices', ['u32'], [B, null]);
  const M = idx.dim(1);
  return be.tidy(() => be.reshape(be.gather(be.reshape(table, [B, N, P * 2]), idx), [B, M, P, 2]));
}
