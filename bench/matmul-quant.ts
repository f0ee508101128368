// Times matmul with quantized (GGUF block) weights on FLUX.1-dev's linear layers at 1024² (4096 image
// + 512 text tokens = 4608 rows): the dense f16 matmul, Q8_0 and Q4_K fused (the matmul kernel decodes
// the weight tile as it stages it), and Q8_0 / Q4_K "dequantize then dense" (the whole matrix into a
// scratch tensor, then the same dense kernel; both launches timed). Every variant's output is checked
// on sampled entries against an f64 CPU reference computed from the CPU's dequantize().
//
//   node dist/bench/matmul-quant.js [--reps 3] [--iters 10] [--warmup 3] [--warm-s 3]
//        [--robust] [--smoke] [--only NAME] [--json results.json]
//
// x and the dense weight are f16 where the adapter has shader-f16 (f32 otherwise); the tensor-core
// kernel runs where the adapter has subgroup matrices. Times are GPU timestamps around each launch
// (the dequantize + dense variant adds its two launches), else wall-clock over a synced batch; a
// shape's number is the median over repetitions of each repetition's median. --smoke: tiny shapes
// (exercises the script on a software adapter; its times mean nothing). --robust: Dawn's bounds
// clamps on (browsers' mode); default off (Node's default).
import { writeFileSync } from 'node:fs';
import { GpuBackend } from '../src/gpu/backend.js';
import { dequantizeOnDevice, matmulQuant, type QuantMatmulStrategy } from '../src/kernels/matmul-quant.js';
import { dequantize } from '../src/quant/dequant.js';
import { ggmlType, type QuantTypeName } from '../src/quant/ggml-types.js';
import { QuantizedMatrix } from '../src/quant/quantized-matrix.js';
import type { DType, Tensor } from '../src/tensor.js';
import { f32ToF16Bits, roundToF16 } from '../src/util/f16.js';

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
const WARM_S = Number(arg('warm-s') ?? 3);
const SMOKE = flag('smoke');
const ROBUST = flag('robust');
const ONLY = arg('only');
const JSON_OUT = arg('json');

interface Shape {
  name: string;
  M: number;
  K: number;
  N: number;
}
const M1024 = 4608;
const FLUX_SHAPES: Shape[] = [
  { name: 'qkv', M: M1024, K: 3072, N: 9216 },
  { name: 'mlp up', M: M1024, K: 3072, N: 12288 },
  { name: 'mlp down', M: M1024, K: 12288, N: 3072 },
  { name: 'single out', M: M1024, K: 15360, N: 3072 },
  { name: 'single in', M: M1024, K: 3072, N: 21504 },
];
const SMOKE_SHAPES: Shape[] = [
  { name: 'smoke a', M: 70, K: 256, N: 50 },
  { name: 'smoke b', M: 33, K: 512, N: 130 },
];

interface Variant {
  label: string;
  /** Undefined: the dense matmul (weights: the Q8_0 matrix dequantized to x's dtype). */
  type?: QuantTypeName;
  strategy?: QuantMatmulStrategy;
}
const VARIANTS: Variant[] = [
  { label: 'dense' },
  { label: 'Q8_0 fused', type: 'Q8_0', strategy: 'fused' },
  { label: 'Q4_K fused', type: 'Q4_K', strategy: 'fused' },
  { label: 'Q8_0 dequant+dense', type: 'Q8_0', strategy: 'dequantize' },
  { label: 'Q4_K dequant+dense', type: 'Q4_K', strategy: 'dequantize' },
];

// ---- random blocks -------------------------------------------------------------------------------
/** Byte offsets of the f16 scale fields of one block. */
const F16_FIELDS: Partial<Record<QuantTypeName, number[]>> = { Q8_0: [0], Q4_K: [0, 2] };

/**
 * Random blocks for an [N, K] weight (xorshift bytes; f16 scales sized so the dequantized rows have
 * roughly unit-variance dot products with normal x).
 */
function randomBlocks(type: QuantTypeName, N: number, K: number, seed: number): Uint8Array {
  const { blockSize, blockBytes } = ggmlType(type);
  const nBlocks = (N * K) / blockSize;
  const words = new Uint32Array(Math.ceil((nBlocks * blockBytes) / 4));
  let s = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    words[i] = s >>> 0;
  }
  const bytes = new Uint8Array(words.buffer, 0, nBlocks * blockBytes);
  const dv = new DataView(bytes.buffer);
  // Q8_0: |q| ~ 74 on average; Q4_K: sub-block scales up to 63 times a nibble up to 15.
  const d = type === 'Q8_0' ? 1 / (74 * Math.sqrt(K)) : 1 / (63 * 8 * Math.sqrt(K));
  for (let b = 0; b < nBlocks; b++) {
    for (const off of F16_FIELDS[type]!) dv.setUint16(b * blockBytes + off, f32ToF16Bits(d), true);
  }
  return bytes;
}

