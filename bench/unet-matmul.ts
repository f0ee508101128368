// Times matmul_sgm on every matmul shape of the SDXL UNet forward at 1024² (latent 128x128, batch 2 for
// classifier-free guidance) across tile configurations, next to PyTorch's F.linear (fp16, cuBLAS) on
// the same card in a child process, interleaved per shape. Dense token counts and ToMA-merged ones
// (half the tokens in every transformer block body). Prints per shape the fastest configuration and the
// one sgmMatmulConfigFor (Backend.matmul's rule) picks, then the matmul time of one UNet forward, dense
// and merged, for: today's default everywhere, the rule, the best measured configuration per shape, and
// PyTorch. Two FLUX shapes are timed as a guard (the rule must keep the default there). Every variant is
// checked against an f64 reference on sampled output rows.
//
//   node dist/bench/unet-matmul.js [--torch bench/torch_kernels.py] [--reps 2] [--iters 7] [--warmup 2]
//        [--only NAME-SUBSTRING] [--configs 64x256k64,...] [--simt] [--json out.json] [--smoke]
//
// --smoke: tiny shapes in f32, for a software adapter: the tensor-core variants print a skip line (no
// subgroup matrices there) and the SIMT kernel runs, so the script runs end to end (no meaningful times).
// --simt: also time the SIMT kernel on the real shapes. Timings are GPU timestamps around each launch
// (wall clock around a sync without timestamp queries); a variant's number is the median over
// repetitions of each repetition's median.
import { writeFileSync } from 'node:fs';
import { GpuBackend } from '../src/gpu/backend.js';
import {
  checkSgmConfig,
  matmulSimt,
  matmulSubgroupMatrix,
  SGM_MATMUL_DEFAULT,
  type SgmMatmulConfig,
  sgmMatmulConfigFor,
} from '../src/kernels/matmul.js';
import type { Tensor } from '../src/tensor.js';
import { TorchChild } from './torch-child.js';

// ---- arguments -----------------------------------------------------------------------------------
const argv = process.argv.slice(2);
function arg(name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
}
const flag = (name: string) => argv.includes(`--${name}`);
const REPS = Number(arg('reps') ?? 2);
const ITERS = Number(arg('iters') ?? 7);
const WARMUP = Number(arg('warmup') ?? 2);
const SMOKE = flag('smoke');
const SIMT = flag('simt') || SMOKE;
const ONLY = arg('only');
const TORCH = arg('torch');
const JSON_OUT = arg('json');

// ---- the SDXL UNet's matmuls -----------------------------------------------------------------------
interface MatmulShape {
  name: string;
  M: number;
  N: number;
  K: number;
  /** Launches per UNet forward without merging, and with ToMA merging half the tokens of every block. */
  dense: number;
  merged: number;
}

// SDXL base 1.0 (models/configs/stable-diffusion-xl-base-1.0/unet/config.json): block_out_channels
// 320/640/1280 at latent 128/64/32; transformer_layers_per_block [1, 2, 10] but level 0 has no
// attention; 2 attentions per down level, 3 per up level, 1 in the mid block (level 2):
//   level 1 (64² -> 8192 tokens at batch 2, C 640):  (2 + 3) x 2 = 10 blocks in 5 Transformer2DModels
//   level 2 (32² -> 2048 tokens, C 1280):       (2 + 3 + 1) x 10 = 60 blocks in 6 Transformer2DModels
// Per block (src/models/unet/blocks.ts): qkv C->3C, attn1 out C->C, q2 C->C, kv2 from the text
// (batch 2 x 77 tokens, K 2048 -> 2C), attn2 out C->C, GEGLU proj C->8C, ff out 4C->C; per
// Transformer2DModel proj_in and proj_out C->C (on dense tokens). A merge plan runs the block body on
// the merged tokens (M halves); kv2 reads the text and proj_in/out the whole grid, so they keep M.
// ResNet 1x1 shortcuts run through matmul too (as in bench/conv.ts); the 5 time-embedding matmuls
// (M = 2) are left out. 512 + 11 = 523 of the 528 matmul_sgm launches the call-2 profile counted.
const LEVELS = [
  { level: 1, tokens: 2 * 64 * 64, C: 640, blocks: 10, transformers: 5 },
  { level: 2, tokens: 2 * 32 * 32, C: 1280, blocks: 60, transformers: 6 },
];
const TEXT_ROWS = 2 * 77;
const CROSS_DIM = 2048;

