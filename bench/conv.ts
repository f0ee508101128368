// Times the 2-D convolution kernels on the SDXL UNet's convolutions at 1024² (latent 128x128, batch 2
// for classifier-free guidance): the SIMT kernel (conv2d.wgsl), the tensor-core kernel
// (conv2d_sgm.wgsl) in its default and other tile configurations, the tensor-core kernel with
// robustness on (what browsers run), and PyTorch (F.conv2d, fp16, channels_last, cuDNN with
// benchmark mode) in a child process on the same card, interleaved per shape. Every variant of ours is
// checked against an f64 reference at sampled output pixels. Ends with the conv time of one whole
// UNet forward (each shape weighted by how often the UNet runs it).
//
//   node dist/bench/conv.js [--torch bench/torch_kernels.py] [--reps 2] [--iters 5] [--warmup 2]
//        [--quick] [--only NAME-SUBSTRING] [--no-robust] [--small-tiles] [--json out.json] [--smoke]
//
// --small-tiles adds 64x128, 128x64 and 64x256 tiles to the sweep (more workgroups for the 32² shapes,
// which make 80-160 of the default sizes for 132 SMs; tools/device/unet-tiles.sh).
// --quick: the default tile configuration only (no sweep). --smoke: tiny shapes in f32 with the
// emulated tensor-core multiply, to exercise this script on a software adapter (no meaningful times).
// Timings are GPU timestamps around each launch (wall clock around a sync where the adapter has no
// timestamp queries); a variant's number is the median over repetitions of each repetition's median.
import { writeFileSync } from 'node:fs';
import type { Conv2dOptions } from '../src/backend.js';
import { GpuBackend } from '../src/gpu/backend.js';
import {
  conv2dSimt,
  conv2dSubgroupMatrix,
  SGM_CONV_DEFAULT,
  type SgmConvConfig,
} from '../src/kernels/conv2d.js';
import { matmulSubgroupMatrix } from '../src/kernels/matmul.js';
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
const ITERS = Number(arg('iters') ?? 5);
const WARMUP = Number(arg('warmup') ?? 2);
const QUICK = flag('quick');
const SMOKE = flag('smoke');
const ONLY = arg('only');
const TORCH = arg('torch');
const JSON_OUT = arg('json');
const ROBUST = !flag('no-robust');
const SMALL_TILES = flag('small-tiles');

// ---- the SDXL UNet's convolutions ----------------------------------------------------------------
interface ConvShape {
  name: string;
  /** How many times one UNet forward runs it. */
  count: number;
  B: number;
  /** Input side (square), before the fused upsampling. */
  H: number;
  Cin: number;
  Cout: number;
  K: number;
  stride: 1 | 2;
  upsample: boolean;
}

const conv = (
  name: string,
  count: number,
  H: number,
  Cin: number,
  Cout: number,
  K = 3,
  extra: { stride?: 1 | 2; upsample?: boolean } = {},
): ConvShape => ({
  name,
  count,
  B: SMOKE ? 1 : 2,
  H,
  Cin,
  Cout,
  K,
  stride: extra.stride ?? 1,
  upsample: extra.upsample ?? false,
});

