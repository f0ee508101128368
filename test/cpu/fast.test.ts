// The CPU backend's WebAssembly SIMD path (src/cpu/fast/) against the plain references, on fresh
// random inputs with sizes that are not multiples of the register tile (4x8), k blocks (256) or
// attention's row blocks (64), with the shared memory poisoned (NaN) before every call so a result
// the kernel failed to write shows.
//
// Tolerance: the fast path accumulates in f32 where the references use f64. For K-term dot products
// of unit-scale random values the f32 rounding error grows about as sqrt(K) * 2^-24 per unit of the
// result; |fast - ref| <= 4e-6 * sqrt(K) * (1 + |ref|) leaves a margin of ~10x over that (the largest
// seen is ~1e-5 at K = 513) while any wrong element (a missed tile, a wrong offset) is off by O(1).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { describe, it } from 'node:test';
import type { Activation } from '../../src/backend.js';
import { attentionRef } from '../../src/cpu/attention.js';
import { attentionWasm, matmulWasm } from '../../src/cpu/fast/index.js';
import { kernelModuleBytes } from '../../src/cpu/fast/kernels.js';
import { fastCpu } from '../../src/cpu/fast/pool.js';
import { CONTROL_BYTES } from '../../src/cpu/fast/tasks.js';
import { cpuMatmul } from '../../src/cpu/kernels.js';
import { type MatmulRefOptions, matmulRef } from '../../src/cpu/matmul.js';
import { Rng } from '../../src/util/random.js';

const rng = () => new Rng((Math.random() * 2 ** 32) >>> 0);

/** NaN over the whole shared memory after the control block. */
function poison(): void {
  const fast = fastCpu();
  assert.ok(fast, 'the fast path is available in Node');
  fast.ctx.refresh();
  fast.ctx.f32.fill(Number.NaN, CONTROL_BYTES / 4);
}

function assertClose(a: Float32Array, b: Float32Array, K: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  const tol = 4e-6 * Math.sqrt(K);
  for (let i = 0; i < a.length; i++) {
    const ok = Math.abs(a[i]! - b[i]!) <= tol * (1 + Math.abs(b[i]!));
    if (!ok) assert.fail(`${what}: element ${i} is ${a[i]}, the reference ${b[i]}`);
  }
}

describe('CPU fast path: setup', () => {
  it('emits valid WebAssembly (shared and unshared memory, with and without relaxed SIMD)', () => {
    assert.ok(WebAssembly.validate(kernelModuleBytes({ maxPages: 64 })));
    assert.ok(WebAssembly.validate(kernelModuleBytes()));
    // the fused form needs relaxed SIMD (Node 22's default, a flag on Node 20): valid where it exists
    const fma = kernelModuleBytes({ fma: true });
    assert.equal(WebAssembly.validate(fma), fastCpu()!.fma);
  });

  it('uses every core (at most 8) unless TOMA_CPU_THREADS says otherwise', () => {
    const asked = Number(process.env.TOMA_CPU_THREADS);
    const expected = Number.isInteger(asked) && asked >= 1 ? asked : Math.min(availableParallelism(), 8);
    assert.equal(fastCpu()!.threads, expected);
  });
});

