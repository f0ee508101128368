// Flux transformer forward benchmark on the WebGPU backend: random weights (generated on the GPU), batch 1,
// 512 text tokens by default, at 1024² and 2048² (64x64 and 128x128 image tokens). Per resolution:
// warm-up forwards, then the median of --runs GPU-synced wall-clock forwards, then one profiled forward
// with per-kernel GPU timestamps summed per category (linear / attention / merge / other).
//
//   node dist/bench/flux-forward.js [--res 1024,2048] [--runs 10] [--warmup 2] [--method dense,toma:0.5,...]
//     [--dtype f16|f32] [--text 512] [--batch 1] [--config flux-dev] [--tiny] [--no-profile]
//     [--json out.json] [--robust] [--dawn-toggles a,b]   (robustness is off by default in Node;
//     --unsafe-disable-robustness is still accepted and means that default)
//     [--weights f16|q8_0|q4_k] [--max-memory SIZE] [--slots 1|2]
//
// --weights q8_0|q4_k: the block matrices in that ggml type (random valid blocks made on the host,
// bench/quant-weights.ts), the rest f16; needs the quantized matmul kernel. --max-memory (e.g. 6GiB):
// the memory plan of docs/memory-plan.md for the largest --res: parameters get SIZE less the estimated
// activations, the rest of the blocks are streamed through --slots device slots per block kind
// (default 2). With either, weights are made on the host and loaded as from a file (slower to start).
// The peak column is the device peak of the timed forwards (reset after loading).
//
// --tiny runs the flux-tiny config at 128² with 16 text tokens (defaults; override as usual), small
// enough for SwiftShader.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { byteSize } from '../src/cli/args.js';
import { GpuBackend } from '../src/gpu/backend.js';
import type { KernelCategory } from '../src/gpu/runtime.js';
import { type AttentionPattern, dense, type TokenReducer } from '../src/merge/hooks.js';
import { createReducer } from '../src/merge/reducers.js';
import { FLUX_PRESETS, FluxModel, loadParams } from '../src/models/flux/index.js';
import { dequantizesWholeMatrices, fluxParamBudget } from '../src/models/flux/memory.js';
import { describePlan, sizeText } from '../src/models/flux/residency.js';
import { fluxStoredShapes } from '../src/models/flux/shapes.js';
import { RandomWeightSource } from '../src/models/random-weights.js';
import { ggmlBytes, ggmlType, type QuantTypeName } from '../src/quant/ggml-types.js';
import { QuantizedMatrix } from '../src/quant/quantized-matrix.js';
import { createHilbertPattern } from '../src/sparse/hilbert-pattern.js';
import { createTomaHilbert } from '../src/sparse/toma-hilbert.js';
import type { Tensor } from '../src/tensor.js';
import { DEVICE_FLAGS, deviceMode, deviceOptions } from './device-flags.js';
import { QuantizedRandomSource } from './quant-weights.js';

/**
 * Methods by spec: dense, toma:R, tomesd:R, todo, hilbert. Reducers merge on every step here (one
 * forward = one merged step), with the spec's exempt blocks (5 double, 5 single).
 */
interface Method {
  name: string;
  reducer: TokenReducer;
  pattern?: AttentionPattern;
  dispose(): void;
}
function makeMethod(be: GpuBackend, spec: string): Method {
  const [kind, r, flag] = spec.split(':');
  const ratio = r === undefined ? 0.5 : Number(r);
  if (kind === 'dense') return { name: 'dense', reducer: dense, dispose() {} };
  if (kind === 'hilbert') {
    const pattern = createHilbertPattern(be);
    return { name: 'hilbert', reducer: dense, pattern, dispose: () => pattern.dispose() };
  }
  if (kind === 'toma+hilbert') {
    // toma+hilbert:R:noouter measures the key ranges without the outer tables (attention.md, version 3)
    const outerTables = flag !== 'noouter';
    const c = createTomaHilbert(be, { ratio, mergeEvery: 1 }, {}, 19, { outerTables });
    return {
      name: `toma+hilbert ${ratio}${outerTables ? '' : ' (no outer ranges)'}`,
      reducer: c.reducer,
      pattern: c.pattern,
      dispose: () => c.dispose(),
    };
  }
  if (kind === 'toma' || kind === 'tomesd' || kind === 'todo') {
    const reducer = createReducer(be, { method: kind, ratio, mergeEvery: 1 });
    return { name: kind === 'todo' ? 'todo' : `${kind} ${ratio}`, reducer, dispose: () => reducer.dispose() };
  }
  throw new Error(`--method: unknown "${spec}" (dense, toma:R, tomesd:R, todo, hilbert, toma+hilbert:R)`);
}

