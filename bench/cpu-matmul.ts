// The CPU backend's matmul (WebAssembly SIMD on worker threads, src/cpu/fast/) side by side with
// numpy's sgemm (OpenBLAS) on the same cores and shapes, plus the plain TypeScript path it replaced.
//
//   node dist/bench/cpu-matmul.js                 the shapes below, median of 7 runs each
//   options: --runs N  --threads N (both sides; default: the fast path's, i.e. the available cores)
//            --no-plain (skip the slow TypeScript column)  --python python3
//
// Ours is timed as the backend calls it: packing, the threads' work and copying the result out of the
// shared memory. numpy runs `x @ w.T` on f32 arrays with OPENBLAS_NUM_THREADS (and the OMP/MKL
// equivalents) set to the same thread count.
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { table } from '../src/cli/args.js';
import { matmulWasm } from '../src/cpu/fast/index.js';
import { fastCpu } from '../src/cpu/fast/pool.js';
import { matmulBlocked } from '../src/cpu/matmul.js';

/** [M, N, K, where it occurs] */
const SHAPES: [number, number, number, string][] = [
  [2048, 576, 192, 'embedded 64 px, qkv (cfg batch 2)'],
  [2048, 768, 192, 'embedded 64 px, MLP up'],
  [2048, 192, 768, 'embedded 64 px, MLP down'],
  [8192, 768, 192, 'embedded 128 px, MLP up'],
  [1032, 1032, 64, 'embedded 64 px, attention Q·Kᵀ per head'],
  [512, 3072, 3072, 'FLUX.1, 512 tokens, attention projection'],
];

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '7' },
    threads: { type: 'string' },
    'no-plain': { type: 'boolean', default: false },
    python: { type: 'string', default: 'python3' },
  },
});
const runs = Number(args.runs);
if (args.threads) process.env.TOMA_CPU_THREADS = args.threads;
const fast = fastCpu();
if (!fast) throw new Error('the fast CPU path is unavailable here (TOMA_CPU_FAST=0 or no WebAssembly SIMD)');
const threads = fast.threads;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

function time(f: () => void, n: number): number {
  f(); // warm-up (and the pool's start on the first call)
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    f();
    ms.push(performance.now() - t);
  }
  return median(ms);
}

function randoms(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() * 2 - 1;
  return a;
}

const NUMPY = `
import json, sys, time
import numpy as np
runs, shapes = json.loads(sys.argv[1])
out = []
for M, N, K in shapes:
    x = np.random.rand(M, K).astype(np.float32)
    w = np.random.rand(N, K).astype(np.float32)
    x @ w.T
    ts = []
    for _ in range(runs):
        t = time.perf_counter(); x @ w.T; ts.append(time.perf_counter() - t)
    out.append(sorted(ts)[len(ts) // 2] * 1e3)
print(json.dumps(out))
`;

function numpyTimes(): number[] | string {
  const n = String(threads);
  const r = spawnSync(args.python!, ['-c', NUMPY, JSON.stringify([runs, SHAPES.map((s) => s.slice(0, 3))])], {
    encoding: 'utf8',
    env: { ...process.env, OPENBLAS_NUM_THREADS: n, OMP_NUM_THREADS: n, MKL_NUM_THREADS: n },
  });
  if (r.status !== 0) return (r.stderr || String(r.error)).trim().split('\n').pop()!;
  return JSON.parse(r.stdout) as number[];
}

const gflops = (M: number, N: number, K: number, ms: number) => (2 * M * N * K) / ms / 1e6;
const numpy = numpyTimes();
const rows: string[][] = [];
SHAPES.forEach(([M, N, K, where], i) => {
  const x = randoms(M * K);
  const w = randoms(N * K);
  const ours = time(() => matmulWasm(x, w, M, N, K), runs);
  const plainRuns = Math.max(1, Math.min(3, runs));
  const plain =
    args['no-plain'] || M * N * K > 1e9 ? undefined : time(() => matmulBlocked(x, w, M, N, K), plainRuns);
  const np = typeof numpy === 'string' ? undefined : numpy[i]!;
  rows.push([
    `${M}x${N}x${K}`,
    where,
    ours.toFixed(1),
    gflops(M, N, K, ours).toFixed(1),
    np === undefined ? '-' : np.toFixed(1),
    np === undefined ? '-' : gflops(M, N, K, np).toFixed(1),
    np === undefined ? '-' : `${((100 * np) / ours).toFixed(0)}%`,
    plain === undefined ? '-' : gflops(M, N, K, plain).toFixed(1),
  ]);
});
console.log(
  `CPU matmul y = x·wᵀ, f32, ${threads} thread${threads > 1 ? 's' : ''} each side, median of ${runs}` +
    ` (kernel: ${fast.fma ? 'relaxed-SIMD fused multiply-add' : 'SIMD multiply + add'})`,
);
if (typeof numpy === 'string') console.log(`numpy unavailable: ${numpy}`);
console.log(
  table(
    [
      'M x N x K',
      'where',
      'ours ms',
      'ours GFLOP/s',
      'numpy ms',
      'numpy GFLOP/s',
      'ours/numpy',
      'plain TS GFLOP/s',
    ],
    rows,
  ),
);
