// Writes a random-weight FLUX.1 model folder in the diffusers layout, for `toma generate --model-dir`
// without real checkpoints. Needs a build (npm run build).
//
//   node tools/make-random-flux-folder.mjs --out DIR [--preset tiny|tiny-dev|schnell-full|dev-full]
//     [--seed 0] [--threads N] [--shard-gb 2] [--force]
//
// tiny: small dims for tests (2.4 MB). schnell-full: FLUX.1-schnell's sizes (transformer 19 + 38 blocks of
// 3072, T5-XXL, CLIP-L, the autoencoder decoder), about 34 GB of f16 written tensor by tensor (never
// more than a few buffers in memory), by --threads workers (default: the CPU count, at most 8).
import { mkdirSync, statfsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import { toolArgs, usageError } from './tool-args.mjs';

const { values: a } = toolArgs(import.meta.url, {
  options: {
    out: { type: 'string' },
    preset: { type: 'string', default: 'tiny' },
    seed: { type: 'string', default: '0' },
    threads: { type: 'string' },
    'shard-gb': { type: 'string', default: '2' },
    force: { type: 'boolean', default: false },
  },
});
if (!a.out) usageError(import.meta.url, '--out DIR is required');
const dist = new URL('../dist/src/', import.meta.url);
const { pipelinePreset } = await import(new URL('pipeline/flux-presets.js', dist).href);
const { randomFolderBytes, writeRandomFluxFolder } = await import(
  new URL('pipeline/random-folder.js', dist).href
);

const int = (v, what, min) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min)
    usageError(import.meta.url, `--${what} must be an integer >= ${min}; got "${v}"`);
  return n;
};
let preset;
try {
  preset = pipelinePreset(a.preset);
} catch (e) {
  console.error(`make-random-flux-folder: ${e.message}`);
  process.exit(2);
}
const seed = int(a.seed, 'seed', 0);
const threads = a.threads === undefined ? Math.min(8, availableParallelism()) : int(a.threads, 'threads', 1);
const shardGb = Number(a['shard-gb']);
if (!(shardGb > 0 && Number.isFinite(shardGb)))
  usageError(import.meta.url, `--shard-gb must be a positive number; got "${a['shard-gb']}"`);
const out = resolve(a.out);

/** GB, or MB below 1 GB. */
const gb = (b) => (b >= 1e9 ? `${(b / 1e9).toFixed(2)} GB` : `${(b / 1e6).toFixed(1)} MB`);
const t0 = performance.now();
let lastPrint = 0;
try {
  const total = randomFolderBytes(preset);
  mkdirSync(dirname(out), { recursive: true });
  const fs = statfsSync(dirname(out));
  const free = fs.bavail * fs.bsize;
  if (free < total + (1 << 28))
    throw new Error(`${gb(total)} to write but only ${gb(free)} free under ${dirname(out)}`);
  console.log(`writing ${gb(total)} of f16 weights with ${threads} thread(s) to ${out}`);
  const r = await writeRandomFluxFolder(out, {
    preset,
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
      const eta = rate > 0 ? Math.max(0, (total - written) / 1e9 / rate) : 0;
      console.log(
        `  ${gb(written)} / ${gb(total)} (${((100 * written) / total).toFixed(1)}%), ${rate.toFixed(2)} GB/s, ${s.toFixed(0)} s, about ${eta.toFixed(0)} s left`,
      );
    },
  });
  console.log(
    `wrote ${r.dir}: preset ${a.preset}, ${gb(r.bytes)} of weights in ${r.files} files, ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
} catch (e) {
  console.error(`make-random-flux-folder: ${e.message}`);
  process.exit(1);
}
