// Whole-sampling benchmark of the Flux transformer on the WebGPU backend: N Euler steps (default 28, the
// FLUX.1-dev schedule) of random flux-dev weights generated on the GPU, batch 1, 512 text tokens, per
// configuration METHOD[:RATIO][+CACHE] (src/pipeline/methods.ts). Random weights make a cache's own
// decisions meaningless, so caches replay a schedule measured on a trained model (--schedule full=...):
// First-Block-Cache still runs its first block and reads its metric back every step, TeaCache its
// modulated input and metric, so each step costs what it costs in a real run. Per configuration: the
// total time of the sampling loop (every step GPU-synced, as generate() does) and each step's time,
// median over --runs repetitions (configurations interleaved run by run).
//
//   node dist/bench/flux-sampling.js [--res 1024] [--steps 28] [--runs 3] [--warmup 1]
//     [--configs dense,toma:0.5,fbcache:0.12,toma:0.5+fbcache:0.12,toma+hilbert:0.5+fbcache:0.12]
//     [--schedule full=0,1,2,...] [--schedule-for "CONFIG|full=0,1,..."]... [--merge-every N]
//     [--dtype f16|f32] [--text 512] [--config flux-dev] [--tiny] [--json out.json] [--robust]
//
// --schedule-for gives one configuration (as written in --configs) its own replayed schedule, e.g. the
// pattern the embedded model's evaluation measured for that very configuration; it may be repeated.
// Configurations take a merge schedule too: "toma:0.5@every=1" merges on every step.
//
// Merging follows methodDefaults(config) (for flux-dev the reference's 5 + 5 exempt blocks, merging every
// 3rd step; --merge-every overrides). --tiny: flux-tiny at 64², 4 steps, 16 text tokens, 1 run, no warm-up.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { resolveSchedule } from '../src/cache/spec.js';
import { fullSteps } from '../src/cache/step-cache.js';
import { GpuBackend } from '../src/gpu/backend.js';
import { FLUX_PRESETS, FluxModel } from '../src/models/flux/index.js';
import { methodDefaults } from '../src/pipeline/flux-pipeline.js';
import {
  configLabel,
  configString,
  createMethod,
  type MethodConfig,
  parseConfig,
} from '../src/pipeline/methods.js';
import { fluxSchedule } from '../src/pipeline/schedule.js';
import type { Tensor } from '../src/tensor.js';
import { DEVICE_FLAGS, deviceMode, deviceOptions } from './device-flags.js';

const { values: a } = parseArgs({
  options: {
    res: { type: 'string' },
    steps: { type: 'string' },
    runs: { type: 'string' },
    warmup: { type: 'string' },
    configs: { type: 'string', default: 'dense,toma:0.5' },
    schedule: { type: 'string' },
    'schedule-for': { type: 'string', multiple: true },
    'merge-every': { type: 'string' },
    dtype: { type: 'string' },
    text: { type: 'string' },
    config: { type: 'string' },
    tiny: { type: 'boolean', default: false },
    json: { type: 'string' },
    seed: { type: 'string', default: '0' },
    ...DEVICE_FLAGS,
    help: { type: 'boolean', short: 'h' },
  },
});
if (a.help) {
  console.log('usage: node dist/bench/flux-sampling.js [options]  (see the top of bench/flux-sampling.ts)');
  process.exit(0);
}