// SDXL base: block_out_channels 320/640/1280 at latent 128/64/32, 2 ResNets per down block, 3 per up
// block (their first conv reads the concatenation with a skip), a 1x1 shortcut wherever a ResNet
// changes its width, stride-2 3x3 downsamplers, nearest-2x + 3x3 upsamplers.
const UNET_SHAPES: ConvShape[] = [
  conv('conv_in 4->320 @128', 1, 128, 4, 320),
  conv('resnet 320 @128', 7, 128, 320, 320),
  conv('down 320 @128->64 s2', 1, 128, 320, 320, 3, { stride: 2 }),
  conv('resnet 320->640 @64', 1, 64, 320, 640),
  conv('resnet 640 @64', 6, 64, 640, 640),
  conv('down 640 @64->32 s2', 1, 64, 640, 640, 3, { stride: 2 }),
  conv('resnet 640->1280 @32', 1, 32, 640, 1280),
  conv('resnet 1280 @32', 10, 32, 1280, 1280),
  conv('up cat 2560->1280 @32', 2, 32, 2560, 1280),
  conv('up cat 1920->1280 @32', 1, 32, 1920, 1280),
  conv('upsample 1280 @32->64', 1, 32, 1280, 1280, 3, { upsample: true }),
  conv('up cat 1920->640 @64', 1, 64, 1920, 640),
  conv('up cat 1280->640 @64', 1, 64, 1280, 640),
  conv('up cat 960->640 @64', 1, 64, 960, 640),
  conv('upsample 640 @64->128', 1, 64, 640, 640, 3, { upsample: true }),
  conv('up cat 960->320 @128', 1, 128, 960, 320),
  conv('up cat 640->320 @128', 2, 128, 640, 320),
  conv('conv_out 320->4 @128', 1, 128, 320, 4),
  conv('1x1 320->640 @64', 1, 64, 320, 640, 1),
  conv('1x1 640->1280 @32', 1, 32, 640, 1280, 1),
  conv('1x1 2560->1280 @32', 2, 32, 2560, 1280, 1),
  conv('1x1 1920->1280 @32', 1, 32, 1920, 1280, 1),
  conv('1x1 1920->640 @64', 1, 64, 1920, 640, 1),
  conv('1x1 1280->640 @64', 1, 64, 1280, 640, 1),
  conv('1x1 960->640 @64', 1, 64, 960, 640, 1),
  conv('1x1 960->320 @128', 1, 128, 960, 320, 1),
  conv('1x1 640->320 @128', 2, 128, 640, 320, 1),
];
const SMOKE_SHAPES: ConvShape[] = [
  conv('smoke 16->24', 1, 9, 16, 24),
  conv('smoke 4->20', 1, 7, 4, 20),
  conv('smoke s2', 1, 9, 8, 12, 3, { stride: 2 }),
  conv('smoke up', 1, 5, 8, 10, 3, { upsample: true }),
];

/** Tile configurations tried besides the default (all fit the H100's 48 KiB; see conv2d.md). */
const SWEEP: SgmConvConfig[] = [
  { BM: 256, BN: 64, BK: 64, STAGES: 1, PREFETCH: true, GROUP: 8 },
  { BM: 128, BN: 128, BK: 32, STAGES: 1, PREFETCH: true, GROUP: 8 },
  { BM: 128, BN: 256, BK: 32, STAGES: 1, PREFETCH: true, GROUP: 8 },
  { BM: 256, BN: 128, BK: 32, STAGES: 1, PREFETCH: true, GROUP: 8 },
  ...(SMALL_TILES
    ? ([
        { BM: 64, BN: 128, BK: 32, STAGES: 1, PREFETCH: true, GROUP: 8 },
        { BM: 128, BN: 64, BK: 32, STAGES: 1, PREFETCH: true, GROUP: 8 },
        { BM: 64, BN: 256, BK: 32, STAGES: 1, PREFETCH: true, GROUP: 8 },
        { BM: 64, BN: 128, BK: 64, STAGES: 1, PREFETCH: true, GROUP: 8 },
      ] as SgmConvConfig[])
    : []),
];
/**
 * The reference tile (matmul's; Backend.conv2d now picks per output size, sgmConvConfigFor, whose choices
 * are among the swept configurations); in --smoke one that fits a software adapter's 32 KiB.
 */
const DEFAULT: SgmConvConfig = SMOKE
  ? { BM: 64, BN: 64, BK: 32, STAGES: 1, PREFETCH: true, GROUP: 8 }
  : SGM_CONV_DEFAULT;
const cfgName = (c: SgmConvConfig) =>
  `${c.BM}x${c.BN}k${c.BK}${c.STAGES === 2 ? 's2' : ''}${c.PREFETCH ? '' : ' nopf'}${c.GROUP !== 8 ? ` g${c.GROUP}` : ''}`;

const outSide = (s: ConvShape) => Math.ceil((s.H * (s.upsample ? 2 : 1)) / s.stride);
const gemm = (s: ConvShape) => ({ M: s.B * outSide(s) ** 2, N: s.Cout, K: s.K * s.K * s.Cin });
const flops = (s: ConvShape) => {
  const g = gemm(s);
  return 2 * g.M * g.N * g.K;
};

// ---- variants ------------------------------------------------------------------------------------
interface Variant {
  label: string;
  /** Our backend (undefined: PyTorch). */
  be?: GpuBackend;
  run?: (be: GpuBackend, x: Tensor, w: Tensor, o: Conv2dOptions, out: number[]) => Tensor;
}

