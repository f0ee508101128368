// Helpers for the step-cache tests: the embedded model's inputs for one class at a small grid, and a
// few forward steps on the same inputs.
import type { Backend } from '../../src/backend.js';
import type { FluxInputs, FluxModel, ForwardOptions } from '../../src/models/flux/model.js';
import type { ClassConditioning } from '../../src/pipeline/generate.js';
import type { Tensor } from '../../src/tensor.js';
import { Rng } from '../../src/util/random.js';

export interface HeldInputs {
  inputs: FluxInputs;
  dispose(): void;
}

/** Inputs of one forward: noise tokens for `rows` x `cols` from `seed`, the classes' learned text. */
export function classInputs(
  be: Backend,
  model: FluxModel,
  cond: ClassConditioning,
  o: { classes: number[]; rows: number; cols: number; seed: number; t?: number },
): HeldInputs {
  const c = model.config;
  const B = o.classes.length;
  const T = cond.textTokens;
  const txt = new Float32Array(B * T * c.context_in_dim);
  const y = new Float32Array(B * c.vec_in_dim);
  o.classes.forEach((k, i) => {
    txt.set(
      cond.txt.subarray(k * T * c.context_in_dim, (k + 1) * T * c.context_in_dim),
      i * T * c.context_in_dim,
    );
    y.set(cond.y.subarray(k * c.vec_in_dim, (k + 1) * c.vec_in_dim), i * c.vec_in_dim);
  });
  const N = o.rows * o.cols;
  const tensors: Tensor[] = [
    be.tensor(new Rng(o.seed).normals(B * N * c.in_channels), [B, N, c.in_channels], model.dtype),
    be.tensor(txt, [B, T, c.context_in_dim], model.dtype),
    be.tensor(y, [B, c.vec_in_dim], model.dtype),
  ];
  const positions = model.positions({ batch: B, rows: o.rows, cols: o.cols, textTokens: T });
  return {
    inputs: {
      img: tensors[0]!,
      txt: tensors[1]!,
      y: tensors[2]!,
      timesteps: new Array(B).fill(o.t ?? 0.6),
      positions,
    },
    dispose() {
      for (const t of tensors) t.dispose();
      positions.dispose();
    },
  };
}

/** `steps` forwards of one sampling run on the same inputs; the outputs read back. */
export async function sameInputSteps(
  model: FluxModel,
  inputs: FluxInputs,
  options: ForwardOptions,
  steps: number,
): Promise<Float32Array[]> {
  const outs: Float32Array[] = [];
  for (let step = 0; step < steps; step++) {
    const out = await model.forwardAsync(inputs, { ...options, step, steps });
    outs.push(await out.read());
    out.dispose();
  }
  return outs;
}
