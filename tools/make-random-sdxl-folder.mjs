// Writes a random-weight SDXL model folder, for `toma generate --model-dir` without real checkpoints.
// Needs a build (npm run build).
//
//   node tools/make-random-sdxl-folder.mjs --out DIR [--preset sdxl-tiny|sdxl-base]
//     [--layout diffusers|single-file] [--seed 0] [--threads N] [--shard-gb 2] [--force]
//
// sdxl-tiny: small dims for tests (a few MB). sdxl-base: SDXL base 1.0's sizes from the release configs
// (UNet 2.57 B parameters, CLIP ViT-L, OpenCLIP ViT-bigG with its projection, the VAE's decoder), about
// 6.9 GB of f16 written tensor by tensor by --threads workers (default: the CPU count, at most 8).
// --layout diffusers (default): unet/, text_encoder/, text_encoder_2/, vae/, tokenizer/, tokenizer_2/,
// scheduler/, model_index.json. --layout single-file: sd_xl_base_1.0.safetensors (the release's key
// names) with tokenizer/ and tokenizer_2/ beside it. The tokenizers are a synthetic CLIP vocabulary.
import { mkdirSync, statfsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import { toolArgs, usageError } from './tool-args.mjs';

const { values: a } = toolArgs(import.meta.url, {
  options: {
    out: { type: 'string' },
    preset: { type: 'string', default: 'sdxl-tiny' },
    layout: { type: 'string', default: 'diffusers' },
    seed: { type: 'string', default: '0' },
    threads: { type: 'string' },
    'shard-gb': { type: 'string', default: '2' },
    force: { type: 'boolean', default: false },
  },
});
if (!a.out) usageError(import.meta.url, '--out DIR is required');
if (a.layout !== 'diffusers' && a.layout !== 'single-file')
  usageError(import.meta.url, `--layout must be diffusers or single-file; got "${a.layout}"`);
const int = (v, what, min) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min)
    usageError(import.meta.url, `--${what} must be an integer >= ${min}; got "${v}"`);
  return n;
};
const seed = int(a.seed, 'seed', 0);
const threads = a.threads === undefined ? Math.min(8, availableParallelism()) : int(a.threads, 'threads', 1);
const shardGb = Number(a['shard-gb']);
if (!(shardGb > 0 && Number.isFinite(shardGb)))
  usageError(import.meta.url, `--shard-gb must be a positive number; got "${a['shard-gb']}"`);

const dist = new URL('../dist/src/', import.meta.url);
const { sdxlPreset } = await import(new URL('pipeline/sdxl-presets.js', dist).href);
const { randomSdxlFolderBytes, writeRandomSdxlFolder } = await import(
  new URL('pipeline/sdxl-random.js', dist).href
);
let preset;
try {
  preset = sdxlPreset(a.preset);
} catch (e) {
  console.error(`make-random-sdxl-folder: ${e.message}`);
  process.exit(2);
}
const out = resolve(a.out);

/** GB, or MB below 1 GB. */
const gb = (b) => (b >= 1e9 ? `${(b / 1e9).toFixed(2)} GB` : `${(b / 1e6).toFixed(1)} MB`);
const t0 = performance.now();
let lastPrint = 0;
try {
  const total = randomSdxlFolderBytes(preset);
  mkdirSync(dirname(out), { recursive: true });
  const fs = statfsSync(dirname(out));
  const free = fs.bavail * fs.bsize;
  if (free < total + (1 << 28))
    throw new Error(`${gb(total)} to write but only ${gb(free)} free under ${dirname(out)}`);
  console.log(`writing ${gb(total)} of f16 weights (${a.layout} layout) with ${threads} thread(s) to ${out}`);
  const r = await writeRandomSdxlFolder(out, {
    preset,
    layout: a.layout,
    seed,
    threads,
    shardBytes: shardGb * 2 ** 30,
    force: a.force,
    onProgress: (written, total) => {
      const now = performance.now();
      if (now - lastPrint < 2000 && written < total) return;
      lastPrint = now;
      const s = (now - t0) / 1000;
      const rate = written / 1e9 / s;
      console.log(
        `  ${gb(written)} / ${gb(total)} (${((100 * written) / total).toFixed(1)}%), ${rate.toFixed(2)} GB/s, ${s.toFixed(0)} s`,
      );
    },
  });
  console.log(
    `wrote ${r.dir}: preset ${a.preset}, ${gb(r.bytes)} of weights in ${r.files} files, ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
} catch (e) {
  console.error(`make-random-sdxl-folder: ${e.message}`);
  process.exit(1);
}
