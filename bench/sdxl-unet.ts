// SDXL UNet forward benchmark on the WebGPU backend: the release config (models/configs/
// stable-diffusion-xl-base-1.0/unet/config.json), random weights made on the GPU, batch 2 (classifier-free
// guidance's two halves), 77 text tokens of 2,048 channels, pooled 1,280, six time ids. Per resolution:
// warm-up forwards, the median of --runs GPU-synced wall-clock forwards, then one profiled forward with
// per-kernel GPU timestamps (by category and the top kernels).
//
//   node dist/bench/sdxl-unet.js [--res 1024,512] [--runs 10] [--warmup 2] [--batch 2] [--dtype f16|f32]
//     [--method dense,toma:0.5,tomesd:0.5,todo] [--tiny] [--no-profile] [--json out.json] [--robust]
//     [--dawn-toggles a,b]
//
// --method: token reduction on the UNet's transformer blocks (createUnetReducer, UNet defaults: every
// forward reduces), as configurations like `toma eval` takes, UNet options included:
// "toma:0.5@scope=self-attention", "toma:0.5@levels=1", "tomesd:0.5@levels=1,2". Methods run interleaved
// run by run, so a slow phase of the card hits them alike; each reports its speed-up over dense.
//
// --tiny: the sdxl_unet_a fixture's structure (channels 8/16/24) at 128², small enough for SwiftShader.
// --torch-json FILE: the JSON bench/sdxl_torch.py wrote in the same device call (diffusers' UNet, the same
// config, fp16, eager and torch.compile); each result then carries PyTorch's times and our ratio to them.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { GpuBackend } from '../src/gpu/backend.js';
import type { KernelCategory } from '../src/gpu/runtime.js';
import type { UnetTokenReducer } from '../src/merge/hooks.js';
import { createUnetReducer } from '../src/merge/reducers.js';
import { type UnetConfig, UnetModel, unetConfigFromJson } from '../src/models/unet/index.js';
import { configLabel, parseConfig } from '../src/pipeline/methods.js';
import { DEVICE_FLAGS, deviceMode, deviceOptions } from './device-flags.js';

