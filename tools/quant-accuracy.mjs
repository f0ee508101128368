// What each ggml type costs in accuracy, measured two ways on the CPU backend (f32 maths, so only the
// weights differ):
//   1. the FLUX transformer's output: a random FLUX-shaped model 256 wide (weights N(0, 1/fan_in)),
//      converted with `toma quantize`'s rules, against the same weights rounded to f16: relative error
//      ||y_q - y_f16|| / ||y_f16|| over --inputs random inputs;
//   2. images of the embedded model (its transformer is stored in F16) converted to each type: PSNR
//      (8-bit RGB) of --images images against the F16 model's, same classes and seeds, dense sampling.
// The embedded model is 192 wide: K types apply to the matrices whose rows are whole 256-blocks (its
// MLP down-projections) and fall back to 32-blocks elsewhere, as `toma quantize` does; the table says
// what was stored.
//
//   node tools/quant-accuracy.mjs [--types Q8_0,Q4_K,...] [--images 4] [--steps 8] [--size 128]
//                                 [--inputs 3] [--json FILE]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toolArgs, usageError } from './tool-args.mjs';

const { values: a } = toolArgs(import.meta.url, {
  options: {
    types: { type: 'string', default: 'Q8_0,Q6_K,Q5_K,Q5_1,Q5_0,Q4_K,Q4_1,Q4_0,Q3_K,Q2_K' },
    images: { type: 'string', default: '4' },
    steps: { type: 'string', default: '8' },
    size: { type: 'string', default: '128' },
    inputs: { type: 'string', default: '3' },
    json: { type: 'string' },
  },
});
const int = (k, min) => {
  const v = Number(a[k]);
  if (!Number.isInteger(v) || v < min) usageError(import.meta.url, `--${k} must be an integer >= ${min}`);
  return v;
};
const [images, steps, size, nInputs] = [int('images', 1), int('steps', 1), int('size', 16), int('inputs', 1)];

const root = new URL('..', import.meta.url).pathname;
const { CONVERT_TYPES, convertToGguf } = await import(`${root}dist/src/quant/convert.js`);
const types = a.types.split(',');
for (const t of types)
  if (!CONVERT_TYPES.includes(t) || ['F32', 'F16', 'BF16'].includes(t))
    usageError(import.meta.url, `--types: unknown quantized type "${t}"`);
const { CpuBackend } = await import(`${root}dist/src/cpu/backend.js`);
const { Checkpoint } = await import(`${root}dist/src/io/safetensors.js`);
const { FluxModel } = await import(`${root}dist/src/models/flux/index.js`);
const { randomHostParams, writeFluxCheckpoint } = await import(
  `${root}dist/src/models/flux/checkpoint-writer.js`
);
const { pipeline } = await import(`${root}dist/src/index.js`);
const { psnr8 } = await import(`${root}dist/src/pipeline/psnr.js`);
const { Rng } = await import(`${root}dist/src/util/random.js`);
const { roundToF16 } = await import(`${root}dist/src/util/f16.js`);

