// Times the token-reduction ops on the GPU with timestamp queries: ToMA selection, weights, merge,
// unmerge (and the fused selection + weights), ToMeSD matching / plan / merge / unmerge, ToDo K/V
// pooling, and a copy-like kernel (x * 1: read + write x) as the memory roofline on this machine.
//
//   node dist/bench/toma-ops.js                 Flux scale: B=1, 64x64 and 128x128 grids, C=3072, f16
//   node dist/bench/toma-ops.js --small         small shapes that run on SwiftShader (f32)
//   options: --grids 64,128  --ratios 0.25,0.5,0.75  --channels 3072  --dtype f16|f32  --reps 20
//            --methods toma,tomesd,todo  --json out.json  --robust
//
// Each op runs once to compile, then `reps` times inside one timing window; an op's time is the sum of
// its kernels' GPU times, median over the repetitions. GB/s counts the bytes an op must move at least.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { table } from '../src/cli/args.js';
import { tomesdPartition } from '../src/cpu/tomesd.js';
import { GpuBackend } from '../src/gpu/backend.js';
import { TileLayout } from '../src/merge/tile-layout.js';
import { todoDownsample } from '../src/merge/todo.js';
import {
  tomaMerge,
  tomaRope,
  tomaSelect,
  tomaSelectAndWeigh,
  tomaUnmerge,
  tomaWeights,
} from '../src/merge/toma.js';
import { tomesdMatch, tomesdMerge, tomesdPlan, tomesdUnmerge, uploadPartition } from '../src/merge/tomesd.js';
import { tomesdMergeCount } from '../src/merge/tomesd-reducer.js';
import type { DType, Tensor } from '../src/tensor.js';
import { DEVICE_FLAGS, deviceMode, deviceOptions } from './device-flags.js';

const { values: a } = parseArgs({
  options: {
    small: { type: 'boolean' },
    grids: { type: 'string' },
    ratios: { type: 'string' },
    channels: { type: 'string' },
    dtype: { type: 'string' },
    reps: { type: 'string' },
    methods: { type: 'string' },
    json: { type: 'string' },
    ...DEVICE_FLAGS,
  },
});
const list = (s: string | undefined, d: string) => (s ?? d).split(',').map((v) => v.trim());
const grids = list(a.grids, a.small ? '16,24' : '64,128').map(Number);
const ratios = list(a.ratios, '0.25,0.5,0.75').map(Number);
const C = Number(a.channels ?? (a.small ? 256 : 3072));
const reps = Number(a.reps ?? (a.small ? 3 : 20));
const methods = new Set(list(a.methods, 'toma,tomesd,todo'));
const HEAD_DIM = 128;

const be = await GpuBackend.create(deviceOptions(a));
const dtype = (a.dtype ?? (be.caps.f16 && !a.small ? 'f16' : 'f32')) as DType;
if (!be.supports(dtype))
  throw new Error(`this adapter cannot run ${dtype} (shader-f16 missing); use --dtype f32`);
const bytes = dtype === 'f16' ? 2 : 4;
console.log(
  `${be.info().description} (${deviceMode(be)}); ${dtype}, C=${C}, B=1, ${reps} reps, timing: ${be.rt.canTime ? 'GPU timestamps' : 'wall clock'}`,
);

interface Row {
  op: string;
  grid: string;
  ratio: number | null;
  tokens: number;
  ms: number;
  gbps: number;
}
const rows: Row[] = [];
const gb = (v: number) => (v < 10 ? v.toFixed(2) : v.toFixed(0));

function median(v: number[]): number {
  const s = [...v].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** Median GPU ms of one call of fn (which launches the same kernels each time). */
async function time(fn: () => void): Promise<number> {
  be.tidy(fn); // compile + warm up
  await be.sync();
  if (!be.rt.canTime) {
    const t: number[] = [];
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      be.tidy(fn);
      await be.sync();
      t.push(performance.now() - t0);
    }
    return median(t);
  }
  be.rt.startTiming();
  for (let i = 0; i < reps; i++) be.tidy(fn);
  const k = await be.rt.stopTiming();
  const per = k.length / reps;
  const sums: number[] = [];
  for (let i = 0; i < reps; i++) sums.push(k.slice(i * per, (i + 1) * per).reduce((s, t) => s + t.ms, 0));
  return median(sums);
}

async function record(
  op: string,
  grid: number,
  ratio: number | null,
  tokens: number,
  moved: number,
  fn: () => void,
) {
  const ms = await time(fn);
  const row = { op, grid: `${grid}x${grid}`, ratio, tokens, ms, gbps: moved / (ms * 1e6) };
  rows.push(row);
  console.log(
    `  ${op.padEnd(26)} ${row.grid.padEnd(8)} ratio ${ratio ?? '-'}  ${ms.toFixed(3)} ms  ${gb(row.gbps)} GB/s`,
  );
}