function variantsFor(
  s: ConvShape,
  fast: GpuBackend,
  robust: GpuBackend | undefined,
  torch: boolean,
): Variant[] {
  const emulate = SMOKE; // no f16 / subgroup matrices on a software adapter
  const sgm =
    (cfg: SgmConvConfig) => (be: GpuBackend, x: Tensor, w: Tensor, o: Conv2dOptions, out: number[]) =>
      conv2dSubgroupMatrix(be, x, w, o, out, { cfg, emulate });
  const v: Variant[] = [{ label: 'simt', be: fast, run: conv2dSimt }];
  v.push({ label: `sgm ${cfgName(DEFAULT)}`, be: fast, run: sgm(DEFAULT) });
  if (!QUICK && !SMOKE)
    for (const cfg of SWEEP) v.push({ label: `sgm ${cfgName(cfg)}`, be: fast, run: sgm(cfg) });
  // A 1x1 stride-1 convolution of channels-last tensors is exactly x [M, Cin] · wᵀ: matmul_sgm, no gather.
  if (s.K === 1 && s.stride === 1 && !s.upsample && !SMOKE)
    v.push({
      label: 'matmul_sgm as GEMM',
      be: fast,
      run: (be, x, w, _o, out) => {
        const g = gemm(s);
        return matmulSubgroupMatrix(be, x, w, {}, g.M, g.N, g.K, out);
      },
    });
  if (robust) v.push({ label: `sgm ${cfgName(DEFAULT)} robust`, be: robust, run: sgm(DEFAULT) });
  if (torch) v.push({ label: 'pytorch' });
  return v;
}

// ---- inputs and the f64 reference at sampled pixels ----------------------------------------------
interface Inputs {
  x: Tensor;
  w: Tensor;
  o: Conv2dOptions;
  out: number[];
}

function prepare(be: GpuBackend, s: ConvShape): Inputs {
  const dtype = SMOKE ? 'f32' : 'f16';
  const x = be.random([s.B, s.H, s.H, s.Cin], dtype, { seed: 31 });
  const w = be.random([s.Cout, s.K, s.K, s.Cin], dtype, { seed: 32, std: 1 / Math.sqrt(s.K * s.K * s.Cin) });
  const o: Conv2dOptions = { stride: s.stride, upsample: s.upsample };
  const side = outSide(s);
  return { x, w, o, out: [s.B, side, side, s.Cout] };
}

/** Output pixels checked: a corner (padding), the middle, the far corner. */
function samplePixels(s: ConvShape): [number, number, number][] {
  const side = outSide(s);
  return [
    [0, 0, 0],
    [s.B - 1, side >> 1, (side >> 1) + 1 < side ? (side >> 1) + 1 : 0],
    [s.B - 1, side - 1, side - 1],
  ];
}

/** f64 reference of all Cout outputs at each sampled pixel, from the inputs as stored. */
async function reference(be: GpuBackend, s: ConvShape, inp: Inputs): Promise<Float64Array[]> {
  const xv = await be.read(inp.x);
  const wv = await be.read(inp.w);
  const up = s.upsample ? 2 : 1;
  const pad = (s.K - 1) / 2;
  return samplePixels(s).map(([b, oy, ox]) => {
    const out = new Float64Array(s.Cout);
    for (let co = 0; co < s.Cout; co++) {
      let acc = 0;
      for (let ky = 0; ky < s.K; ky++) {
        const iy = oy * s.stride - pad + ky;
        if (iy < 0 || iy >= s.H * up) continue;
        for (let kx = 0; kx < s.K; kx++) {
          const ix = ox * s.stride - pad + kx;
          if (ix < 0 || ix >= s.H * up) continue;
          const xb = ((b * s.H + Math.floor(iy / up)) * s.H + Math.floor(ix / up)) * s.Cin;
          const wb = ((co * s.K + ky) * s.K + kx) * s.Cin;
          for (let ci = 0; ci < s.Cin; ci++) acc += xv[xb + ci]! * wv[wb + ci]!;
        }
      }
      out[co] = acc;
    }
    return out;
  });
}

/** max |got − want| / max |want| over the sampled pixels. */
async function sampledError(be: GpuBackend, s: ConvShape, y: Tensor, want: Float64Array[]): Promise<number> {
  let err = 0;
  let scale = 1e-30;
  for (const [i, [b, oy, ox]] of samplePixels(s).entries()) {
    const slice = be.slice(y, 1, oy, 1); // [B, 1, Wo, Cout]
    const row = await be.read(slice);
    slice.dispose();
    const base = (b * outSide(s) + ox) * s.Cout;
    for (let co = 0; co < s.Cout; co++) {
      const d = Math.abs(row[base + co]! - want[i]![co]!);
      err = Number.isNaN(d) ? Number.POSITIVE_INFINITY : Math.max(err, d);
      scale = Math.max(scale, Math.abs(want[i]![co]!));
    }
  }
  return err / scale;
}

