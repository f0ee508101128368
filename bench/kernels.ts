// Times the tensor-core matmul and attention kernels against PyTorch on the same card, on Flux
// shapes, with and without Dawn's robustness (bounds clamps), interleaved and repeated in one
// process. PyTorch runs as a child process (bench/torch_kernels.py --serve) so every repetition
// times ours and theirs back to back. Each of our variants is also checked against an f64 CPU
// reference on sampled output rows.
//
//   node dist/bench/kernels.js [--torch bench/torch_kernels.py] [--reps 3] [--iters 10]
//        [--sweep] [--only matmul|attention] [--quick] [--json results.json] [--robust]
//
// Both modes are timed by default (robustness off is Node's default; on is what browsers run);
// --robust times only robustness on. --unsafe-disable-robustness is accepted (it was the opt-in for
// the second device, which now always runs).
//
// --sweep times tile configurations of the matmul and attention variants instead of the default
// kernels (robustness off). Timings are GPU timestamps around each launch; a shape's number is the
// median over repetitions of each repetition's median. --warm-s (default 3) runs the first shape for
// that long before measuring, so the clocks have ramped up.
import { writeFileSync } from 'node:fs';
import { GpuBackend } from '../src/gpu/backend.js';
import { attentionSimt, attentionSubgroupMatrix } from '../src/kernels/attention.js';
import {
  matmulSimt,
  matmulSubgroupMatrix,
  SGM_MATMUL_DEFAULT,
  type SgmMatmulConfig,
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
const REPS = Number(arg('reps') ?? 3);
const ITERS = Number(arg('iters') ?? 10);
const WARMUP = Number(arg('warmup') ?? 3);
const SWEEP = flag('sweep');
const QUICK = flag('quick');
const ONLY = arg('only');
const TORCH = arg('torch');
const JSON_OUT = arg('json');
// Tiny shapes (f32 where the adapter has no f16): exercises this script on a software adapter.
const SMOKE = flag('smoke');
const ROBUST_ONLY = flag('robust');

// ---- what is timed -------------------------------------------------------------------------------
interface MatmulShape {
  op: 'matmul';
  name: string;
  M: number;
  N: number;
  K: number;
}
interface AttentionShape {
  op: 'attention';
  name: string;
  B: number;
  H: number;
  L: number;
  D: number;
}
type Shape = MatmulShape | AttentionShape;

const mm = (name: string, M: number, K: number, N: number): MatmulShape => ({ op: 'matmul', name, M, N, K });
const att = (name: string, H: number, L: number, D: number): AttentionShape => ({
  op: 'attention',
  name,
  B: 1,
  H,
  L,
  D,
});

// Flux-dev at 1024² (4096 image + 512 text tokens) and 2048² (16384 + 512): hidden 3072, MLP 12288,
// fused single-block projection 15360 -> 3072; joint attention over 24 heads of 128.
const FLUX_SHAPES: Shape[] = [
  mm('qkv 1024²', 4608, 3072, 9216),
  mm('proj 1024²', 4608, 3072, 3072),
  mm('mlp up 1024²', 4608, 3072, 12288),
  mm('mlp down 1024²', 4608, 12288, 3072),
  mm('single out 1024²', 4608, 15360, 3072),
  mm('mlp up 2048²', 16896, 3072, 12288),
  mm('single out 2048²', 16896, 15360, 3072),
  mm('square 4096³', 4096, 4096, 4096),
  att('joint attn 1024²', 24, 4608, 128),
  att('joint attn 2048²', 24, 16896, 128),
  att('attn d64', 24, 4608, 64),
];
const SMOKE_SHAPES: Shape[] = [mm('smoke mm', 70, 40, 50), att('smoke attn', 2, 40, 64)];
const QUICK_SHAPES = new Set(['mlp up 1024²', 'mlp down 1024²', 'square 4096³', 'joint attn 1024²']);

const SWEEP_CONFIGS: SgmMatmulConfig[] = [
  SGM_MATMUL_DEFAULT,
  { BM: 128, BN: 128, BK: 64, STAGES: 1, PREFETCH: true, GROUP: 16 },
  { BM: 128, BN: 128, BK: 64, STAGES: 1, PREFETCH: true, GROUP: 4 },
  { BM: 128, BN: 128, BK: 64, STAGES: 1, PREFETCH: false, GROUP: 8 },
  { BM: 128, BN: 128, BK: 32, STAGES: 1, PREFETCH: true, GROUP: 8 },
  { BM: 128, BN: 64, BK: 32, STAGES: 1, PREFETCH: true, GROUP: 8 },
  { BM: 64, BN: 128, BK: 32, STAGES: 1, PREFETCH: true, GROUP: 8 },
  { BM: 128, BN: 256, BK: 32, STAGES: 1, PREFETCH: true, GROUP: 8 },
  { BM: 256, BN: 128, BK: 32, STAGES: 1, PREFETCH: true, GROUP: 8 },
];
const SWEEP_SHAPES = new Set([
  'mlp up 1024²',
  'mlp down 1024²',
  'square 4096³',
  'joint attn 1024²',
  'attn d64',
]);
/** Attention variants: subgroups per workgroup x lazy-rescale threshold. */
const SWEEP_ATTENTION: { subgroups: number; threshold: number; late: boolean }[] = [
  { subgroups: 8, threshold: 14, late: false },
  { subgroups: 4, threshold: 14, late: false },
  { subgroups: 2, threshold: 14, late: false },
  { subgroups: 8, threshold: 14, late: true },
  { subgroups: 4, threshold: 14, late: true },
];

const cfgName = (c: SgmMatmulConfig) =>
  `${c.BM}x${c.BN} k${c.BK} s${c.STAGES}${c.PREFETCH ? ' pf' : ''}${c.GROUP !== 8 ? ` g${c.GROUP}` : ''}`;

interface Variant {
  label: string;
  be?: GpuBackend; // undefined: PyTorch
  cfg?: SgmMatmulConfig;
  threshold?: number;
  subgroups?: number;
  late?: boolean;
}

const flops = (s: Shape) => (s.op === 'matmul' ? 2 * s.M * s.N * s.K : 4 * s.B * s.H * s.L * s.L * s.D);
const shapeStr = (s: Shape) =>
  s.op === 'matmul' ? `M=${s.M} K=${s.K} N=${s.N}` : `B=${s.B} H=${s.H} L=${s.L} D=${s.D}`;

// ---- PyTorch child process -----------------------------------------------------------------------
function torchRequest(s: Shape): Record<string, unknown> {
  const req =
    s.op === 'matmul'
      ? { op: 'matmul', M: s.M, N: s.N, K: s.K }
      : { op: 'sdpa', B: s.B, H: s.H, L: s.L, D: s.D };
  return { ...req, iters: ITERS, warmup: WARMUP };
}

// ---- our kernels ---------------------------------------------------------------------------------
interface Prepared {
  inputs: Tensor[];
  run: (v: Variant) => Tensor;
}

function prepare(be: GpuBackend, s: Shape): Prepared {
  const dtype = be.caps.f16 ? 'f16' : 'f32';
  if (s.op === 'matmul') {
    const x = be.random([s.M, s.K], dtype, { seed: 11 });
    const w = be.random([s.N, s.K], dtype, { seed: 12, std: 1 / Math.sqrt(s.K) });
    const sgm = be.paths.matmul === 'subgroup-matrix';
    return {
      inputs: [x, w],
      run: (v) =>
        sgm
          ? matmulSubgroupMatrix(be, x, w, {}, s.M, s.N, s.K, [s.M, s.N], v.cfg)
          : matmulSimt(be, x, w, {}, s.M, s.N, s.K, [s.M, s.N]),
    };
  }
  const shape = [s.B, s.H, s.L, s.D];
  const q = be.random(shape, dtype, { seed: 21 });
  const k = be.random(shape, dtype, { seed: 22 });
  const v = be.random(shape, dtype, { seed: 23 });
  const scale = 1 / Math.sqrt(s.D);
  const sgm = be.paths.attention === 'subgroup-matrix';
  return {
    inputs: [q, k, v],
    run: (variant) =>
      sgm
        ? attentionSubgroupMatrix(be, q, k, v, scale, undefined, {
            threshold: variant.threshold,
            subgroups: variant.subgroups,
            late: variant.late,
          })
        : attentionSimt(be, q, k, v, scale, undefined),
  };
}

async function timeOurs(be: GpuBackend, p: Prepared, v: Variant): Promise<number[]> {
  for (let i = 0; i < WARMUP; i++) p.run(v).dispose();
  await be.sync();
  be.rt.startTiming();
  for (let i = 0; i < ITERS; i++) p.run(v).dispose();
  const t = await be.rt.stopTiming();
  return t.filter((k) => k.category === 'linear' || k.category === 'attention').map((k) => k.ms);
}

/** f64 reference values of sampled output rows, per shape (every backend draws the same inputs). */
const references = new Map<string, { rows: number[]; want: Float64Array[] }>();

async function reference(be: GpuBackend, s: Shape, p: Prepared) {
  let ref = references.get(s.name);
  if (ref) return ref;
  const want: Float64Array[] = [];
  if (s.op === 'matmul') {
    const [x, w] = p.inputs as [Tensor, Tensor];
    const wv = await be.read(w);
    const rows = sampleRows(s.M);
    for (const r of rows) {
      const xr = await be.read(be.slice(x, 0, r, 1));
      const out = new Float64Array(s.N);
      for (let n = 0; n < s.N; n++) {
        let acc = 0;
        for (let k = 0; k < s.K; k++) acc += xr[k]! * wv[n * s.K + k]!;
        out[n] = acc;
      }
      want.push(out);
    }
    ref = { rows, want };
  } else {
    const [q, k, v] = p.inputs as [Tensor, Tensor, Tensor];
    const kv = await be.read(k);
    const vv = await be.read(v);
    const { H, L, D } = s;
    const sc = 1 / Math.sqrt(D);
    const scores = new Float64Array(L);
    const rows = sampleRows(L);
    for (const r of rows) {
      const qr = await be.read(be.slice(q, 2, r, 1)); // [1, H, 1, D]
      const out = new Float64Array(H * D);
      for (let h = 0; h < H; h++) {
        let max = Number.NEGATIVE_INFINITY;
        for (let j = 0; j < L; j++) {
          let dot = 0;
          for (let d = 0; d < D; d++) dot += qr[h * D + d]! * kv[(h * L + j) * D + d]!;
          scores[j] = dot * sc;
          max = Math.max(max, scores[j]!);
        }
        let sum = 0;
        for (let j = 0; j < L; j++) {
          scores[j] = Math.exp(scores[j]! - max);
          sum += scores[j]!;
        }
        for (let d = 0; d < D; d++) {
          let acc = 0;
          for (let j = 0; j < L; j++) acc += scores[j]! * vv[(h * L + j) * D + d]!;
          out[h * D + d] = acc / sum;
        }
      }
      want.push(out);
    }
    ref = { rows, want };
  }
  references.set(s.name, ref);
  return ref;
}

/** Max |got − want| / max |want| over the sampled output rows. */
async function sampledError(be: GpuBackend, s: Shape, p: Prepared, v: Variant): Promise<number> {
  const ref = await reference(be, s, p);
  const y = p.run(v);
  let err = 0;
  let scale = 1e-30;
  for (const [i, r] of ref.rows.entries()) {
    const got = await be.read(be.slice(y, s.op === 'matmul' ? 0 : 1, r, 1));
    const want = ref.want[i]!;
    for (let j = 0; j < want.length; j++) {
      const d = Math.abs(got[j]! - want[j]!);
      err = Number.isNaN(d) ? Number.POSITIVE_INFINITY : Math.max(err, d);
      scale = Math.max(scale, Math.abs(want[j]!));
    }
  }
  y.dispose();
  return err / scale;
}

function sampleRows(n: number): number[] {
  return [...new Set([0, Math.floor(n / 2) + 1, n - 1].filter((r) => r < n))];
}

const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

// ---- main ----------------------------------------------------------------------------------------
async function main() {
  const robust = await GpuBackend.create({ robust: true });
  let unsafe: GpuBackend | undefined;
  try {
    if (!ROBUST_ONLY) unsafe = await GpuBackend.create({ robust: false });
  } catch (e) {
    console.log(`no second device without robustness: ${(e as Error).message}`);
  }
  const info = robust.info();
  console.log(`${info.description}; paths ${JSON.stringify(robust.paths)}`);
  const torch = TORCH ? await TorchChild.start(TORCH) : undefined;
  if (torch) console.log(`PyTorch: ${JSON.stringify(torch.hello)}`);

  let shapes = (SMOKE ? SMOKE_SHAPES : FLUX_SHAPES).filter((s) => !ONLY || s.op === ONLY);
  if (QUICK) shapes = shapes.filter((s) => QUICK_SHAPES.has(s.name));
  if (SWEEP && !SMOKE) shapes = shapes.filter((s) => SWEEP_SHAPES.has(s.name));

  const variantsFor = (s: Shape): Variant[] => {
    const v: Variant[] = [];
    if (SWEEP) {
      if (s.op === 'matmul') {
        for (const cfg of SWEEP_CONFIGS)
          v.push({ label: `${cfgName(cfg)}${unsafe ? '' : ' (robust)'}`, be: unsafe ?? robust, cfg });
        v.push({ label: `${cfgName(SGM_MATMUL_DEFAULT)} robust`, be: robust, cfg: SGM_MATMUL_DEFAULT });
      } else {
        for (const a of SWEEP_ATTENTION)
          v.push({
            label: `sg${a.subgroups} t${a.threshold}${a.late ? ' late' : ''}`,
            be: unsafe ?? robust,
            ...a,
          });
        v.push({ label: 'sg8 t14 robust', be: robust, subgroups: 8, threshold: 14 });
        v.push({ label: 'sg4 t14 robust', be: robust, subgroups: 4, threshold: 14 });
        v.push({ label: 'sg4 t14 late robust', be: robust, subgroups: 4, threshold: 14, late: true });
      }
    } else {
      v.push({ label: 'ours robust', be: robust });
      if (unsafe) v.push({ label: 'ours unsafe', be: unsafe });
    }
    if (torch) v.push({ label: 'pytorch' });
    return v;
  };

  const prepared = new Map<string, Prepared>(); // shape name + backend
  // Clocks ramp up under load: without this the first shape of the first repetition ran at a
  // fraction of its speed (run 2, 2026-11-25).
  const warmSeconds = Number(arg('warm-s') ?? 3);
  if (warmSeconds > 0) {
    const s = shapes[0]!;
    const p = prepare(robust, s);
    const v: Variant = { label: 'warm-up', be: robust };
    const t0 = performance.now();
    while (performance.now() - t0 < warmSeconds * 1000) {
      for (let i = 0; i < 20; i++) p.run(v).dispose();
      await robust.sync();
    }
    for (const t of p.inputs) t.dispose();
    if (torch) await torch.time(torchRequest(s));
  }

  const key = (s: Shape, be: GpuBackend) => `${s.name}|${be === robust ? 'r' : 'u'}`;
  const times = new Map<string, number[][]>(); // shape|variant -> per-rep iteration times
  const errors = new Map<string, number>();

  for (let rep = 0; rep < REPS; rep++) {
    for (const s of shapes) {
      const vs = variantsFor(s);
      // rotate the order every repetition so no variant always runs first after a shape change
      const order = vs.map((_, i) => vs[(i + rep) % vs.length]!);
      for (const v of order) {
        let ms: number[];
        try {
          if (!v.be) ms = await torch!.time(torchRequest(s));
          else {
            let p = prepared.get(key(s, v.be));
            if (!p) {
              p = prepare(v.be, s);
              prepared.set(key(s, v.be), p);
            }
            ms = await timeOurs(v.be, p, v);
            const ek = `${s.name}|${v.label}`;
            if (!errors.has(ek)) errors.set(ek, await sampledError(v.be, s, p, v));
          }
        } catch (e) {
          console.log(`${s.name} ${v.label}: FAILED ${(e as Error).message.split('\n')[0]}`);
          ms = [];
        }
        const tk = `${s.name}|${v.label}`;
        if (!times.has(tk)) times.set(tk, []);
        times.get(tk)!.push(ms);
        if (ms.length) {
          const t = median(ms);
          console.log(
            `rep ${rep + 1} ${s.op} ${s.name} ${v.label}: ${t.toFixed(3)} ms ${(flops(s) / t / 1e9).toFixed(0)} TFLOP/s`,
          );
        }
      }
    }
  }
  torch?.stop();

  // ---- summary table ----
  const rows: Record<string, unknown>[] = [];
  const pad = (x: string, n: number) => x.padEnd(n);
  console.log(
    `\n${pad('op', 10)}${pad('shape', 46)}${pad('variant', 26)}${pad('ms', 9)}${pad('TFLOP/s', 9)}${pad('rep medians (TFLOP/s)', 24)}${pad('vs torch', 10)}max rel err`,
  );
  for (const s of shapes) {
    const torchMs = (times.get(`${s.name}|pytorch`) ?? []).filter((x) => x.length).map(median);
    const torchMed = torchMs.length ? median(torchMs) : NaN;
    for (const v of variantsFor(s)) {
      const per = times.get(`${s.name}|${v.label}`) ?? [];
      const repMs = per.filter((x) => x.length).map(median);
      if (!repMs.length) continue;
      const t = median(repMs); // median over repetitions of each repetition's median
      const tflops = flops(s) / t / 1e9;
      const repTf = per.filter((x) => x.length).map((x) => (flops(s) / median(x) / 1e9).toFixed(0));
      const ratio = v.be && torchMs.length ? torchMed / t : NaN;
      const err = errors.get(`${s.name}|${v.label}`);
      console.log(
        `${pad(s.op, 10)}${pad(`${s.name} ${shapeStr(s)}`, 46)}${pad(v.label, 26)}${pad(t.toFixed(3), 9)}${pad(tflops.toFixed(0), 9)}${pad(repTf.join('/'), 24)}${pad(Number.isNaN(ratio) ? '' : `${(100 * ratio).toFixed(1)}%`, 10)}${err === undefined ? '' : err.toExponential(2)}`,
      );
      rows.push({
        op: s.op,
        name: s.name,
        shape: shapeStr(s),
        variant: v.label,
        ms: t,
        tflops,
        repTflops: repTf.map(Number),
        vsTorch: ratio,
        maxRelErr: err,
      });
    }
  }
  if (JSON_OUT) {
    writeFileSync(
      JSON_OUT,
      JSON.stringify(
        {
          date: new Date().toISOString(),
          adapter: info.description,
          torch: torch?.hello,
          reps: REPS,
          iters: ITERS,
          rows,
        },
        null,
        1,
      ),
    );
  }
  for (const p of prepared.values()) for (const t of p.inputs) t.dispose();
  robust.destroy();
  unsafe?.destroy();
}

await main();
