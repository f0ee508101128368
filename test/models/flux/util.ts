// Helpers for the Flux tests: random checkpoints on disk, random inputs, one forward pass read back.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Backend } from '../../../src/backend.js';
import type { AttentionPattern, TokenReducer } from '../../../src/merge/hooks.js';
import {
  type HostParams,
  randomHostParams,
  type WriteOptions,
  writeFluxCheckpoint,
} from '../../../src/models/flux/checkpoint-writer.js';
import {
  type ComputeDType,
  FLUX_PRESETS,
  type FluxConfig,
  FluxModel,
} from '../../../src/models/flux/index.js';
import { Rng } from '../../../src/util/random.js';

export const tmp = mkdtempSync(join(tmpdir(), 'toma-flux-'));

export const micro: FluxConfig = FLUX_PRESETS['flux-micro']!;
export const microNoGuidance: FluxConfig = { ...micro, guidance_embed: false, qkv_bias: false };

let counter = 0;
/** Writes random parameters for `config`; returns the path to open and the host parameters. */
export function randomCheckpoint(
  config: FluxConfig,
  o: Partial<WriteOptions> & { seed?: number; std?: number } = {},
): { path: string; params: HostParams } {
  const params = randomHostParams(config, o.seed ?? 1, o.std);
  const path = writeFluxCheckpoint(join(tmp, `ck${++counter}.safetensors`), params, config, {
    layout: 'original',
    dtype: 'F32',
    ...o,
  });
  return { path, params };
}

export interface Case {
  batch: number;
  rows: number;
  cols: number;
  text: number;
  seed?: number;
}

export interface HostInputs {
  img: Float32Array;
  txt: Float32Array;
  y: Float32Array;
  timesteps: number[];
  guidance: number[];
}

export function randomInputs(c: FluxConfig, k: Case): HostInputs {
  const r = new Rng(k.seed ?? 7);
  const B = k.batch;
  return {
    img: r.normals(B * k.rows * k.cols * c.in_channels),
    txt: r.normals(B * k.text * c.context_in_dim),
    y: r.normals(B * c.vec_in_dim),
    timesteps: Array.from({ length: B }, (_, i) => (i + 1) / (B + 1)),
    guidance: Array.from({ length: B }, (_, i) => 3.5 + i),
  };
}

/** One forward of `model` on host inputs, read back; everything it made is freed. */
export async function forwardOnce(
  model: FluxModel,
  k: Case,
  inputs: HostInputs,
  opts: { reducer?: TokenReducer; pattern?: AttentionPattern } = {},
): Promise<Float32Array> {
  const be = model.be;
  const c = model.config;
  const dt = model.dtype;
  const positions = model.positions({ batch: k.batch, rows: k.rows, cols: k.cols, textTokens: k.text });
  const img = be.tensor(inputs.img, [k.batch, k.rows * k.cols, c.in_channels], dt);
  const txt = be.tensor(inputs.txt, [k.batch, k.text, c.context_in_dim], dt);
  const y = be.tensor(inputs.y, [k.batch, c.vec_in_dim], dt);
  const out = model.forward(
    { img, txt, y, timesteps: inputs.timesteps, guidance: inputs.guidance, positions },
    opts,
  );
  const data = await out.read();
  for (const t of [out, img, txt, y]) t.dispose();
  positions.dispose();
  return data;
}

/** Loads a checkpoint on `be` and runs one forward. */
export async function runCheckpoint(
  be: Backend,
  path: string,
  dtype: ComputeDType,
  k: Case,
  inputs: HostInputs,
  opts: { reducer?: TokenReducer; pattern?: AttentionPattern } = {},
): Promise<Float32Array> {
  const model = FluxModel.load(be, path, { dtype });
  try {
    return await forwardOnce(model, k, inputs, opts);
  } finally {
    model.dispose();
  }
}