const { values: a } = parseArgs({
  options: {
    res: { type: 'string' },
    runs: { type: 'string' },
    warmup: { type: 'string' },
    batch: { type: 'string', default: '2' },
    dtype: { type: 'string' },
    method: { type: 'string', default: 'dense' },
    'torch-json': { type: 'string' },
    tiny: { type: 'boolean', default: false },
    'no-profile': { type: 'boolean', default: false },
    json: { type: 'string' },
    seed: { type: 'string', default: '0' },
    ...DEVICE_FLAGS,
    help: { type: 'boolean', short: 'h' },
  },
});
if (a.help) {
  console.log('usage: node dist/bench/sdxl-unet.js [options]  (see the top of bench/sdxl-unet.ts)');
  process.exit(0);
}
function int(v: string | undefined, fallback: number, what: string, min = 1): number {
  const n = v === undefined ? fallback : Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${what} must be an integer >= ${min}, got "${v}"`);
  return n;
}

const here = dirname(fileURLToPath(import.meta.url));
const releaseConfig = JSON.parse(
  readFileSync(join(here, '../../models/configs/stable-diffusion-xl-base-1.0/unet/config.json'), 'utf8'),
);
const tinyConfig: UnetConfig = {
  ...unetConfigFromJson(releaseConfig),
  block_out_channels: [8, 16, 24],
  down_transformer_layers: [
    [0, 0],
    [1, 1],
    [2, 2],
  ],
  up_transformer_layers: [
    [2, 2, 2],
    [1, 1, 1],
    [0, 0, 0],
  ],
  mid_transformer_layers: 2,
  num_attention_heads: [1, 2, 3],
  cross_attention_dim: 32,
  norm_num_groups: 4,
  timestep_input_dim: 8,
  time_embed_dim: 32,
  addition_time_embed_dim: 8,
  projection_class_embeddings_input_dim: 24 + 6 * 8,
};
const config = a.tiny ? tinyConfig : unetConfigFromJson(releaseConfig);
const pooledWidth = config.projection_class_embeddings_input_dim - 6 * config.addition_time_embed_dim;
const resList = (a.res ?? (a.tiny ? '128' : '1024')).split(',').map((r) => {
  const n = Number(r);
  if (!Number.isInteger(n) || n <= 0 || n % 32 !== 0)
    throw new Error(
      `--res: ${r} is not a positive multiple of 32 (8x VAE downsampling x 2 UNet downsamplings)`,
    );
  return n;
});
const runs = int(a.runs, a.tiny ? 3 : 10, 'runs');
const warmup = int(a.warmup, a.tiny ? 1 : 2, 'warmup', 0);
const batch = int(a.batch, 2, 'batch');
const textTokens = 77;
const methodConfigs = a.method!.split(',').map((text) => {
  const k = parseConfig(text);
  if (k.method !== 'dense' && k.method !== 'toma' && k.method !== 'tomesd' && k.method !== 'todo')
    throw new Error(`--method: ${k.method} has no UNet form (dense, toma, tomesd, todo)`);
  if (k.cache) throw new Error(`--method "${text}": step caches are not benchmarked here`);
  return { ...k, method: k.method };
});

/** diffusers' UNet times from bench/sdxl_torch.py's JSON, by resolution. */
const torchUnet: Record<string, { eager_ms?: number; compile_ms?: number }> | undefined = a['torch-json']
  ? JSON.parse(readFileSync(a['torch-json'], 'utf8')).unet
  : undefined;

const be = await GpuBackend.create(deviceOptions(a));
const dtype = (a.dtype ?? (be.caps.f16 ? 'f16' : 'f32')) as 'f16' | 'f32';
if (dtype !== 'f16' && dtype !== 'f32') throw new Error(`--dtype must be f16 or f32, got "${a.dtype}"`);
if (!be.supports(dtype))
  throw new Error(`this adapter (${be.info().description}) has no shader-f16: use --dtype f32`);
console.log(`device: ${be.info().description} (${deviceMode(be)})`);
console.log(`paths: ${JSON.stringify(be.paths)}`);

let t0 = performance.now();
const model = UnetModel.random(be, config, { dtype, seed: Number(a.seed) });
await be.sync();
console.log(
  `${a.tiny ? 'tiny' : 'SDXL base 1.0'} UNet, ${dtype}, random weights: ${(model.deviceBytes / 2 ** 30).toFixed(2)} GiB on the device in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
);

