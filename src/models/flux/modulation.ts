// Modulation (adaLN-Zero): lin(silu(vec)) chunked into (shift, scale, gate), twice for a double-stream
// block and once for a single-stream block, in the official chunk order. silu(vec) is computed once per
// forward pass (ForwardContext.vecAct). The chunks stay columns of the one [B, count·3·hidden] table:
// modulate() and the matmul gate read them in place. (Copying them out cost 342 copy launches per
// Flux-dev forward, 12 per double block; docs/kernels/launches.md.)
import type { MatmulOptions } from '../../backend.js';
import type { Tensor } from '../../tensor.js';
import { type ForwardContext, LN_EPS } from './context.js';
import type { Linear } from './weights.js';

export interface ModulationOut {
  /** [B, W]: the whole modulation output; shift, scale and gate are column offsets into its rows. */
  table: Tensor;
  shift: number;
  scale: number;
  gate: number;
}

export function modulation(ctx: ForwardContext, lin: Linear, count: 1 | 2): ModulationOut[] {
  const C = ctx.config.hidden_size;
  const table = ctx.be.matmul(ctx.vecAct, lin.weight, { bias: lin.bias });
  const mods: ModulationOut[] = [];
  for (let i = 0; i < count; i++)
    mods.push({ table, shift: 3 * i * C, scale: (3 * i + 1) * C, gate: (3 * i + 2) * C });
  return mods;
}

/** LayerNorm(x) · (1 + scale) + shift with this modulation's chunks. */
export function modulated(ctx: ForwardContext, x: Tensor, m: ModulationOut): Tensor {
  return ctx.be.modulate(x, m.table, m.table, LN_EPS, { shift: m.shift, scale: m.scale });
}

/** The matmul options that multiply by this modulation's gate. */
export function gateOf(m: ModulationOut): Pick<MatmulOptions, 'gate' | 'gateColumn'> {
  return { gate: m.table, gateColumn: m.gate };
}