function unetShapes(): MatmulShape[] {
  const out: MatmulShape[] = [];
  for (const L of LEVELS) {
    const { C, blocks: n } = L;
    // C->C products: attn1 out, q2, attn2 out per block (merged M) and proj_in/out (dense M)
    const body: [string, number, number][] = [
      ['qkv', 3 * C, C],
      [`${C}->${C} (attn out, q2)`, C, C],
      ['geglu proj', 8 * C, C],
      ['ff out', C, 4 * C],
    ];
    for (const [what, N, K] of body) {
      const per = what.startsWith(`${C}->`) ? 3 * n : n;
      const projs = what.startsWith(`${C}->`) ? 2 * L.transformers : 0;
      out.push({ name: `L${L.level} ${what}`, M: L.tokens, N, K, dense: per + projs, merged: projs });
      out.push({ name: `L${L.level} ${what} merged`, M: L.tokens / 2, N, K, dense: 0, merged: per });
    }
    out.push({ name: `L${L.level} kv2 (text)`, M: TEXT_ROWS, N: 2 * C, K: CROSS_DIM, dense: n, merged: n });
  }
  // ResNet 1x1 shortcuts (M = batch 2 x pixels, N = Cout, K = Cin) and their counts.
  const shortcuts: [number, number, number, number][] = [
    [64, 320, 640, 1],
    [32, 640, 1280, 1],
    [32, 2560, 1280, 2],
    [32, 1920, 1280, 1],
    [64, 1920, 640, 1],
    [64, 1280, 640, 1],
    [64, 960, 640, 1],
    [128, 960, 320, 1],
    [128, 640, 320, 2],
  ];
  for (const [side, cin, cout, count] of shortcuts)
    out.push({
      name: `shortcut ${cin}->${cout} @${side}`,
      M: 2 * side * side,
      N: cout,
      K: cin,
      dense: count,
      merged: count,
    });
  // Guard: FLUX shapes measured in docs/kernels/matmul.md (not part of the UNet totals).
  out.push({ name: 'FLUX qkv 4608·3072->9216', M: 4608, N: 9216, K: 3072, dense: 0, merged: 0 });
  out.push({ name: 'FLUX proj 4608·3072->3072', M: 4608, N: 3072, K: 3072, dense: 0, merged: 0 });
  return out;
}

const SMOKE_SHAPES: MatmulShape[] = [
  { name: 'smoke small-M', M: 40, N: 72, K: 48, dense: 2, merged: 1 },
  { name: 'smoke odd', M: 77, N: 130, K: 72, dense: 1, merged: 1 },
];

/** Candidate tile configurations (all pass checkSgmConfig on the H100's 48 KiB and 1024 threads). */
const cfg = (BM: number, BN: number, BK: number): SgmMatmulConfig => ({
  ...SGM_MATMUL_DEFAULT,
  BM,
  BN,
  BK,
});
const SWEEP: SgmMatmulConfig[] = [
  SGM_MATMUL_DEFAULT,
  cfg(128, 128, 32),
  cfg(128, 256, 32),
  cfg(256, 128, 32),
  cfg(64, 128, 64),
  cfg(128, 64, 64),
  cfg(64, 128, 32),
  cfg(128, 64, 32),
  cfg(64, 64, 64),
  cfg(64, 64, 32),
  cfg(64, 256, 32),
];
const cfgName = (c: SgmMatmulConfig) =>
  `${c.BM}x${c.BN}k${c.BK}${c.STAGES === 2 ? 's2' : ''}${c.PREFETCH ? '' : ' nopf'}${c.GROUP !== 8 ? ` g${c.GROUP}` : ''}`;
const sameCfg = (a: SgmMatmulConfig, b: SgmMatmulConfig) => cfgName(a) === cfgName(b);

/** --configs 64x256k64,256x64k32: more tiles to sweep (BMxBNkBK, the default's stages, prefetch, group). */
function extraConfigs(): SgmMatmulConfig[] {
  const list = arg('configs');
  if (!list) return [];
  return list.split(',').map((t) => {
    const m = /^(\d+)x(\d+)k(\d+)$/.exec(t.trim());
    if (!m) throw new Error(`--configs: "${t}" is not BMxBNkBK (e.g. 64x128k32)`);
    return cfg(Number(m[1]), Number(m[2]), Number(m[3]));
  });
}

