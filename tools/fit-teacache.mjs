// Fits TeaCache's rescaling polynomial for a pixel-space Flux model (default: the embedded model): dense
// sampling over seeds records, per image and step, the relative change of the first block's modulated
// input (TeaCache's measurement) and of the model output (what it estimates), and a least-squares
// polynomial (degree 4, as TeaCache's) maps the first to the second. Prints the coefficients, highest
// degree first (pass them as --teacache-poly to toma generate / toma eval), the fit quality, and for
// comparison the quality of the identity and of the published FLUX.1 polynomial on the same data.
// Needs a build (npm run build).
//
//   node tools/fit-teacache.mjs [--backend auto|webgpu|cpu] [--dtype f16|f32] [--size 128] [--steps 28]
//     [--seeds 16] [--batch 8] [--cfg 4] [--degree 4] [--checkpoint FILE --conditioning FILE]
//     [--json out.json]
import { writeFileSync } from 'node:fs';
import { toolArgs, usageError } from './tool-args.mjs';

const { values: a } = toolArgs(import.meta.url, {
  options: {
    backend: { type: 'string', default: 'auto' },
    dtype: { type: 'string' },
    size: { type: 'string' },
    steps: { type: 'string' },
    seeds: { type: 'string' },
    batch: { type: 'string' },
    cfg: { type: 'string', default: '4' },
    degree: { type: 'string', default: '4' },
    checkpoint: { type: 'string' },
    conditioning: { type: 'string' },
    json: { type: 'string' },
  },
});
// the upper bounds keep a typo from asking for years of sampling or a singular fit
const int = (v, fallback, what, min = 1, max = 100_000) => {
  const n = v === undefined ? fallback : Number(v);
  if (!Number.isInteger(n) || n < min || n > max)
    usageError(import.meta.url, `--${what} must be an integer in ${min}..${max}; got "${v}"`);
  return n;
};
if (!['auto', 'webgpu', 'cpu'].includes(a.backend))
  usageError(import.meta.url, `--backend must be auto, webgpu or cpu; got "${a.backend}"`);
if ((a.checkpoint === undefined) !== (a.conditioning === undefined))
  usageError(
    import.meta.url,
    '--checkpoint and --conditioning go together (a pixel-space Flux model and its class conditioning)',
  );

const dist = new URL('../dist/src/', import.meta.url);
const load = (p) => import(new URL(p, dist).href);
const { chooseBackend, defaultDtype } = await load('cli/backend-choice.js');
const { FluxModel } = await load('models/flux/model.js');
const { embeddedDir, loadConditioning } = await load('pipeline/embedded.js');
const { collectTeaCacheSamples } = await load('cache/teacache-fit.js');
const { fitPolynomial, fitQuality } = await load('cache/polyfit.js');
const { IDENTITY_COEFFICIENTS, TEACACHE_FLUX_COEFFICIENTS } = await load('cache/teacache.js');

const be = await chooseBackend(a.backend, 'smaller size, fewer seeds');
const onCpu = be.name === 'cpu';
const dtype = a.dtype ?? defaultDtype(be);
const size = int(a.size, onCpu ? 32 : 128, 'size', 4, 1024);
const steps = int(a.steps, onCpu ? 8 : 28, 'steps', 3, 10_000);
const seedCount = int(a.seeds, onCpu ? 4 : 16, 'seeds');
const batch = int(a.batch, onCpu ? 4 : 8, 'batch', 1, 4096);
const degree = int(a.degree, 4, 'degree', 0, 12);
const cfg = Number(a.cfg);
if (size % 2 || !Number.isFinite(cfg) || cfg < 0)
  usageError(import.meta.url, '--size must be even and --cfg a number >= 0');

const dir = a.checkpoint ? null : embeddedDir();
const model = FluxModel.load(be, a.checkpoint ?? `${dir}flux-embedded.safetensors`, { dtype });
const conditioning = loadConditioning(a.conditioning ?? `${dir}conditioning.safetensors`);
const classList = conditioning.names.map((_, i) => i).filter((i) => i !== conditioning.nullClass);
const seeds = Array.from({ length: seedCount }, (_, i) => i);
const classes = seeds.map((i) => classList[i % classList.length]);
const c = model.config;
console.log(`backend: ${be.info().description}, ${dtype}`);
console.log(
  `model: ${a.checkpoint ?? 'embedded'} (${c.depth} + ${c.depth_single_blocks} blocks of ${c.hidden_size}); ${size}x${size} px, ${steps} steps, cfg ${cfg}, ${seedCount} seeds`,
);

const t0 = performance.now();
const samples = await collectTeaCacheSamples({
  model,
  conditioning,
  classes,
  seeds,
  size,
  steps,
  cfg,
  batch,
  onBatch: (done, total) =>
    console.error(`sampled ${done}/${total} seeds (${((performance.now() - t0) / 1000).toFixed(1)} s)`),
});
const x = samples.map((s) => s.inputChange);
const y = samples.map((s) => s.outputChange);
const fit = fitPolynomial(x, y, degree);
const fmt = (q) =>
  `R² ${q.r2.toFixed(4)}, RMSE ${q.rmse.toExponential(3)}, max |error| ${q.maxAbsError.toExponential(3)}`;
const identity = fitQuality(IDENTITY_COEFFICIENTS, x, y);
const flux = fitQuality(TEACACHE_FLUX_COEFFICIENTS, x, y);
console.log(
  `\n${samples.length} (input change, output change) pairs; input change in [${Math.min(...x).toExponential(3)}, ${Math.max(...x).toExponential(3)}]`,
);
console.log(`degree-${degree} fit: ${fmt(fit)}`);
console.log(
  `coefficients (highest degree first): [${fit.coefficients.map((v) => v.toExponential(8)).join(', ')}]`,
);
console.log(`identity (TeaCache's default here): ${fmt(identity)}`);
console.log(`published FLUX.1 polynomial: ${fmt(flux)}`);
console.log(`\nuse: --teacache-poly ${fit.coefficients.map((v) => v.toExponential(8)).join(',')}`);

if (a.json) {
  const report = {
    tool: 'fit-teacache',
    date: new Date().toISOString(),
    backend: be.info().description,
    dtype,
    model: a.checkpoint ?? 'embedded',
    size,
    steps,
    cfg,
    seeds,
    degree,
    fit,
    identity,
    fluxPolynomial: flux,
    samples,
  };
  writeFileSync(a.json, `${JSON.stringify(report, null, 1)}\n`);
  console.log(`wrote ${a.json}`);
}
model.dispose();
be.destroy();