describe('CPU fast matmul equals matmulRef', () => {
  const shapes = [
    [1, 1, 1],
    [3, 5, 7],
    [9, 17, 13],
    [67, 41, 300], // two k blocks
    [301, 77, 513], // several jobs per thread, three k blocks
  ] as const;
  for (const [M, N, K] of shapes) {
    it(`${M}x${N}x${K}, no epilogue`, () => {
      const r = rng();
      const x = r.normals(M * K);
      const w = r.normals(N * K);
      poison();
      assertClose(matmulWasm(x, w, M, N, K)!, matmulRef(x, w, M, N, K), K, 'y');
    });
  }
  const epilogues: [string, (r: Rng, M: number, N: number) => MatmulRefOptions][] = [
    ['bias', (r, _M, N) => ({ bias: r.normals(N) })],
    ...(['gelu', 'gelu_tanh', 'silu'] as Activation[]).map(
      (activation) =>
        [`bias + ${activation}`, (r: Rng, _M: number, N: number) => ({ bias: r.normals(N), activation })] as [
          string,
          (r: Rng, M: number, N: number) => MatmulRefOptions,
        ],
    ),
    [
      'gate (one row) + residual',
      (r, M, N) => ({ gate: r.normals(N), gateRows: 1, residual: r.normals(M * N) }),
    ],
    [
      'everything, gate rows per batch in a wider table',
      (r, M, N) => ({
        bias: r.normals(N),
        activation: 'gelu_tanh',
        gate: r.normals(3 * (2 * N + 5)),
        gateRows: 3,
        gateStride: 2 * N + 5,
        gateColumn: N + 2,
        residual: r.normals(M * N),
      }),
    ],
  ];
  for (const [name, make] of epilogues) {
    for (const [M, N, K] of [
      [3, 5, 7],
      [99, 27, 300],
    ] as const) {
      it(`${M}x${N}x${K} with ${name}`, () => {
        const r = rng();
        const x = r.normals(M * K);
        const w = r.normals(N * K);
        const o = make(r, M, N);
        poison();
        assertClose(matmulWasm(x, w, M, N, K, o)!, matmulRef(x, w, M, N, K, o), K, name);
      });
    }
  }

  it('activations hold for large magnitudes (the exponential clamps instead of overflowing)', () => {
    const M = 4;
    const K = 1;
    const N = 8;
    const x = Float32Array.from([1, -1, 30, -30]);
    const w = Float32Array.from([0, 0.5, 3, 10, 50, 100, 1000, 3000]);
    for (const activation of ['gelu', 'gelu_tanh', 'silu'] as Activation[]) {
      poison();
      assertClose(
        matmulWasm(x, w, M, N, K, { activation })!,
        matmulRef(x, w, M, N, K, { activation }),
        K,
        activation,
      );
    }
  });

  it('is what the CPU backend runs', () => {
    const r = rng();
    const x = r.normals(5 * 6);
    const w = r.normals(7 * 6);
    assert.deepEqual(cpuMatmul(true, x, w, 5, 7, 6), matmulWasm(x, w, 5, 7, 6));
  });
});

describe('CPU fast attention equals attentionRef', () => {
  for (const [Lq, Lk, D, scale] of [
    [1, 1, 4, 0.5],
    [5, 9, 12, 0.3], // D not a multiple of 8, Lk of 4
    [70, 301, 64, 0.125], // two row blocks, two k blocks in P·V
    [13, 7, 16, 40], // large scores: the row maximum must be subtracted
    [6, 10, 8, -0.7], // a negative scale
  ] as const) {
    it(`B=2 H=3 Lq=${Lq} Lk=${Lk} D=${D} scale=${scale}`, () => {
      const r = rng();
      const s = { B: 2, H: 3, Lq, Lk, D };
      const q = r.normals(6 * Lq * D);
      const k = r.normals(6 * Lk * D);
      const v = r.normals(6 * Lk * D);
      poison();
      const a = attentionWasm(q, k, v, s, scale)!;
      const b = attentionRef(q, k, v, s, scale);
      // the scores' error (~sqrt(D) 2^-24 |scale q k|) becomes a relative error of the weights
      assertClose(a, b, D * Math.max(1, Math.abs(scale) * Math.sqrt(D)) ** 2, 'attention');
    });
  }
});

describe('CPU fast path: processes and fallback', () => {
  const script = (body: string) =>
    spawnSync(process.execPath, ['--input-type=module', '-e', body], {
      encoding: 'utf8',
      timeout: 20_000,
      env: { ...process.env, TOMA_CPU_THREADS: '2' },
      cwd: new URL('../../../', import.meta.url).pathname,
    });

  it('an idle pool does not keep the process alive', () => {
    const r = script(
      "const { matmulWasm } = await import('./dist/src/cpu/fast/index.js');" +
        'const y = matmulWasm(new Float32Array(400 * 8).fill(1), new Float32Array(8 * 8).fill(1), 400, 8, 8);' +
        'console.log(y[0], y.length);',
    );
    assert.equal(r.error, undefined, `the process did not exit: ${r.error}`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), '8 3200');
  });

  it('TOMA_CPU_FAST=0 turns it off and the backend runs the plain path', () => {
    const r = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "const { fastCpu } = await import('./dist/src/cpu/fast/pool.js');" +
          "const { cpuMatmul } = await import('./dist/src/cpu/kernels.js');" +
          'console.log(fastCpu(), cpuMatmul(true, new Float32Array([1, 2]), new Float32Array([3, 4]), 1, 1, 2)[0]);',
      ],
      {
        encoding: 'utf8',
        env: { ...process.env, TOMA_CPU_FAST: '0' },
        cwd: new URL('../../../', import.meta.url).pathname,
      },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'null 11');
  });
});