const median = (xs: number[]) => {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

interface Result {
  res: number;
  method: string;
  /** Median of dense over this method's (when dense ran too). */
  speedup?: number;
  latent: number;
  batch: number;
  runsMs: number[];
  medianMs: number;
  minMs: number;
  recordMs: number;
  launches: number;
  finite: boolean;
  peakBytes: number;
  pytorchEagerMs?: number;
  pytorchCompileMs?: number;
  profile:
    | {
        byCategory: Record<KernelCategory, number>;
        totalMs: number;
        top: { kernel: string; ms: number; launches: number }[];
      }
    | { error: string }
    | null;
}
const results: Result[] = [];

for (const res of resList) {
  const side = res / 8;
  const inputs = {
    sample: be.random([batch, side, side, config.in_channels], dtype, { seed: 1 }),
    timesteps: Array.from({ length: batch }, () => 500),
    encoderHiddenStates: be.random([batch, textTokens, config.cross_attention_dim], dtype, { seed: 2 }),
    textEmbeds: be.random([batch, pooledWidth], dtype, { seed: 3 }),
    timeIds: Array.from({ length: batch }, () => [res, res, 0, 0, res, res]).flat(),
  };
  const methods = methodConfigs.map((k) => {
    const reducer: UnetTokenReducer | undefined =
      k.method === 'dense'
        ? undefined
        : createUnetReducer(be, {
            ...k.schedule,
            method: k.method,
            ...(k.ratio === null ? {} : { ratio: k.ratio }),
          });
    return { label: configLabel(k), reducer, forward: () => model.forward(inputs, { reducer }) };
  });
  be.resetPeakMemory();
  t0 = performance.now();
  const finite: boolean[] = [];
  for (const m of methods) {
    for (let i = 0; i < Math.max(1, warmup); i++) {
      const out = m.forward();
      if (i === 0) finite.push((await out.read()).every(Number.isFinite));
      else await be.sync();
      out.dispose();
    }
  }
  console.log(
    `${res}² (latent ${side}x${side}), batch ${batch}: warm-up of ${methods.length} method(s) ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  const runsMs: number[][] = methods.map(() => []);
  const recordMs: number[][] = methods.map(() => []);
  const launches: number[] = methods.map(() => 0);
  for (let i = 0; i < runs; i++) {
    for (const [j, m] of methods.entries()) {
      const l0 = be.rt.launchCount;
      t0 = performance.now();
      const out = m.forward();
      recordMs[j]!.push(performance.now() - t0);
      await be.sync();
      runsMs[j]!.push(performance.now() - t0);
      launches[j] = be.rt.launchCount - l0;
      out.dispose();
    }
  }
  const denseAt = methods.findIndex((m) => m.label === 'dense');
  for (const [j, m] of methods.entries()) {
    const r: Result = {
      res,
      method: m.label,
      latent: side,
      batch,
      runsMs: runsMs[j]!,
      medianMs: median(runsMs[j]!),
      minMs: Math.min(...runsMs[j]!),
      recordMs: median(recordMs[j]!),
      launches: launches[j]!,
      finite: finite[j]!,
      peakBytes: be.memory().peakBytes,
      profile: null,
    };
    if (denseAt >= 0) r.speedup = median(runsMs[denseAt]!) / r.medianMs;
    if (!a.tiny && batch === 2 && dtype === 'f16') {
      const t = torchUnet?.[String(res)];
      if (t) {
        r.pytorchEagerMs = t.eager_ms;
        r.pytorchCompileMs = t.compile_ms;
      }
    }
    results.push(r);
  }
  // profiled forwards last (a failure could leave the runtime in profiling mode)
  for (const [j, m] of methods.entries()) {
    const r = results[results.length - methods.length + j]!;
    if (!a['no-profile']) {
      if (!be.rt.canTime) r.profile = { error: 'the adapter has no timestamp-query feature' };
      else {
        try {
          be.rt.startTiming();
          const out = m.forward();
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
            .slice(0, 14);
          r.profile = { byCategory, totalMs: timings.reduce((s, t) => s + t.ms, 0), top };
        } catch (e) {
          r.profile = { error: (e as Error).message.split('\n')[0]! };
        }
      }
    }
    m.reducer?.dispose();
    const vs = r.pytorchEagerMs
      ? `; PyTorch eager ${r.pytorchEagerMs.toFixed(1)} ms (ours ${(r.medianMs / r.pytorchEagerMs).toFixed(2)}x its time), torch.compile ${r.pytorchCompileMs?.toFixed(1)} ms`
      : '';
    const sp = r.speedup !== undefined && m.label !== 'dense' ? `, ${r.speedup.toFixed(2)}x vs dense` : '';
    console.log(
      `  ${m.label}: median ${r.medianMs.toFixed(1)} ms (min ${r.minMs.toFixed(1)})${sp}, record ${r.recordMs.toFixed(1)} ms, ${r.launches} launches, peak ${(r.peakBytes / 2 ** 30).toFixed(2)} GiB${vs}${r.finite ? '' : '  OUTPUT NOT FINITE'}`,
    );
    const p = r.profile;
    if (p && 'byCategory' in p) {
      const c = p.byCategory;
      console.log(
        `    profiled GPU sum ${p.totalMs.toFixed(1)} ms: linear ${c.linear.toFixed(1)}, attention ${c.attention.toFixed(1)}, merge ${c.merge.toFixed(1)}, other ${c.other.toFixed(1)}`,
      );
      for (const k of p.top)
        console.log(
          `      ${k.kernel.padEnd(28)} ${k.ms.toFixed(2).padStart(8)} ms  ${String(k.launches).padStart(5)} launches`,
        );
    } else if (p) console.log(`    profile: ${p.error}`);
  }
  for (const t of [inputs.sample, inputs.encoderHiddenStates, inputs.textEmbeds]) t.dispose();
}

if (a.json) {
  writeFileSync(
    a.json,
    `${JSON.stringify({ device: be.info().description, mode: deviceMode(be), paths: be.paths, dtype, results }, null, 2)}\n`,
  );
  console.log(`wrote ${a.json}`);
}
model.dispose();
be.destroy();