/** The official code in PyTorch on the H100 (shared/fixtures/README.md): flux-dev, bf16, batch 1, 512 text tokens. */
const PYTORCH_MS: Record<number, number> = { 1024: 197.2, 2048: 924.0 };

const { values: a } = parseArgs({
  options: {
    res: { type: 'string' },
    runs: { type: 'string' },
    warmup: { type: 'string' },
    method: { type: 'string', default: 'dense' },
    dtype: { type: 'string' },
    text: { type: 'string' },
    batch: { type: 'string', default: '1' },
    config: { type: 'string' },
    tiny: { type: 'boolean', default: false },
    'no-profile': { type: 'boolean', default: false },
    json: { type: 'string' },
    seed: { type: 'string', default: '0' },
    weights: { type: 'string', default: 'f16' },
    'max-memory': { type: 'string' },
    slots: { type: 'string' },
    ...DEVICE_FLAGS,
    help: { type: 'boolean', short: 'h' },
  },
});
if (a.help) {
  console.log('usage: node dist/bench/flux-forward.js [options]  (see the top of bench/flux-forward.ts)');
  process.exit(0);
}

function int(v: string | undefined, fallback: number, what: string, min = 1): number {
  const n = v === undefined ? fallback : Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${what} must be an integer >= ${min}, got "${v}"`);
  return n;
}

const configName = a.config ?? (a.tiny ? 'flux-tiny' : 'flux-dev');
const config = FLUX_PRESETS[configName];
if (!config)
  throw new Error(`--config: unknown preset "${configName}" (${Object.keys(FLUX_PRESETS).join(', ')})`);
const resList = (a.res ?? (a.tiny ? '128' : '1024,2048')).split(',').map((r) => {
  const n = Number(r);
  if (!Number.isInteger(n) || n <= 0 || n % 16 !== 0)
    throw new Error(`--res: ${r} is not a positive multiple of 16 (8x VAE downsampling x 2x2 patches)`);
  return n;
});
const runs = int(a.runs, a.tiny ? 3 : 10, 'runs');
const warmup = int(a.warmup, a.tiny ? 1 : 2, 'warmup', 0);
const textTokens = int(a.text, a.tiny ? 16 : 512, 'text');
const batch = int(a.batch, 1, 'batch');
const methodSpecs = a.method!.split(',').filter(Boolean);

const be = await GpuBackend.create(deviceOptions(a));
const dtype = (a.dtype ?? (be.caps.f16 ? 'f16' : 'f32')) as 'f16' | 'f32';
if (dtype !== 'f16' && dtype !== 'f32') throw new Error(`--dtype must be f16 or f32, got "${a.dtype}"`);
if (!be.supports(dtype))
  throw new Error(`this adapter (${be.info().description}) has no shader-f16: use --dtype f32`);
const device = be.info().description;
console.log(
  `device: ${device} (${deviceMode(be)}${a['dawn-toggles'] ? `; Dawn toggles ${a['dawn-toggles']}` : ''})`,
);
console.log(`paths: matmul=${be.paths.matmul} attention=${be.paths.attention}`);

const QUANT: Record<string, QuantTypeName | null> = { f16: null, q8_0: 'Q8_0', q4_k: 'Q4_K' };
if (!(a.weights! in QUANT)) throw new Error(`--weights must be f16, q8_0 or q4_k, got "${a.weights}"`);
const quant = QUANT[a.weights!]!;
const maxMemory = byteSize(a['max-memory'], 'max-memory');
const slots = int(a.slots, 2, 'slots');
if (quant) {
  // the quantized matmul kernel may not be there yet: one small product says so before any loading
  const K = ggmlType(quant).blockSize;
  const n = Math.ceil(ggmlBytes(quant, 4 * K) / 4);
  const words = be.tensor(new Uint32Array(n), [n], 'u32');
  const x = be.zeros([2, K], dtype);
  try {
    await be.matmul(x, new QuantizedMatrix(quant, [4, K], words)).read();
  } catch (e) {
    console.error(
      `--weights ${a.weights}: this build cannot multiply by ${quant} weights on WebGPU (${(e as Error).message.split('\n')[0]}); the quantized matmul kernel has to land first`,
    );
    process.exit(2);
  } finally {
    x.dispose();
    words.dispose();
  }
}

let t0 = performance.now();
let model: FluxModel;
if (!quant && maxMemory === undefined) model = FluxModel.random(be, config, { dtype, seed: Number(a.seed) });
else {
  const src = quant
    ? new QuantizedRandomSource(config, quant, Number(a.seed))
    : new RandomWeightSource('random FLUX f16', fluxStoredShapes(config, 'original'), {
        seed: Number(a.seed),
      });
  const largest = Math.max(...resList);
  const maxParamBytes =
    maxMemory === undefined
      ? undefined
      : fluxParamBudget(
          config,
          {
            valueBytes: dtype === 'f16' ? 2 : 4,
            batch,
            imageTokens: (largest / 16) ** 2,
            textTokens,
            quantScratch: !!quant && dequantizesWholeMatrices(be),
          },
          maxMemory,
        );
  model = new FluxModel(be, loadParams(be, src, config, { dtype, maxParamBytes, streamSlots: slots }));
  const plan = model.params.plan;
  console.log(
    `memory plan${maxMemory === undefined ? '' : ` for ${sizeText(maxMemory)} at ${largest}² (parameters ${sizeText(maxParamBytes!)})`}: ${plan ? describePlan(plan, config) : 'all blocks resident'}`,
  );
}
await be.sync();
console.log(
  `${configName}, ${dtype}, random weights${quant ? ` (block matrices ${quant})` : ''}: ${(model.params.bytes / 2 ** 30).toFixed(2)} GiB on the device in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
);

