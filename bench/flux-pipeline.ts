// Whole-pipeline benchmark: prompt -> image at FLUX.1-schnell size (1024², 4 steps by default), dense vs
// ToMA on the same noise, with the time and peak device memory of every stage (tokenize, load and run
// T5, CLIP, the transformer's denoising steps, the autoencoder decode). One model is on the device at a
// time (each freed and its buffers returned before the next loads), so the peak is the largest stage.
//
//   node dist/bench/flux-pipeline.js [--random schnell-full|dev-full|tiny|tiny-dev | --model-dir DIR]
//     [--size 1024] [--steps 4] [--methods dense,toma:0.5] [--merge-every 1] [--dtype f16|f32]
//     [--ae-dtype f32] [--max-length N] [--warmup 1] [--seed 0] [--prompt TEXT] [--backend webgpu|cpu]
//     [--json out.json] [--tiny] [--robust]   (--unsafe-disable-robustness: accepted, the default now)
//
// --random (the default, schnell-full) builds every component with random weights directly on the device
// (no checkpoint, no disk); --model-dir loads a folder (e.g. one written by tools/make-random-flux-folder.mjs).
// --tiny: the tiny preset at 32², 2 steps, 16 T5 tokens, no warm-up: seconds on SwiftShader.
// Merging runs at every step here (--merge-every 1) with the reference's 5 + 5 exempt blocks.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Backend } from '../src/backend.js';
import { CpuBackend } from '../src/cpu/backend.js';
import { GpuBackend } from '../src/gpu/backend.js';
import { type FluxComponents, fluxVariant, openFluxFolder } from '../src/pipeline/flux-components.js';
import { type PipelineMethod, runFluxPipeline, type StageRecord } from '../src/pipeline/flux-pipeline.js';
import { pipelinePreset } from '../src/pipeline/flux-presets.js';
import { METHODS, type MethodName } from '../src/pipeline/methods.js';
import { locateFlux } from '../src/pipeline/model-folder.js';
import { randomFluxComponents } from '../src/pipeline/random-components.js';
import { DEVICE_FLAGS, deviceMode, deviceOptions } from './device-flags.js';

const { values: a } = parseArgs({
  options: {
    random: { type: 'string' },
    'model-dir': { type: 'string' },
    size: { type: 'string' },
    steps: { type: 'string' },
    methods: { type: 'string', default: 'dense,toma:0.5' },
    'merge-every': { type: 'string', default: '1' },
    dtype: { type: 'string' },
    'ae-dtype': { type: 'string', default: 'f32' },
    'max-length': { type: 'string' },
    warmup: { type: 'string' },
    seed: { type: 'string', default: '0' },
    prompt: { type: 'string', default: 'a photo of a red fox in the snow, morning light' },
    backend: { type: 'string', default: 'webgpu' },
    json: { type: 'string' },
    tiny: { type: 'boolean', default: false },
    ...DEVICE_FLAGS,
    help: { type: 'boolean', short: 'h' },
  },
});
if (a.help) {
  console.log('usage: node dist/bench/flux-pipeline.js [options]  (see the top of bench/flux-pipeline.ts)');
  process.exit(0);
}

