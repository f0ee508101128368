// Modulation (adaLN-Zero): lin(silu(vec)) chunked into (shift, scale, gate), twice for a double-stream
// block and once for a single-stream block, in the official chunk order. silu(vec) is computed once per
// forward pass (ForwardContext.vecAct); each chunk becomes its own [B, hidden] tensor.
import type { Tensor } from '../../tensor.js';
import type { ForwardContext } from './context.js';
import type { Linear } from './weights.js';

export interface ModulationOut {
  shift: Tensor;
  scale: Tensor;
  gate: Tensor;
}

export function modulation(ctx: ForwardContext, lin: Linear, count: 1 | 2): ModulationOut[] {
  const C = ctx.config.hidden_size;
  const out = ctx.be.matmul(ctx.vecAct, lin.weight, { bias: lin.bias });
  const chunks = ctx.be.split(out, 1, new Array(3 * count).fill(C));
  const mods: ModulationOut[] = [];
  for (let i = 0; i < count; i++)
    mods.push({ shift: chunks[3 * i]!, scale: chunks[3 * i + 1]!, gate: chunks[3 * i + 2]! });
  return mods;
}