function int(v: string | undefined, fallback: number, what: string, min = 1): number {
  const n = v === undefined ? fallback : Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${what} must be an integer >= ${min}, got "${v}"`);
  return n;
}
const median = (xs: number[]) => {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const configName = a.config ?? (a.tiny ? 'flux-tiny' : 'flux-dev');
const config = FLUX_PRESETS[configName];
if (!config)
  throw new Error(`--config: unknown preset "${configName}" (${Object.keys(FLUX_PRESETS).join(', ')})`);
const res = int(a.res, a.tiny ? 64 : 1024, 'res');
if (res % 16 !== 0)
  throw new Error(`--res: ${res} is not a multiple of 16 (8x VAE downsampling x 2x2 patches)`);
const steps = int(a.steps, a.tiny ? 4 : 28, 'steps');
const runs = int(a.runs, a.tiny ? 1 : 3, 'runs');
const warmup = int(a.warmup, a.tiny ? 0 : 1, 'warmup', 0);
const textTokens = int(a.text, a.tiny ? 16 : 512, 'text');
const configTexts = a.configs!.split(',').map((k) => k.trim());
const configs: MethodConfig[] = configTexts.map((k) => parseConfig(k));
const schedule = a.schedule;
if (schedule !== undefined) resolveSchedule(schedule, steps); // fails early with the reason
// Per-configuration schedules: "CONFIG|full=..." with CONFIG as written in --configs.
const schedules = configs.map(() => schedule);
for (const entry of a['schedule-for'] ?? []) {
  const bar = entry.indexOf('|');
  const which = bar < 0 ? -1 : configTexts.indexOf(entry.slice(0, bar).trim());
  if (which < 0)
    throw new Error(`--schedule-for "${entry}": expected "CONFIG|full=..." with CONFIG one of --configs`);
  const s = entry.slice(bar + 1).trim();
  resolveSchedule(s, steps);
  schedules[which] = s;
}
// TaylorSeer and FORA decide by step index alone; the metric-driven caches need a measured pattern.
const metricCache = (k: MethodConfig) => k.cache?.method === 'fbcache' || k.cache?.method === 'teacache';
if (configs.some((k, i) => metricCache(k) && schedules[i] === undefined))
  console.warn(
    'note: no --schedule: the caches decide from random weights, which says nothing about a trained model',
  );

const be = await GpuBackend.create(deviceOptions(a));
const dtype = (a.dtype ?? (be.caps.f16 ? 'f16' : 'f32')) as 'f16' | 'f32';
if (dtype !== 'f16' && dtype !== 'f32') throw new Error(`--dtype must be f16 or f32, got "${a.dtype}"`);
if (!be.supports(dtype))
  throw new Error(`this adapter (${be.info().description}) has no shader-f16: use --dtype f32`);
const device = be.info().description;
console.log(`device: ${device} (${deviceMode(be)})`);

let t0 = performance.now();
const model = FluxModel.random(be, config, { dtype, seed: Number(a.seed) });
await be.sync();
console.log(
  `${configName}, ${dtype}, random weights: ${(model.params.bytes / 2 ** 30).toFixed(2)} GiB in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
);

const side = res / 16;
const N = side * side;
const positions = model.positions({ batch: 1, rows: side, cols: side, textTokens });
const noise = be.keep(be.random([1, N, config.in_channels], dtype, { seed: 1 }));
const txt = be.keep(be.random([1, textTokens, config.context_in_dim], dtype, { seed: 2 }));
const y = be.keep(be.random([1, config.vec_in_dim], dtype, { seed: 3 }));
const ts = fluxSchedule(steps, N, 'dev');
const mergeOptions = {
  ...methodDefaults(config),
  ...(a['merge-every'] === undefined ? {} : { mergeEvery: int(a['merge-every'], 1, 'merge-every') }),
};
const setups = configs.map((k, i) =>
  createMethod(
    be,
    k.method,
    { ...mergeOptions, ...(k.ratio === null ? {} : { ratio: k.ratio }), ...k.schedule },
    config.depth,
    {
      cache: k.cache,
      cacheOptions: schedules[i] === undefined ? {} : { schedule: schedules[i] },
    },
  ),
);

interface SamplingRun {
  stepMs: number[];
  totalMs: number;
  launches: number;
  finite?: boolean;
}

