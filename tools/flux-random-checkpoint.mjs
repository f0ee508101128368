// Writes a Flux checkpoint with seeded random weights (N(0, std²) everywhere, like the fixtures), in
// either key layout, as one file or sharded, plus an inputs file for `toma forward`. Needs a build.
//
//   node tools/flux-random-checkpoint.mjs --out DIR/model.safetensors [--config flux-tiny]
//     [--layout original|diffusers] [--shards N] [--dtype F32|F16|BF16] [--seed 0] [--std 0.2]
//     [--inputs DIR/inputs.safetensors --rows 4 --cols 6 --text 7 --batch 1]
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { intArg, toolArgs, usageError } from './tool-args.mjs';

const { values: a } = toolArgs(import.meta.url, {
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
const url = import.meta.url;
if (!a.out) usageError(url, '--out FILE.safetensors is required');
if (!['original', 'diffusers'].includes(a.layout))
  usageError(url, `--layout must be original or diffusers; got "${a.layout}"`);
if (!['F32', 'F16', 'BF16'].includes(a.dtype))
  usageError(url, `--dtype must be F32, F16 or BF16; got "${a.dtype}"`);
const shards = intArg(url, a.shards, 'shards', 1);
const seed = intArg(url, a.seed, 'seed', 0);
const std = Number(a.std);
if (!(std >= 0 && Number.isFinite(std)))
  usageError(url, `--std must be a finite number >= 0; got "${a.std}"`);
// inputs: small test tensors; the bounds keep a typo from asking for gigabytes
const [B, rows, cols, T] = [
  ['batch', 1],
  ['rows', 1],
  ['cols', 1],
  ['text', 0],
].map(([k, min]) => {
  const n = intArg(url, a[k], k, min);
  if (n > 4096) usageError(url, `--${k} must be at most 4096; got ${n}`);
  return n;
});
if (B * rows * cols > 2 ** 20) usageError(url, `--batch x --rows x --cols must be at most 2^20 tokens`);

const dist = new URL('../dist/src/', import.meta.url);
const { parseConfig, imageIds, textIds } = await import(new URL('models/flux/index.js', dist).href);
const { randomHostParams, writeFluxCheckpoint } = await import(
  new URL('models/flux/checkpoint-writer.js', dist).href
);
const { writeSafetensors } = await import(new URL('io/safetensors.js', dist).href);
const { Rng } = await import(new URL('util/random.js', dist).href);

let config;
try {
  config = parseConfig(a.config);
} catch (e) {
  usageError(url, `--config: ${e.message}`);
}
/** Runs a file-system step; its error is one line naming the script (exit 1), not a stack trace. */
const fsStep = (f) => {
  try {
    return f();
  } catch (e) {
    console.error(`flux-random-checkpoint.mjs: ${e.message}`);
    process.exit(1);
  }
};
fsStep(() => mkdirSync(dirname(a.out), { recursive: true }));
if (a.inputs) fsStep(() => mkdirSync(dirname(a.inputs), { recursive: true }));
const params = randomHostParams(config, seed, std);
const path = fsStep(() =>
  writeFluxCheckpoint(a.out, params, config, {
    layout: a.layout,
    dtype: a.dtype,
    shards,
  }),
);
console.log(`wrote ${path} (${a.layout} layout, ${a.dtype})`);

if (a.inputs) {
  const N = rows * cols;
  const rng = new Rng(seed + 1);
  const t = (shape, data) => ({ dtype: 'F32', shape, data });
  fsStep(() =>
    writeSafetensors(a.inputs, {
      'in.img': t([B, N, config.in_channels], rng.normals(B * N * config.in_channels)),
      'in.txt': t([B, T, config.context_in_dim], rng.normals(B * T * config.context_in_dim)),
      'in.img_ids': t([B, N, 3], imageIds(B, rows, cols)),
      'in.txt_ids': t([B, T, 3], textIds(B, T)),
      'in.timesteps': t([B], new Float32Array(B).fill(0.5)),
      'in.y': t([B, config.vec_in_dim], rng.normals(B * config.vec_in_dim)),
      'in.guidance': t([B], new Float32Array(B).fill(3.5)),
    }),
  );
  console.log(`wrote ${a.inputs} (batch ${B}, ${rows}x${cols} image tokens, ${T} text tokens)`);
}
