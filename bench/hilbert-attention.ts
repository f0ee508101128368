// Attention-only time, dense vs HilbertA block-sparse, at the Flux-dev head layout (24 heads x 128,
// 512 text tokens) through the engine's attention op with per-query-block key ranges.
//
//   node dist/bench/hilbert-attention.js                 # 64x64 and 128x128 grids (1024², 2048²)
//   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json node dist/bench/hilbert-attention.js --small
//
// Times are GPU timestamps of the attention kernel when the adapter has timestamp-query, else wall time
// around each launch (submit + wait). Each sparse layer phase of the sliding cycle is timed separately.
import { parseArgs } from 'node:util';
import type { KeyRanges } from '../src/backend.js';
import { GpuBackend } from '../src/gpu/backend.js';
import type { ForwardInfo } from '../src/merge/hooks.js';
import { createHilbertPattern } from '../src/sparse/hilbert-pattern.js';
import type { DType, Tensor } from '../src/tensor.js';
import { DEVICE_FLAGS, deviceMode, deviceOptions } from './device-flags.js';

const usage = `usage: node dist/bench/hilbert-attention.js [--small] [--grids 64,128] [--dtype f16|f32]
       [--heads 24] [--head-dim 128] [--text 512] [--reps 10] [--robust]

--small: 2 heads x 64, 32 text tokens, grids 16 and 32, 3 reps (runs on SwiftShader in seconds).`;

const { values } = parseArgs({
  options: {
    small: { type: 'boolean' },
    grids: { type: 'string' },
    dtype: { type: 'string' },
    heads: { type: 'string' },
    'head-dim': { type: 'string' },
    text: { type: 'string' },
    reps: { type: 'string' },
    ...DEVICE_FLAGS,
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const small = !!values.small;
const int = (v: string | undefined, name: string, fallback: number) => {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`--${name} must be a positive integer, got "${v}"\n${usage}`);
  return n;
};
const grids = (values.grids ?? (small ? '16,32' : '64,128')).split(',').map((g) => int(g, 'grids', 0));
const H = int(values.heads, 'heads', small ? 2 : 24);
const D = int(values['head-dim'], 'head-dim', small ? 64 : 128);
const textTokens = int(values.text, 'text', small ? 32 : 512);
const reps = int(values.reps, 'reps', small ? 3 : 10);

const be = await GpuBackend.create(deviceOptions(values));
const dtype = (values.dtype ?? (be.caps.f16 ? 'f16' : 'f32')) as DType;
if (dtype !== 'f16' && dtype !== 'f32') throw new Error(`--dtype must be f16 or f32, got "${dtype}"`);
const timing = be.rt.canTime ? 'GPU timestamps' : 'wall clock (no timestamp-query)';
console.log(
  `${be.info().description} (${deviceMode(be)}); attention path ${be.paths.attention}; ${dtype}; ${H} heads x ${D};`,
);
console.log(`${textTokens} text tokens; median of ${reps} runs after 1 warm-up; ${timing}\n`);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Median milliseconds of one attention launch. */
async function timeAttention(q: Tensor, k: Tensor, v: Tensor, keyRanges?: KeyRanges): Promise<number> {
  be.attention(q, k, v, { keyRanges }).dispose();
  await be.sync();
  const ms: number[] = [];
  if (be.rt.canTime) {
    be.rt.startTiming();
    for (let i = 0; i < reps; i++) be.attention(q, k, v, { keyRanges }).dispose();
    const t = await be.rt.stopTiming();
    for (const e of t) if (e.category === 'attention') ms.push(e.ms);
  } else {
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      be.attention(q, k, v, { keyRanges }).dispose();
      await be.sync();
      ms.push(performance.now() - t0);
    }
  }
  return median(ms);
}

const results: Record<string, unknown>[] = [];
for (const side of grids) {
  const N = side * side;
  const L = textTokens + N;
  const q = be.random([1, H, L, D], dtype, { seed: 1 });
  const k = be.random([1, H, L, D], dtype, { seed: 2 });
  const v = be.random([1, H, L, D], dtype, { seed: 3 });
  const dense = await timeAttention(q, k, v);
  const flops = (n: number) => 4 * n * D * H; // QKᵀ and PV, 2 FLOPs per multiply-add
  console.log(
    `grid ${side}x${side} (L = ${L}): dense ${dense.toFixed(3)} ms, ${(flops(L * L) / dense / 1e6).toFixed(1)} GFLOP/s`,
  );
  const pattern = createHilbertPattern(be);
  const info: ForwardInfo = { step: 0, steps: 1, batch: 1, grid: [side, side], textTokens };
  for (let layer = 0; layer < pattern.options.cycle; layer++) {
    const plan = pattern.plan('double', layer, info, N);
    const kr = pattern.keyRanges('double', layer, info, N)!;
    const sparse = await timeAttention(q, k, v, kr);
    // The same ranges without the outer table: workgroups sized by the block (before 2026-12-06).
    const fineOnly = kr.outer
      ? await timeAttention(q, k, v, { blockSize: kr.blockSize, ranges: kr.ranges })
      : sparse;
    const row = {
      grid: side,
      L,
      layer,
      blockSize: plan.table.blockSize,
      exact: plan.table.supersetRows === 0,
      keysVisited: Number(plan.cost.fraction.toFixed(4)),
      speedupBound: Number(plan.cost.speedupBound.toFixed(3)),
      denseMs: Number(dense.toFixed(3)),
      sparseMs: Number(sparse.toFixed(3)),
      speedup: Number((dense / sparse).toFixed(3)),
      outer: !!kr.outer,
      withoutOuterMs: Number(fineOnly.toFixed(3)),
      speedupWithoutOuter: Number((dense / fineOnly).toFixed(3)),
    };
    results.push(row);
    console.log(
      `  layer phase ${layer}: sparse ${sparse.toFixed(3)} ms, speedup ${row.speedup}x (bound ${row.speedupBound}x,` +
        ` ${(100 * row.keysVisited).toFixed(1)}% of keys, block ${row.blockSize}${row.exact ? ', exact' : ', superset'})` +
        (row.outer
          ? `; without the outer table ${fineOnly.toFixed(3)} ms (${row.speedupWithoutOuter}x)`
          : ''),
    );
  }
  pattern.dispose();
  for (const t of [q, k, v]) t.dispose();
}
console.log(
  `\nJSON ${JSON.stringify({ device: be.info().description, dtype, H, D, textTokens, reps, results })}`,
);
be.destroy();