function int(v: string | undefined, fallback: number, what: string, min = 1): number {
  const n = v === undefined ? fallback : Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${what} must be an integer >= ${min}, got "${v}"`);
  return n;
}
const gib = (b: number) => b / 2 ** 30;
/** MiB with 2 decimals below 10 MiB (tiny runs), whole MiB above. */
const mib = (b: number) => (b / 2 ** 20).toFixed(b < 10 * 2 ** 20 ? 2 : 0);

const tiny = a.tiny;
const presetName = a.random ?? (tiny ? 'tiny' : 'schnell-full');
const size = int(a.size, tiny ? 32 : 1024, 'size', 16);
const steps = int(a.steps, tiny ? 2 : 4, 'steps');
const mergeEvery = int(a['merge-every'], 1, 'merge-every');
const warmup = int(a.warmup, tiny ? 0 : 1, 'warmup', 0) > 0;
const methods: PipelineMethod[] = a.methods!.split(',').map((spec) => {
  const [name, r] = spec.split(':');
  if (!METHODS.includes(name as MethodName))
    throw new Error(`--methods: unknown "${spec}" (${METHODS.join(', ')})`);
  const options = r === undefined ? { mergeEvery } : { mergeEvery, ratio: Number(r) };
  return { method: name as MethodName, options };
});

let be: Backend;
if (a.backend === 'cpu') be = new CpuBackend();
else if (a.backend === 'webgpu') be = await GpuBackend.create(deviceOptions(a));
else throw new Error(`--backend must be webgpu or cpu, got "${a.backend}"`);
const dtype = (a.dtype ?? (be.supports('f16') && be.name !== 'cpu' ? 'f16' : 'f32')) as 'f16' | 'f32';
const aeDtype = a['ae-dtype'] as 'f16' | 'f32';
for (const [flag, d] of [
  ['dtype', dtype],
  ['ae-dtype', aeDtype],
] as const) {
  if (d !== 'f16' && d !== 'f32') throw new Error(`--${flag} must be f16 or f32, got "${d}"`);
  if (!be.supports(d))
    throw new Error(`this adapter (${be.info().description}) has no shader-f16: use --${flag} f32`);
}
const device = be.info().description;
const robustnessDisabled = be instanceof GpuBackend ? be.caps.robustnessDisabled : null;
console.log(`device: ${device}${be instanceof GpuBackend ? ` (${deviceMode(be)})` : ''}`);

const components: FluxComponents = a['model-dir']
  ? openFluxFolder(locateFlux({ modelDir: a['model-dir'] }))
  : randomFluxComponents(pipelinePreset(presetName), { seed: int(a.seed, 0, 'seed', 0), name: presetName });
const c = components.transformerConfig;
const variant = fluxVariant(c);
const maxLength =
  a['max-length'] === undefined ? (tiny ? 16 : undefined) : int(a['max-length'], 0, 'max-length', 2);
console.log(
  `components: ${components.description}; FLUX.1-${variant} sizes: transformer ${c.depth} + ${c.depth_single_blocks} x ${c.hidden_size}, T5 ${components.t5Config.num_layers} x ${components.t5Config.d_model}, CLIP ${components.clipConfig.num_hidden_layers} x ${components.clipConfig.hidden_size}`,
);
console.log(
  `${size}² px, ${steps} steps, ${dtype} (autoencoder ${aeDtype}), methods ${methods.map((m) => m.method).join(', ')} (merge every ${mergeEvery} step(s)), warm-up ${warmup ? 'on' : 'off'}`,
);

const t0 = performance.now();
const r = await runFluxPipeline({
  be,
  components,
  dtype,
  aeDtype,
  prompts: [a.prompt!],
  width: size,
  height: size,
  steps,
  seed: int(a.seed, 0, 'seed', 0),
  maxSequenceLength: maxLength,
  methods,
  warmup,
  onEvent: (e) => {
    if (e.phase === 'end')
      console.log(
        `  ${`${e.stage}${e.method ? ` ${e.method}` : ''}`.padEnd(20)} ${(e.ms! / 1000).toFixed(3).padStart(8)} s  peak ${mib(e.peakBytes!)} MiB`,
      );
  },
});
const wallMs = performance.now() - t0;

const finite = r.outputs.every((o) => o.images.every((img) => img.every(Number.isFinite)));
const row = (s: StageRecord) => [
  `${s.stage}${s.method ? ` (${s.method})` : ''}`,
  s.ms.toFixed(1),
  mib(s.peakBytes),
  s.paramBytes === undefined ? '' : mib(s.paramBytes),
];
const table = [['stage', 'ms', 'peak MiB', 'params MiB'], ...r.stages.map(row)];
const widths = table[0]!.map((_, i) => Math.max(...table.map((t) => t[i]!.length)));
console.log();
for (const [i, t] of table.entries()) {
  console.log(t.map((x, j) => (j === 0 ? x.padEnd(widths[j]!) : x.padStart(widths[j]!))).join('  '));
  if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
}
console.log();
const median = (xs: number[]) => {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const perMethod = r.outputs.map((o) => ({
  method: o.method,
  stepMs: o.stepMs,
  medianStepMs: median(o.stepMs),
  denoiseMs: r.stages.find((s) => s.stage === 'denoise' && s.method === o.method)!.ms,
}));
for (const m of perMethod)
  console.log(
    `${m.method.padEnd(8)} steps ${m.stepMs.map((x) => x.toFixed(0)).join(' / ')} ms (median ${m.medianStepMs.toFixed(1)}), denoise ${(m.denoiseMs / 1000).toFixed(2)} s`,
  );
const dense = perMethod.find((m) => m.method === 'dense');
for (const m of perMethod)
  if (dense && m !== dense)
    console.log(
      `${m.method} vs dense: ${(dense.denoiseMs / m.denoiseMs).toFixed(2)}x denoising, ${(dense.medianStepMs / m.medianStepMs).toFixed(2)}x median step`,
    );
if (!warmup) console.log('(no warm-up: the first run of each stage includes pipeline compilation)');
console.log(
  `peak device memory ${gib(r.peakBytes).toFixed(2)} GiB; pipeline ${(r.totalMs / 1000).toFixed(1)} s; images finite: ${finite}`,
);

if (a.json) {
  writeFileSync(
    a.json,
    `${JSON.stringify(
      {
        bench: 'flux-pipeline',
        device,
        robustnessDisabled,
        backend: be.name,
        components: components.description,
        preset: a['model-dir'] ? null : presetName,
        variant,
        size,
        steps,
        textTokens: r.textTokens,
        imageTokens: r.imageTokens,
        dtype,
        aeDtype,
        mergeEvery,
        warmup,
        stages: r.stages,
        methods: perMethod,
        peakBytes: r.peakBytes,
        pipelineMs: r.totalMs,
        wallMs,
        finite,
        date: new Date().toISOString(),
      },
      null,
      1,
    )}\n`,
  );
  console.log(`wrote ${a.json}`);
}
be.destroy();
if (!finite) process.exit(1);