// ---- timing --------------------------------------------------------------------------------------
async function timeOurs(be: GpuBackend, inp: Inputs, v: Variant): Promise<number[]> {
  const once = () => v.run!(be, inp.x, inp.w, inp.o, inp.out).dispose();
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

function torchRequest(s: ConvShape) {
  const up = s.upsample ? 2 : 1;
  return {
    op: 'conv2d',
    B: s.B,
    Cin: s.Cin,
    Cout: s.Cout,
    H: s.H * up,
    W: s.H * up,
    K: s.K,
    stride: s.stride,
    iters: ITERS,
    warmup: WARMUP,
  };
}

const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

// ---- main ----------------------------------------------------------------------------------------
async function main() {
  const fast = await GpuBackend.create({ robust: false });
  let robust: GpuBackend | undefined;
  if (ROBUST && !SMOKE) robust = await GpuBackend.create({ robust: true });
  console.log(`${fast.info().description}; paths ${JSON.stringify(fast.paths)}`);
  if (!SMOKE && fast.paths.conv2d !== 'subgroup-matrix')
    throw new Error('this adapter has no subgroup matrices (try --smoke for a software adapter)');
  const torch = TORCH ? await TorchChild.start(TORCH) : undefined;
  if (torch) console.log(`PyTorch: ${JSON.stringify(torch.hello)}`);

  const shapes = (SMOKE ? SMOKE_SHAPES : UNET_SHAPES).filter((s) => !ONLY || s.name.includes(ONLY));

  // Clocks ramp up under load (docs/kernels/matmul.md, run 1): warm the card before measuring.
  const warmSeconds = Number(arg('warm-s') ?? (SMOKE ? 0 : 3));
  if (warmSeconds > 0) {
    const s = shapes.find((x) => x.name.startsWith('resnet 640 ')) ?? shapes[0]!;
    const inp = prepare(fast, s);
    try {
      const t0 = performance.now();
      while (performance.now() - t0 < warmSeconds * 1000) {
        for (let i = 0; i < 10; i++) conv2dSubgroupMatrix(fast, inp.x, inp.w, inp.o, inp.out).dispose();
        await fast.sync();
      }
    } catch (e) {
      // the per-variant runs below report the failure; SIMT and PyTorch still get measured
      console.log(`warm-up with the tensor-core kernel FAILED: ${(e as Error).message.split('\n')[0]}`);
    }
    inp.x.dispose();
    inp.w.dispose();
  }

  interface Row {
    shape: ConvShape;
    variant: string;
    ms: number;
    tflops: number;
    repMs: number[];
    err?: number;
  }
  const rows: Row[] = [];
  for (const s of shapes) {
    const vs = variantsFor(s, fast, robust, !!torch);
    const inputs = new Map<GpuBackend, Inputs>();
    const inputsOn = (be: GpuBackend) => {
      let i = inputs.get(be);
      if (!i) {
        i = prepare(be, s);
        inputs.set(be, i);
      }
      return i;
    };
    const want = await reference(fast, s, inputsOn(fast));
    const per = new Map<string, number[][]>();
    const errs = new Map<string, number>();
    for (let rep = 0; rep < REPS; rep++) {
      // rotate the order every repetition so no variant always runs first
      const order = vs.map((_, i) => vs[(i + rep) % vs.length]!);
      for (const v of order) {
        let ms: number[] = [];
        try {
          if (!v.be) ms = await torch!.time(torchRequest(s));
          else {
            const inp = inputsOn(v.be);
            if (!errs.has(v.label)) {
              const y = v.run!(v.be, inp.x, inp.w, inp.o, inp.out);
              // robust runs on its own device with its own (identical: same seeds) inputs
              errs.set(v.label, await sampledError(v.be, s, y, want));
              y.dispose();
            }
            ms = await timeOurs(v.be, inp, v);
          }
        } catch (e) {
          console.log(`${s.name} ${v.label}: FAILED ${(e as Error).message.split('\n')[0]}`);
        }
        if (!per.has(v.label)) per.set(v.label, []);
        per.get(v.label)!.push(ms);
      }
    }
    for (const i of inputs.values()) {
      i.x.dispose();
      i.w.dispose();
    }
    const g = gemm(s);
    console.log(`\n${s.name}  x${s.count}  M=${g.M} N=${g.N} K=${g.K}  ${(flops(s) / 1e9).toFixed(1)} GFLOP`);
    for (const v of vs) {
      const reps = (per.get(v.label) ?? []).filter((x) => x.length);
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
      console.log(
        `  ${v.label.padEnd(30)}${ms.toFixed(3).padStart(9)} ms${row.tflops.toFixed(1).padStart(8)} TFLOP/s` +
          `   reps ${repMs.map((x) => x.toFixed(3)).join('/')}${row.err === undefined ? '' : `   err ${row.err.toExponential(2)}`}`,
      );
    }
  }
  torch?.stop();

  // ---- summary: per shape, and one UNet forward's convolutions ----
  const defaultLabel = `sgm ${cfgName(DEFAULT)}`;
  const find = (s: ConvShape, label: string) => rows.find((r) => r.shape === s && r.variant === label);
  const bestSgm = (s: ConvShape) =>
    rows
      .filter(
        (r) =>
          r.shape === s && r.variant !== 'simt' && r.variant !== 'pytorch' && !r.variant.endsWith('robust'),
      )
      .sort((a, b) => a.ms - b.ms)[0];
  const cell = (r: Row | undefined) => (r ? `${r.ms.toFixed(3)} (${r.tflops.toFixed(0)})` : '-');
  const head = [
    'shape',
    'n',
    'simt',
    'sgm default',
    'best sgm',
    'sgm robust',
    'pytorch',
    'sgm/simt',
    'torch/sgm',
  ];
  const table: string[][] = [];
  const totals = { simt: 0, dispatch: 0, best: 0, robust: 0, torch: 0 };
  let complete = { torch: true, robust: true };
  for (const s of shapes) {
    const simt = find(s, 'simt');
    const def = find(s, defaultLabel);
    const best = bestSgm(s);
    const rob = find(s, `${defaultLabel} robust`);
    const pt = find(s, 'pytorch');
    // What Backend.conv2d runs: tensor cores where sgmConvUsable holds (Cin % 8 == 0), else SIMT.
    const usable = s.Cin % 8 === 0;
    totals.simt += s.count * (simt?.ms ?? Number.NaN);
    totals.dispatch += s.count * ((usable ? def?.ms : simt?.ms) ?? Number.NaN);
    totals.best +=
      s.count * Math.min(best?.ms ?? Number.POSITIVE_INFINITY, simt?.ms ?? Number.POSITIVE_INFINITY);
    totals.robust += s.count * ((usable ? rob?.ms : simt?.ms) ?? 0);
    totals.torch += s.count * (pt?.ms ?? 0);
    if (!pt) complete.torch = false;
    if (!rob) complete.robust = false;
    table.push([
      s.name,
      String(s.count),
      cell(simt),
      cell(def),
      best ? `${best.variant.replace(/^sgm /, '')} ${best.ms.toFixed(3)}` : '-',
      cell(rob),
      cell(pt),
      simt && def ? `${(simt.ms / def.ms).toFixed(2)}x` : '-',
      pt && def ? `${(100 * (pt.ms / def.ms)).toFixed(0)}%` : '-',
    ]);
  }
  complete = { torch: complete.torch && !!torch, robust: complete.robust && !!robust };
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log(
    '\nms (TFLOP/s) per launch; sgm/simt = speed-up of the default tensor-core kernel; torch/sgm = its share of PyTorch speed',
  );
  console.log(line(head));
  for (const r of table) console.log(line(r));
  console.log('\nconvolutions of one SDXL UNet forward (batch 2, 1024²), each shape times its count:');
  console.log(`  simt everywhere:                        ${totals.simt.toFixed(2)} ms`);
  console.log(`  sgm with SGM_CONV_DEFAULT where Cin % 8 == 0, else simt: ${totals.dispatch.toFixed(2)} ms`);
  console.log(`  best measured kernel per shape:         ${totals.best.toFixed(2)} ms`);
  if (complete.robust)
    console.log(`  Backend.conv2d with robustness on:      ${totals.robust.toFixed(2)} ms`);
  if (complete.torch) console.log(`  PyTorch F.conv2d (cuDNN):               ${totals.torch.toFixed(2)} ms`);

  if (JSON_OUT) {
    writeFileSync(
      JSON_OUT,
      JSON.stringify(
        {
          date: new Date().toISOString(),
          adapter: fast.info().description,
          torch: torch?.hello,
          reps: REPS,
          iters: ITERS,
          rows: rows.map((r) => ({ ...r, gemm: gemm(r.shape) })),
          totals,
        },
        null,
        1,
      ),
    );
  }
  fast.destroy();
  robust?.destroy();
}

await main();