for (const g of grids) {
  const N = g * g;
  const row = N * C * bytes;
  const x = be.keep(be.random([1, N, C], dtype, { seed: 1 }));
  await record('copy (x*1, roofline)', g, null, N, 2 * row, () => {
    be.scale(x, 1);
  });
  for (const ratio of ratios) {
    if (methods.has('toma')) {
      const L = new TileLayout(g, g, 4, ratio);
      const mrow = L.tokens * C * bytes;
      const sel = tomaSelectAndWeigh(be, x, L, 1000);
      for (const t of [sel.dst, sel.p, sel.m]) be.keep(t);
      const y = be.keep(tomaMerge(be, x, sel.m, L));
      const table = be.keep(be.random([1, N, HEAD_DIM / 2, 2], 'f32', { seed: 2 }));
      await record('toma select', g, ratio, L.tokens, row, () => {
        tomaSelect(be, x, L);
      });
      await record('toma weights', g, ratio, L.tokens, row, () => {
        tomaWeights(be, x, sel.dst, L, 1000);
      });
      await record('toma select+weights', g, ratio, L.tokens, row, () => {
        tomaSelectAndWeigh(be, x, L, 1000);
      });
      await record('toma merge', g, ratio, L.tokens, row + mrow, () => {
        tomaMerge(be, x, sel.m, L);
      });
      await record('toma unmerge', g, ratio, L.tokens, row + mrow, () => {
        tomaUnmerge(be, y, sel.p, L);
      });
      await record('toma rope rows', g, ratio, L.tokens, L.tokens * HEAD_DIM * 4 * 2, () => {
        tomaRope(be, table, sel.dst, L);
      });
      for (const t of [sel.dst, sel.p, sel.m, y, table]) t.dispose();
    }
    if (methods.has('tomesd')) {
      const r = tomesdMergeCount(g, g, 4, ratio);
      const part = uploadPartition(be, tomesdPartition(g, g, 0));
      be.keep(part.src);
      be.keep(part.dst);
      const plan = be.tidy(() => tomesdPlan(be, tomesdMatch(be, x, part), part, r));
      const keep = [plan.order, plan.rowOf, plan.repIdx, plan.list, plan.groupStart, plan.groupCount];
      for (const t of keep) be.keep(t);
      const y = be.keep(tomesdMerge(be, x, part, plan));
      const mrow = plan.tokens * C * bytes;
      await record('tomesd match (incl. matmul)', g, ratio, plan.tokens, row, () => {
        tomesdMatch(be, x, part);
      });
      const match = tomesdMatch(be, x, part);
      be.keep(match.nodeMax);
      be.keep(match.nodeIdx);
      await record('tomesd plan (rank, group)', g, ratio, plan.tokens, 0, () => {
        tomesdPlan(be, match, part, r);
      });
      await record('tomesd merge', g, ratio, plan.tokens, row + mrow, () => {
        tomesdMerge(be, x, part, plan);
      });
      await record('tomesd unmerge (gather)', g, ratio, plan.tokens, row + mrow, () => {
        tomesdUnmerge(be, y, plan);
      });
      for (const t of [...keep, y, part.src, part.dst, match.nodeMax, match.nodeIdx]) t.dispose();
    }
  }
  if (methods.has('todo')) {
    const heads = Math.max(1, Math.floor(C / HEAD_DIM));
    const D = C / heads;
    const k: Tensor = be.keep(be.random([1, heads, N, D], dtype, { seed: 3 }));
    await record('todo pool (one of K, V)', g, null, N / 4, row * 1.25, () => {
      todoDownsample(be, k, [g, g]);
    });
    k.dispose();
  }
  x.dispose();
}

console.log(
  `\n${table(
    ['op', 'grid', 'ratio', 'tokens', 'ms', 'GB/s'],
    rows.map((r) => [
      r.op,
      r.grid,
      r.ratio === null ? '-' : String(r.ratio),
      String(r.tokens),
      r.ms.toFixed(3),
      gb(r.gbps),
    ]),
  )}`,
);
if (a.json) {
  writeFileSync(
    a.json,
    JSON.stringify(
      { device: be.info().description, robustnessDisabled: be.caps.robustnessDisabled, dtype, C, reps, rows },
      null,
      1,
    ),
  );
  console.log(`wrote ${a.json}`);
}
be.destroy();
process.exit(0);