/** The sweep, --configs, and whatever the rule picks for a timed shape (so the rule is always timed). */
function candidates(shapes: MatmulShape[]): SgmMatmulConfig[] {
  const all = [...SWEEP, ...extraConfigs(), ...shapes.map((s) => sgmMatmulConfigFor(s.M, s.N, s.K))];
  return all.filter((c, i) => all.findIndex((d) => sameCfg(c, d)) === i);
}
const flops = (s: MatmulShape) => 2 * s.M * s.N * s.K;
const tiles = (s: MatmulShape, c: SgmMatmulConfig) => Math.ceil(s.M / c.BM) * Math.ceil(s.N / c.BN);

// ---- variants ------------------------------------------------------------------------------------
interface Variant {
  label: string;
  /** undefined: PyTorch */
  run?: (be: GpuBackend, x: Tensor, w: Tensor, s: MatmulShape) => Tensor;
  cfg?: SgmMatmulConfig;
}

function variants(configs: SgmMatmulConfig[], torch: boolean): Variant[] {
  const v: Variant[] = [];
  if (SIMT)
    v.push({ label: 'simt', run: (be, x, w, s) => matmulSimt(be, x, w, {}, s.M, s.N, s.K, [s.M, s.N]) });
  for (const c of configs)
    v.push({
      label: cfgName(c),
      cfg: c,
      run: (be, x, w, s) => matmulSubgroupMatrix(be, x, w, {}, s.M, s.N, s.K, [s.M, s.N], c),
    });
  if (torch) v.push({ label: 'pytorch' });
  return v;
}

// ---- inputs and the f64 reference at sampled rows ------------------------------------------------
const sampleRows = (s: MatmulShape) => [...new Set([0, s.M >> 1, s.M - 1])];

async function reference(be: GpuBackend, s: MatmulShape, x: Tensor, w: Tensor): Promise<Float64Array[]> {
  const xv = await be.read(x);
  const wv = await be.read(w);
  return sampleRows(s).map((r) => {
    const out = new Float64Array(s.N);
    for (let n = 0; n < s.N; n++) {
      let acc = 0;
      for (let k = 0; k < s.K; k++) acc += xv[r * s.K + k]! * wv[n * s.K + k]!;
      out[n] = acc;
    }
    return out;
  });
}

/** max |got − want| / max |want| over the sampled rows (NaN counts as infinite). */
async function sampledError(
  be: GpuBackend,
  s: MatmulShape,
  y: Tensor,
  want: Float64Array[],
): Promise<number> {
  let err = 0;
  let scale = 1e-30;
  for (const [i, r] of sampleRows(s).entries()) {
    const slice = be.slice(y, 0, r, 1);
    const row = await be.read(slice);
    slice.dispose();
    for (let n = 0; n < s.N; n++) {
      const d = Math.abs(row[n]! - want[i]![n]!);
      err = Number.isNaN(d) ? Number.POSITIVE_INFINITY : Math.max(err, d);
      scale = Math.max(scale, Math.abs(want[i]![n]!));
    }
  }
  return err / scale;
}

// ---- timing --------------------------------------------------------------------------------------
async function timeOurs(be: GpuBackend, x: Tensor, w: Tensor, s: MatmulShape, v: Variant): Promise<number[]> {
  const once = () => v.run!(be, x, w, s).dispose();
  for (let i = 0; i < WARMUP; i++) once();
  await be.sync();
  if (!be.caps.timestampQuery) {
    const ms: number[] = [];
    for (let i = 0; i < ITERS; i++) {
      const t0 = performance.now();
      once();
      await be.sync();
      ms.push(performance.now() - t0);
    }
    return ms;
  }
  be.rt.startTiming();
  for (let i = 0; i < ITERS; i++) once();
  const t = await be.rt.stopTiming();
  return t.filter((k) => k.category === 'linear').map((k) => k.ms);
}

const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

// ---- main ----------------------------------------------------------------------------------------
interface Row {
  shape: MatmulShape;
  variant: string;
  ms: number;
  tflops: number;
  repMs: number[];
  err?: number;
}