// ---- one shape -----------------------------------------------------------------------------------
interface Prepared {
  x: Tensor;
  dense: Tensor;
  quant: Map<QuantTypeName, { w: QuantizedMatrix; bytes: Uint8Array }>;
}

function prepare(be: GpuBackend, s: Shape, dtype: DType): Prepared {
  const quant = new Map<QuantTypeName, { w: QuantizedMatrix; bytes: Uint8Array }>();
  for (const [i, type] of (['Q8_0', 'Q4_K'] as const).entries()) {
    const bytes = randomBlocks(type, s.N, s.K, 1234 + i);
    const words = new Uint32Array(Math.ceil(bytes.length / 4));
    new Uint8Array(words.buffer).set(bytes);
    quant.set(type, {
      w: new QuantizedMatrix(type, [s.N, s.K], be.tensor(words, [words.length], 'u32')),
      bytes,
    });
  }
  const x = be.random([s.M, s.K], dtype, { seed: 11 });
  const dense = dequantizeOnDevice(be, quant.get('Q8_0')!.w, dtype);
  return { x, dense, quant };
}

function run(be: GpuBackend, s: Shape, p: Prepared, v: Variant): Tensor {
  if (!v.type) return be.matmul(p.x, p.dense);
  return matmulQuant(be, p.x, p.quant.get(v.type)!.w, {}, s.M, s.N, s.K, [s.M, s.N], v.strategy);
}

/** Launches one run of the variant records (1 fused or dense, 2 dequantize + dense). */
const launchesPer = (v: Variant) => (v.strategy === 'dequantize' ? 2 : 1);

async function timeVariant(be: GpuBackend, s: Shape, p: Prepared, v: Variant): Promise<number[]> {
  for (let i = 0; i < WARMUP; i++) run(be, s, p, v).dispose();
  await be.sync();
  if (be.rt.canTime) {
    be.rt.startTiming();
    for (let i = 0; i < ITERS; i++) run(be, s, p, v).dispose();
    const t = (await be.rt.stopTiming()).filter((k) => k.category === 'linear');
    const per = launchesPer(v);
    const ms: number[] = [];
    for (let i = 0; i + per <= t.length; i += per) {
      let sum = 0;
      for (let j = 0; j < per; j++) sum += t[i + j]!.ms;
      ms.push(sum);
    }
    return ms;
  }
  const ms: number[] = [];
  for (let i = 0; i < ITERS; i++) {
    const t0 = performance.now();
    run(be, s, p, v).dispose();
    await be.sync();
    ms.push(performance.now() - t0);
  }
  return ms;
}

/** Sampled output entries (3 rows x up to 64 columns) against an f64 dot of x with dequantize()'d rows. */
async function sampledError(
  be: GpuBackend,
  s: Shape,
  p: Prepared,
  v: Variant,
  dtype: DType,
): Promise<number> {
  const type = v.type ?? 'Q8_0';
  const { bytes } = p.quant.get(type)!;
  const rowBytes = (s.K / ggmlType(type).blockSize) * ggmlType(type).blockBytes;
  const rows = [...new Set([0, Math.floor(s.M / 2) + 1, s.M - 1])];
  const cols = [...new Set(Array.from({ length: 64 }, (_, i) => Math.floor((i * (s.N - 1)) / 63)))];
  let wRows: Float32Array[];
  try {
    wRows = cols.map((n) => {
      const r = dequantize(type, bytes.subarray(n * rowBytes, (n + 1) * rowBytes), s.K);
      return dtype === 'f16' ? roundToF16(r) : r;
    });
  } catch {
    return Number.NaN; // no CPU dequantizer for this type in this build
  }
  const y = run(be, s, p, v);
  let err = 0;
  let scale = 1e-30;
  for (const r of rows) {
    const xr = await be.read(be.slice(p.x, 0, r, 1));
    const yr = await be.read(be.slice(y, 0, r, 1));
    for (const [ci, n] of cols.entries()) {
      const w = wRows[ci]!;
      let acc = 0;
      for (let k = 0; k < s.K; k++) acc += xr[k]! * w[k]!;
      const dlt = Math.abs(yr[n]! - acc);
      err = Number.isNaN(dlt) ? Number.POSITIVE_INFINITY : Math.max(err, dlt);
      scale = Math.max(scale, Math.abs(acc));
    }
  }
  y.dispose();
  return err / scale;
}