/** One sampling run: `steps` Euler steps from the noise, every step synced; the final latents checked on request. */
async function sample(j: number, check: boolean): Promise<SamplingRun> {
  const s = setups[j]!;
  const stepMs: number[] = [];
  const l0 = be.rt.launchCount;
  let x: Tensor = be.keep(be.reshape(noise, noise.shape));
  const start = performance.now();
  for (let i = 0; i < steps; i++) {
    const s0 = performance.now();
    const inputs = {
      img: x,
      txt,
      y,
      timesteps: [ts[i]!],
      guidance: config.guidance_embed ? [3.5] : undefined,
      positions,
    };
    const v = await model.forwardAsync(inputs, {
      reducer: s.reducer,
      pattern: s.pattern,
      cache: s.cache,
      step: i,
      steps,
    });
    const next = be.tidy(() => be.add(x, be.scale(v, ts[i + 1]! - ts[i]!)));
    v.dispose();
    x.dispose();
    x = be.keep(next);
    await be.sync();
    stepMs.push(performance.now() - s0);
  }
  const r: SamplingRun = { stepMs, totalMs: performance.now() - start, launches: be.rt.launchCount - l0 };
  if (check) r.finite = (await x.read()).every(Number.isFinite);
  x.dispose();
  return r;
}

console.log(
  `${res}²: ${N} image + ${textTokens} text tokens, ${steps} steps; ${configs.length} configuration(s)${schedule ? `, caches replay ${schedule}` : ''}`,
);
t0 = performance.now();
for (let w = 0; w < warmup; w++) for (let j = 0; j < configs.length; j++) await sample(j, false);
if (warmup) console.log(`warm-up: ${((performance.now() - t0) / 1000).toFixed(1)} s`);

const all: SamplingRun[][] = configs.map(() => []);
for (let r = 0; r < runs; r++) {
  for (let j = 0; j < configs.length; j++) {
    const run = await sample(j, r === runs - 1);
    all[j]!.push(run);
    console.log(`  run ${r + 1}/${runs} ${configLabel(configs[j]!)}: ${run.totalMs.toFixed(0)} ms`);
  }
}

const results = configs.map((k, j) => {
  const rs = all[j]!;
  const d = setups[j]!.cache?.decisions();
  return {
    config: configString(k),
    label: configLabel(k),
    totalMs: median(rs.map((r) => r.totalMs)),
    runsMs: rs.map((r) => r.totalMs),
    perStepMs: Array.from({ length: steps }, (_, i) => median(rs.map((r) => r.stepMs[i]!))),
    launches: rs.at(-1)!.launches,
    finite: rs.at(-1)!.finite ?? null,
    fullSteps: d ? fullSteps(d) : null,
    schedule: schedules[j] ?? null,
    /** The metric each step measured (First-Block-Cache, TeaCache), replayed or not. */
    change: d ? d.change[0]! : null,
  };
});
const dense = results.find((r) => r.config === 'dense');
const fmt = (v: number) => v.toFixed(1);
console.log(
  `\n${configName} sampling, ${dtype}, ${res}², ${steps} steps, median of ${runs} run(s) (every step synced)`,
);
for (const r of results) {
  const full = r.fullSteps ? `, ${r.fullSteps.length}/${steps} steps computed` : '';
  const speed = dense && dense !== r ? `, ${(dense.totalMs / r.totalMs).toFixed(2)}x vs dense` : '';
  console.log(
    `  ${r.label.padEnd(34)} total ${fmt(r.totalMs).padStart(9)} ms, ${fmt(r.totalMs / steps)} ms/step${full}${speed}${r.finite === false ? '  OUTPUT NOT FINITE' : ''}`,
  );
}

if (a.json) {
  const report = {
    bench: 'flux-sampling',
    date: new Date().toISOString(),
    device,
    robustnessDisabled: be.caps.robustnessDisabled,
    paths: be.paths,
    config: configName,
    dtype,
    res,
    imageTokens: N,
    textTokens,
    steps,
    runs,
    warmup,
    schedule: schedule ?? null,
    schedules: Object.fromEntries(configTexts.map((t, i) => [t, schedules[i] ?? null])),
    mergeOptions,
    results,
  };
  writeFileSync(a.json, `${JSON.stringify(report, null, 1)}\n`);
  console.log(`wrote ${a.json}`);
}
for (const s of setups) s.dispose();
for (const t of [noise, txt, y]) t.dispose();
positions.dispose();
model.dispose();
be.destroy();
process.exit(0);