async function main() {
  const be = await GpuBackend.create({ robust: false });
  const sgm = be.paths.matmul === 'subgroup-matrix';
  console.log(`${be.info().description}; paths ${JSON.stringify(be.paths)}`);
  if (!sgm && !SMOKE)
    throw new Error('this adapter has no subgroup matrices (try --smoke for a software adapter)');
  const torch = TORCH ? await TorchChild.start(TORCH) : undefined;
  if (torch) console.log(`PyTorch: ${JSON.stringify(torch.hello)}`);
  const dtype = sgm ? 'f16' : 'f32';
  const shapes = (SMOKE ? SMOKE_SHAPES : unetShapes()).filter((s) => !ONLY || s.name.includes(ONLY));
  const configs = candidates(shapes);
  if (sgm) for (const c of configs) checkSgmConfig(be, c); // a bad --configs entry fails here, clearly
  const vs = variants(configs, !!torch);
  if (!sgm)
    console.log(
      `skip: ${configs.length} tensor-core configurations (${configs.map(cfgName).join(', ')}): the adapter has no subgroup matrices`,
    );

  // Clocks ramp up under load (docs/kernels/matmul.md, run 1): warm the card before measuring.
  const warmSeconds = Number(arg('warm-s') ?? (SMOKE ? 0 : 3));
  if (warmSeconds > 0 && sgm) {
    const s = shapes.find((x) => x.name.includes('geglu')) ?? shapes[0]!;
    const x = be.random([s.M, s.K], dtype, { seed: 1 });
    const w = be.random([s.N, s.K], dtype, { seed: 2 });
    const t0 = performance.now();
    while (performance.now() - t0 < warmSeconds * 1000) {
      for (let i = 0; i < 10; i++) matmulSubgroupMatrix(be, x, w, {}, s.M, s.N, s.K, [s.M, s.N]).dispose();
      await be.sync();
    }
    x.dispose();
    w.dispose();
  }

  const rows: Row[] = [];
  for (const s of shapes) {
    const x = be.random([s.M, s.K], dtype, { seed: 11 });
    const w = be.random([s.N, s.K], dtype, { seed: 12, std: 1 / Math.sqrt(s.K) });
    const want = await reference(be, s, x, w);
    const per = new Map<string, number[][]>();
    const errs = new Map<string, number>();
    for (let rep = 0; rep < REPS; rep++) {
      // rotate the order every repetition so no variant always runs first
      const order = vs.map((_, i) => vs[(i + rep) % vs.length]!);
      for (const v of order) {
        if (v.cfg && !sgm) continue;
        let ms: number[] = [];
        try {
          if (!v.run)
            ms = await torch!.time({ op: 'matmul', M: s.M, N: s.N, K: s.K, iters: ITERS, warmup: WARMUP });
          else {
            if (!errs.has(v.label)) {
              // poisoned output (NaN) for the checked run: rows a configuration never writes fail
              be.rt.poison = true;
              const y = v.run(be, x, w, s);
              be.rt.poison = false;
              errs.set(v.label, await sampledError(be, s, y, want));
              y.dispose();
            }
            ms = await timeOurs(be, x, w, s, v);
          }
        } catch (e) {
          console.log(`${s.name} ${v.label}: FAILED ${(e as Error).message.split('\n')[0]}`);
        }
        if (!per.has(v.label)) per.set(v.label, []);
        per.get(v.label)!.push(ms);
      }
    }
    x.dispose();
    w.dispose();
    const pick = sgmMatmulConfigFor(s.M, s.N, s.K);
    console.log(
      `\n${s.name}  M=${s.M} N=${s.N} K=${s.K}  x${s.dense} dense, x${s.merged} merged  ${(flops(s) / 1e9).toFixed(2)} GFLOP` +
        `  rule: ${cfgName(pick)} (${tiles(s, pick)} workgroups; default ${tiles(s, SGM_MATMUL_DEFAULT)})`,
    );
    for (const v of vs) {
      const reps = (per.get(v.label) ?? []).filter((r) => r.length);
      if (!reps.length) continue;
      const repMs = reps.map(median);
      const ms = median(repMs);
      const row: Row = {
        shape: s,
        variant: v.label,
        ms,
        tflops: flops(s) / ms / 1e9,
        repMs,
        err: errs.get(v.label),
      };
      rows.push(row);
      const mark = v.cfg && sameCfg(v.cfg, pick) ? ' <- rule' : '';
      console.log(
        `  ${v.label.padEnd(12)}${ms.toFixed(4).padStart(9)} ms${row.tflops.toFixed(1).padStart(8)} TFLOP/s` +
          `   reps ${repMs.map((t) => t.toFixed(4)).join('/')}${row.err === undefined ? '' : `   err ${row.err.toExponential(2)}`}${mark}`,
      );
    }
  }
  torch?.stop();

  // ---- summary: per-shape winners and one UNet forward's matmuls ----
  const find = (s: MatmulShape, label: string) => rows.find((r) => r.shape === s && r.variant === label);
  const OK_ERR = SMOKE ? 1e-4 : 8e-3;
  const bestOurs = (s: MatmulShape) =>
    rows
      .filter((r) => r.shape === s && configs.some((c) => cfgName(c) === r.variant) && (r.err ?? 0) < OK_ERR)
      .sort((a, b) => a.ms - b.ms)[0];
  console.log("\nper-shape winners (ms per launch; rule = sgmMatmulConfigFor, Backend.matmul's choice):");
  const head = ['shape', 'M', 'N', 'K', 'default', 'rule', 'best', 'pytorch', 'best/default'];
  const table: string[][] = [];
  const totals = {
    dense: { default: 0, rule: 0, best: 0, torch: 0, simt: 0 },
    merged: { default: 0, rule: 0, best: 0, torch: 0, simt: 0 },
  };
  const complete = { ours: sgm, torch: !!torch };
  for (const s of shapes) {
    const def = find(s, cfgName(SGM_MATMUL_DEFAULT));
    const pick = sgmMatmulConfigFor(s.M, s.N, s.K);
    const rule = find(s, cfgName(pick));
    const best = bestOurs(s);
    const pt = find(s, 'pytorch');
    if (!def || !rule || !best) complete.ours = false;
    if (!pt) complete.torch = false;
    for (const mode of ['dense', 'merged'] as const) {
      const n = s[mode];
      totals[mode].default += n * (def?.ms ?? 0);
      totals[mode].rule += n * (rule?.ms ?? 0);
      totals[mode].best += n * (best?.ms ?? 0);
      totals[mode].torch += n * (pt?.ms ?? 0);
      totals[mode].simt += n * (find(s, 'simt')?.ms ?? 0);
    }
    const cell = (r: Row | undefined) => (r ? `${r.ms.toFixed(4)} (${r.tflops.toFixed(0)})` : '-');
    table.push([
      s.name,
      String(s.M),
      String(s.N),
      String(s.K),
      cell(def),
      rule ? `${cfgName(pick)} ${cell(rule)}` : `${cfgName(pick)} -`,
      best ? `${best.variant} ${cell(best)}` : '-',
      cell(pt),
      def && best ? `${(best.ms / def.ms).toFixed(2)}` : '-',
    ]);
    if (best) console.log(`winner ${s.name} M=${s.M} N=${s.N} K=${s.K}: ${best.variant}`);
  }
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log(`\nms (TFLOP/s) per launch\n${line(head)}`);
  for (const r of table) console.log(line(r));
  for (const mode of ['dense', 'merged'] as const) {
    const t = totals[mode];
    const launches = shapes.reduce((a, s) => a + s[mode], 0);
    const gflop = shapes.reduce((a, s) => a + s[mode] * flops(s), 0) / 1e9;
    console.log(
      `\nmatmuls of one SDXL UNet forward, ${mode === 'dense' ? 'dense' : 'ToMA-merged (half the tokens in every block body)'}: ${launches} launches, ${gflop.toFixed(0)} GFLOP`,
    );
    if (!complete.ours) console.log('  (some tensor-core variants did not run: totals below are partial)');
    console.log(`  default 128x128k64 everywhere: ${t.default.toFixed(2)} ms`);
    console.log(`  sgmMatmulConfigFor (the rule): ${t.rule.toFixed(2)} ms`);
    console.log(`  best measured config per shape: ${t.best.toFixed(2)} ms`);
    if (complete.torch) console.log(`  PyTorch F.linear:              ${t.torch.toFixed(2)} ms`);
    if (SIMT) console.log(`  SIMT kernel:                   ${t.simt.toFixed(2)} ms`);
  }
  const guard = shapes.filter((s) => s.name.startsWith('FLUX'));
  for (const s of guard) {
    const same = sameCfg(sgmMatmulConfigFor(s.M, s.N, s.K), SGM_MATMUL_DEFAULT);
    console.log(`guard ${s.name}: rule ${same ? 'keeps the default' : 'CHANGES the default'}`);
  }

  if (JSON_OUT) {
    writeFileSync(
      JSON_OUT,
      JSON.stringify(
        {
          date: new Date().toISOString(),
          adapter: be.info().description,
          torch: torch?.hello,
          reps: REPS,
          iters: ITERS,
          rows: rows.map((r) => ({
            ...r,
            rule: cfgName(sgmMatmulConfigFor(r.shape.M, r.shape.N, r.shape.K)),
          })),
          totals,
        },
        null,
        1,
      ),
    );
    console.log(`wrote ${JSON_OUT}`);
  }
  be.destroy();
}

await main();