const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

// ---- main ----------------------------------------------------------------------------------------
async function main() {
  const be = await GpuBackend.create({ robust: ROBUST });
  const dtype: DType = be.caps.f16 ? 'f16' : 'f32';
  const info = be.info();
  console.log(
    `${info.description}; x ${dtype}; matmul path ${be.paths.matmul}; robustness ${ROBUST ? 'on' : 'off'}; ` +
      `timing ${be.rt.canTime ? 'GPU timestamps' : 'wall clock (no timestamp-query)'}`,
  );
  const shapes = (SMOKE ? SMOKE_SHAPES : FLUX_SHAPES).filter((s) => !ONLY || s.name === ONLY);
  const times = new Map<string, number[]>(); // shape|variant -> per-rep medians
  const errors = new Map<string, number>();
  for (const [si, s] of shapes.entries()) {
    const p = prepare(be, s, dtype);
    if (si === 0 && WARM_S > 0) {
      // Clocks ramp up under load (bench/kernels.ts): run the dense matmul for a while first.
      const t0 = performance.now();
      while (performance.now() - t0 < WARM_S * 1000) {
        for (let i = 0; i < 10; i++) run(be, s, p, VARIANTS[0]!).dispose();
        await be.sync();
      }
    }
    for (let rep = 0; rep < REPS; rep++) {
      // rotate the order every repetition so no variant always runs first
      const order = VARIANTS.map((_, i) => VARIANTS[(i + rep) % VARIANTS.length]!);
      for (const v of order) {
        const k = `${s.name}|${v.label}`;
        try {
          const ms = await timeVariant(be, s, p, v);
          if (!times.has(k)) times.set(k, []);
          times.get(k)!.push(median(ms));
          if (!errors.has(k)) errors.set(k, await sampledError(be, s, p, v, dtype));
          console.log(`rep ${rep + 1} ${s.name} ${v.label}: ${median(ms).toFixed(3)} ms`);
        } catch (e) {
          console.log(`${s.name} ${v.label}: FAILED ${(e as Error).message.split('\n')[0]}`);
        }
      }
    }
    p.x.dispose();
    p.dense.dispose();
    for (const q of p.quant.values()) q.w.dispose();
    await be.sync();
    be.rt.trim();
  }

  // ---- summary table ----
  const pad = (x: string, n: number) => x.padEnd(n);
  const rows: Record<string, unknown>[] = [];
  console.log(
    `\n${pad('shape', 34)}${pad('variant', 22)}${pad('ms', 10)}${pad('TFLOP/s', 9)}${pad('vs dense', 10)}${pad('rep medians (ms)', 28)}max rel err`,
  );
  for (const s of shapes) {
    const flops = 2 * s.M * s.N * s.K;
    const denseReps = times.get(`${s.name}|dense`);
    const denseMs = denseReps ? median(denseReps) : Number.NaN;
    for (const v of VARIANTS) {
      const reps = times.get(`${s.name}|${v.label}`);
      if (!reps?.length) continue;
      const ms = median(reps);
      const err = errors.get(`${s.name}|${v.label}`) ?? Number.NaN;
      console.log(
        `${pad(`${s.name} M=${s.M} K=${s.K} N=${s.N}`, 34)}${pad(v.label, 22)}${pad(ms.toFixed(3), 10)}${pad((flops / ms / 1e9).toFixed(0), 9)}${pad(`${(denseMs / ms).toFixed(2)}x`, 10)}${pad(reps.map((r) => r.toFixed(3)).join('/'), 28)}${Number.isNaN(err) ? 'n/a' : err.toExponential(2)}`,
      );
      rows.push({ shape: s, variant: v.label, ms, tflops: flops / ms / 1e9, repMs: reps, maxRelErr: err });
    }
  }
  if (JSON_OUT) {
    const doc = {
      date: new Date().toISOString(),
      adapter: info.description,
      dtype,
      path: be.paths.matmul,
      robust: ROBUST,
      reps: REPS,
      iters: ITERS,
      rows,
    };
    writeFileSync(JSON_OUT, JSON.stringify(doc, null, 1));
  }
  be.destroy();
}

await main();