const median = (xs: number[]) => {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

interface Result {
  res: number;
  method: string;
  imageTokens: number;
  textTokens: number;
  runsMs: number[];
  medianMs: number;
  minMs: number;
  /** CPU time to record one forward (median). */
  recordMs: number;
  launches: number;
  finite: boolean;
  peakBytes: number;
  profile:
    | {
        byCategory: Record<KernelCategory, number>;
        totalMs: number;
        top: { kernel: string; ms: number; launches: number }[];
      }
    | { error: string }
    | null;
  pytorchMs?: number;
}
const results: Result[] = [];
/** In order: each method's forward (with the index of its result), then the inputs of its resolution (no result). */
const prepared: { result: number | null; step: () => Tensor; dispose: () => void }[] = [];

for (const res of resList) {
  const side = res / 16;
  const N = side * side;
  const positions = model.positions({ batch, rows: side, cols: side, textTokens });
  const img = be.random([batch, N, config.in_channels], dtype, { seed: 1 });
  const txt = be.random([batch, textTokens, config.context_in_dim], dtype, { seed: 2 });
  const y = be.random([batch, config.vec_in_dim], dtype, { seed: 3 });
  const inputs = {
    img,
    txt,
    y,
    timesteps: new Array(batch).fill(0.5),
    guidance: new Array(batch).fill(3.5),
    positions,
  };
  const methods = methodSpecs.map((spec) => makeMethod(be, spec));
  const steps = methods.map((m) => () => model.forward(inputs, { reducer: m.reducer, pattern: m.pattern }));

  const finite: boolean[] = [];
  be.resetPeakMemory();
  t0 = performance.now();
  for (const step of steps) {
    for (let i = 0; i < Math.max(1, warmup); i++) {
      const out = step();
      if (i === 0) finite.push((await out.read()).every(Number.isFinite));
      else await be.sync();
      out.dispose();
    }
  }
  console.log(
    `${res}²: ${N} image + ${textTokens} text tokens; warm-up of ${methods.length} method(s) ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );

  // Methods interleaved run by run, so a slow phase of the shared card hits them alike.
  const runsMs: number[][] = methods.map(() => []);
  const recordMs: number[][] = methods.map(() => []);
  const launches: number[] = methods.map(() => 0);
  const uploads0 = model.params.streamer?.uploadedBytes ?? 0;
  for (let i = 0; i < runs; i++) {
    for (const [j, step] of steps.entries()) {
      const l0 = be.rt.launchCount;
      t0 = performance.now();
      const out = step();
      recordMs[j]!.push(performance.now() - t0);
      await be.sync();
      runsMs[j]!.push(performance.now() - t0);
      launches[j] = be.rt.launchCount - l0;
      out.dispose();
    }
  }
  if (model.params.streamer)
    console.log(
      `  streamed ${sizeText((model.params.streamer.uploadedBytes - uploads0) / runs / methods.length)} per forward, peak device memory ${sizeText(be.memory().peakBytes)}`,
    );
  for (const [j, m] of methods.entries()) {
    const r: Result = {
      res,
      method: m.name,
      imageTokens: N,
      textTokens,
      runsMs: runsMs[j]!,
      medianMs: median(runsMs[j]!),
      minMs: Math.min(...runsMs[j]!),
      recordMs: median(recordMs[j]!),
      launches: launches[j]!,
      finite: finite[j]!,
      peakBytes: be.memory().peakBytes,
      profile: null,
    };
    if (configName === 'flux-dev' && batch === 1 && textTokens === 512 && PYTORCH_MS[res])
      r.pytorchMs = PYTORCH_MS[res];
    results.push(r);
    prepared.push({ result: results.length - 1, step: steps[j]!, dispose: () => m.dispose() });
    const base = results.find((x) => x.res === res && x.method === 'dense');
    console.log(
      `  ${m.name}: median ${r.medianMs.toFixed(1)} ms (min ${r.minMs.toFixed(1)}) over ${runs} runs${base && base !== r ? `, ${(base.medianMs / r.medianMs).toFixed(2)}x vs dense` : ''}${r.finite ? '' : '  OUTPUT NOT FINITE'}`,
    );
  }
  prepared.push({
    result: null,
    step: () => img,
    dispose: () => {
      for (const t of [img, txt, y, positions]) t.dispose();
    },
  });
}

// Profiling runs last: each launch gets its own timestamped pass, and a failure could leave the
// runtime in profiling mode, so no timed run may follow it.
for (const p of prepared) {
  if (p.result === null) {
    p.dispose();
    continue;
  }
  const step = p.step;
  let profile: Result['profile'] = null;
  if (!a['no-profile']) {
    if (!be.rt.canTime) profile = { error: 'the adapter has no timestamp-query feature' };
    else {
      try {
        be.rt.startTiming();
        const out = step();
        const timings = await be.rt.stopTiming();
        out.dispose();
        const byCategory: Record<KernelCategory, number> = { linear: 0, attention: 0, merge: 0, other: 0 };
        const perKernel = new Map<string, { ms: number; launches: number }>();
        for (const t of timings) {
          byCategory[t.category] += t.ms;
          const k = perKernel.get(t.name) ?? { ms: 0, launches: 0 };
          k.ms += t.ms;
          k.launches++;
          perKernel.set(t.name, k);
        }
        const top = [...perKernel]
          .map(([kernel, v]) => ({ kernel, ...v }))
          .sort((x, y) => y.ms - x.ms)
          .slice(0, 8);
        profile = { byCategory, totalMs: timings.reduce((s, t) => s + t.ms, 0), top };
      } catch (e) {
        profile = { error: (e as Error).message.split('\n')[0]! };
      }
    }
  }
  results[p.result]!.profile = profile;
  p.dispose();
}

const fmt = (v: number | undefined, d = 1) => (v === undefined ? '-' : v.toFixed(d));
const header = [
  'res',
  'method',
  'tokens',
  'median ms',
  'min ms',
  'record ms',
  'launches',
  'linear',
  'attention',
  'merge',
  'other',
  'GPU sum',
  'peak GiB',
  'PyTorch ms',
];
const rows = results.map((r) => {
  const p = r.profile && 'byCategory' in r.profile ? r.profile : null;
  return [
    `${r.res}²`,
    r.method,
    `${r.imageTokens}+${r.textTokens}`,
    fmt(r.medianMs),
    fmt(r.minMs),
    fmt(r.recordMs),
    fmt(r.launches, 0),
    fmt(p?.byCategory.linear),
    fmt(p?.byCategory.attention),
    fmt(p?.byCategory.merge),
    fmt(p?.byCategory.other),
    fmt(p?.totalMs),
    fmt(r.peakBytes / 2 ** 30, 2),
    fmt(r.pytorchMs),
  ];
});
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
console.log(
  `\n${configName} forward, ${dtype}, batch ${batch}, methods ${methodSpecs.join(', ')} (GPU ms per category from one profiled forward)`,
);
console.log(line(header));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const r of rows) console.log(line(r));
for (const r of results) {
  if (r.profile && 'error' in r.profile)
    console.log(`${r.res}² ${r.method}: profiling failed: ${r.profile.error}`);
  else if (r.profile)
    console.log(
      `${r.res}² ${r.method} top kernels: ${r.profile.top.map((k) => `${k.kernel} ${k.ms.toFixed(1)} ms/${k.launches}`).join(', ')}`,
    );
}

if (a.json) {
  const report = {
    bench: 'flux-forward',
    date: new Date().toISOString(),
    device,
    robustnessDisabled: be.caps.robustnessDisabled,
    dawnToggles: (a['dawn-toggles'] ?? '').split(',').filter(Boolean),
    paths: be.paths,
    config: configName,
    dtype,
    weights: a.weights,
    maxMemory: maxMemory ?? null,
    plan: model.params.plan,
    batch,
    methods: methodSpecs,
    runs,
    warmup,
    results,
    pytorchReference:
      'shared/fixtures/README.md: official Flux-dev, bf16, eager PyTorch 2.11, H100, median of 10',
  };
  writeFileSync(a.json, `${JSON.stringify(report, null, 1)}\n`);
  console.log(`wrote ${a.json}`);
}
model.dispose();
be.destroy();
// Exit at once: a timing readback still pending after a failed profile would reject after destroy().
process.exit(0);