const cpu = new CpuBackend();
const work = mkdtempSync(join(tmpdir(), 'quant-accuracy-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

// ---- 1. transformer output vs f16 weights ---------------------------------------------------------
const wide = {
  in_channels: 16,
  out_channels: 16,
  vec_in_dim: 32,
  context_in_dim: 256,
  hidden_size: 256,
  mlp_ratio: 4,
  num_heads: 2,
  depth: 2,
  depth_single_blocks: 2,
  axes_dim: [16, 56, 56],
  theta: 10000,
  qkv_bias: true,
  guidance_embed: true,
};
const host = randomHostParams(wide, 11);
for (const [k, v] of host) host.set(k, roundToF16(v)); // the f16 model is the reference
const f16Path = writeFluxCheckpoint(join(work, 'wide-f16.safetensors'), host, wide, {
  layout: 'original',
  dtype: 'F16',
});
const grid = { rows: 16, cols: 16, text: 16 };
const inputs = Array.from({ length: nInputs }, (_, i) => {
  const r = new Rng(100 + i);
  return {
    img: r.normals(grid.rows * grid.cols * 16),
    txt: r.normals(grid.text * 256),
    y: r.normals(32),
  };
});
async function outputs(model) {
  const outs = [];
  for (const x of inputs) {
    const positions = model.positions({ batch: 1, rows: grid.rows, cols: grid.cols, textTokens: grid.text });
    const t = [
      cpu.tensor(x.img, [1, grid.rows * grid.cols, 16]),
      cpu.tensor(x.txt, [1, grid.text, 256]),
      cpu.tensor(x.y, [1, 32]),
    ];
    const y = model.forward({ img: t[0], txt: t[1], y: t[2], timesteps: [0.6], guidance: [3.5], positions });
    outs.push(await y.read());
    y.dispose();
    for (const u of t) u.dispose();
    positions.dispose();
  }
  return outs;
}
const relErr = (a, b) => {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
};
const refModel = FluxModel.load(cpu, f16Path, { dtype: 'f32' });
const refOut = await outputs(refModel);
refModel.dispose();

const rows = [];
for (const type of types) {
  const ck = Checkpoint.open(f16Path);
  const g = join(work, `wide-${type}.gguf`);
  const summary = convertToGguf(ck, g, { type, architecture: 'flux' });
  ck.close();
  const m = FluxModel.load(cpu, g, { dtype: 'f32' });
  const out = await outputs(m);
  // bits per parameter in the file (F32 biases and norms included)
  const bits = (8 * summary.bytes) / [...host.values()].reduce((s, v) => s + v.length, 0);
  m.dispose();
  const errs = out.map((o, i) => relErr(o, refOut[i]));
  rows.push({ type, transformerRelErr: Math.max(...errs), wideBitsPerWeight: bits });
  console.error(`${type}: transformer relative error ${Math.max(...errs).toExponential(2)}`);
}

// ---- 2. embedded-model images vs its F16 weights ----------------------------------------------------
const embeddedPath = join(root, 'models/embedded/flux-embedded.safetensors');
async function imagesOf(model) {
  const pipe = await pipeline('text-to-image', 'embedded', {
    backend: 'cpu',
    dtype: 'f32',
    ...(model ? { embeddedFiles: { model } } : {}),
  });
  const out = [];
  for (let i = 0; i < images; i++) {
    const label = pipe.pipeline.labels[i % pipe.pipeline.labels.length];
    const [im] = await pipe(label, {
      seed: 1000 + i,
      steps,
      width: size,
      height: size,
      method: 'dense',
      cache: null,
    });
    out.push(im.data);
  }
  pipe.dispose();
  return out;
}
const refImages = await imagesOf(undefined);
for (const row of rows) {
  const ck = Checkpoint.open(embeddedPath);
  const g = join(work, `embedded-${row.type}.gguf`);
  const s = convertToGguf(ck, g, { type: row.type, architecture: 'flux' });
  ck.close();
  const ims = await imagesOf(g);
  const p = ims.map((im, i) => psnr8(im, refImages[i]));
  row.embeddedStored = Object.fromEntries(s.types);
  row.embeddedPsnrDb = p.reduce((x, y) => x + y, 0) / p.length;
  row.embeddedPsnrMinDb = Math.min(...p);
  console.error(
    `${row.type}: embedded PSNR ${row.embeddedPsnrDb.toFixed(2)} dB (min ${row.embeddedPsnrMinDb.toFixed(2)})`,
  );
}

const fmtStored = (o) =>
  Object.entries(o)
    .filter(([t]) => t !== 'F32')
    .map(([t, n]) => `${n} ${t}`)
    .join(', ');
console.log(
  `\ntype  | transformer rel. error vs f16 | bits/param in file (wide) | embedded images PSNR vs F16 (mean / min) | embedded model stored as`,
);
for (const r of rows)
  console.log(
    `${r.type.padEnd(5)} | ${r.transformerRelErr.toExponential(2).padStart(29)} | ${r.wideBitsPerWeight.toFixed(2).padStart(18)} | ${`${r.embeddedPsnrDb.toFixed(2)} / ${r.embeddedPsnrMinDb.toFixed(2)} dB`.padStart(40)} | ${fmtStored(r.embeddedStored)}`,
  );
const result = {
  date: new Date().toISOString().slice(0, 10),
  command: `node tools/quant-accuracy.mjs ${process.argv.slice(2).join(' ')}`.trim(),
  backend: cpu.info().description,
  images,
  steps,
  size,
  inputs: nInputs,
  rows,
};
if (a.json) writeFileSync(a.json, `${JSON.stringify(result, null, 1)}\n`);
