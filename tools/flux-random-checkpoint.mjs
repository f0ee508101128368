// Writes a Flux checkpoint with seeded random weights (N(0, std²) everywhere, like the fixtures), in
// either key layout, as one file or sharded, plus an inputs file for `toma forward`. Needs a build.
//
//   node tools/flux-random-checkpoint.mjs --out DIR/model.safetensors [--config flux-tiny]
//     [--layout original|diffusers] [--shards N] [--dtype F32|F16|BF16] [--seed 0] [--std 0.2]
//     [--inputs DIR/inputs.safetensors --rows 4 --cols 6 --text 7 --batch 1]
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';

const dist = new URL('../dist/src/', import.meta.url);
const { parseConfig, imageIds, textIds } = await import(new URL('models/flux/index.js', dist).href);
const { randomHostParams, writeFluxCheckpoint } = await import(
  new URL('models/flux/checkpoint-writer.js', dist).href
);
const { writeSafetensors } = await import(new URL('io/safetensors.js', dist).href);
const { Rng } = await import(new URL('util/random.js', dist).href);

const { values: a } = parseArgs({
  options: {
    out: { type: 'string' },
    config: { type: 'string', default: 'flux-tiny' },
    layout: { type: 'string', default: 'original' },
    shards: { type: 'string', default: '1' },
    dtype: { type: 'string', default: 'F32' },
    seed: { type: 'string', default: '0' },
    std: { type: 'string', default: '0.2' },
    inputs: { type: 'string' },
    rows: { type: 'string', default: '4' },
    cols: { type: 'string', default: '6' },
    text: { type: 'string', default: '7' },
    batch: { type: 'string', default: '1' },
  },
});
if (!a.out) {
  console.error(
    'usage: node tools/flux-random-checkpoint.mjs --out FILE.safetensors [options] (see the file header)',
  );
  process.exit(2);
}
if (!['original', 'diffusers'].includes(a.layout)) throw new Error(`--layout must be original or diffusers`);
if (!['F32', 'F16', 'BF16'].includes(a.dtype)) throw new Error(`--dtype must be F32, F16 or BF16`);
const config = parseConfig(a.config);
mkdirSync(dirname(a.out), { recursive: true });
if (a.inputs) mkdirSync(dirname(a.inputs), { recursive: true });
const params = randomHostParams(config, Number(a.seed), Number(a.std));
const path = writeFluxCheckpoint(a.out, params, config, {
  layout: a.layout,
  dtype: a.dtype,
  shards: Number(a.shards),
});
console.log(`wrote ${path} (${a.layout} layout, ${a.dtype})`);

if (a.inputs) {
  const [B, rows, cols, T] = [a.batch, a.rows, a.cols, a.text].map(Number);
  const N = rows * cols;
  const rng = new Rng(Number(a.seed) + 1);
  const t = (shape, data) => ({ dtype: 'F32', shape, data });
  writeSafetensors(a.inputs, {
    'in.img': t([B, N, config.in_channels], rng.normals(B * N * config.in_channels)),
    'in.txt': t([B, T, config.context_in_dim], rng.normals(B * T * config.context_in_dim)),
    'in.img_ids': t([B, N, 3], imageIds(B, rows, cols)),
    'in.txt_ids': t([B, T, 3], textIds(B, T)),
    'in.timesteps': t([B], new Float32Array(B).fill(0.5)),
    'in.y': t([B, config.vec_in_dim], rng.normals(B * config.vec_in_dim)),
    'in.guidance': t([B], new Float32Array(B).fill(3.5)),
  });
  console.log(`wrote ${a.inputs} (batch ${B}, ${rows}x${cols} image tokens, ${T} text tokens)`);
}
