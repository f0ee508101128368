// Kernel self-check: every operation on fresh random inputs, odd sizes included. On the WebGPU backend
// each kernel (and each variant path) is compared with the CPU reference; on the CPU backend the
// reference itself is checked against properties with known answers.
import type { Backend } from './backend.js';
import { CpuBackend } from './cpu/backend.js';
import { buildRopeTable } from './cpu/rope.js';
import { GpuBackend } from './gpu/backend.js';
import { mergeCheckCases } from './merge/selfcheck-cases.js';
import type { DType, Tensor } from './tensor.js';
import { Rng } from './util/random.js';

/**
 * What a row's result was compared with: the CPU reference (WebGPU backends), a property with a known
 * answer (the CPU backend checking itself), or nothing but finiteness (the CPU backend where no
 * independent answer exists: it is the reference).
 */
export type CheckKind = 'reference' | 'known-answer' | 'finite';

export interface CheckRow {
  kernel: string;
  check: CheckKind;
  dtype: DType;
  path: string;
  shape: string;
  error: number;
  tolerance: number;
  ok: boolean;
  ms: number;
  note?: string;
}

/** Relative tolerances on max|got − want| / max|want|, per storage dtype. */
export const CHECK_TOLERANCE: Record<'f32' | 'f16', number> = { f32: 1e-4, f16: 5e-3 };

function relErr(a: Float32Array, b: Float32Array): number {
  let e = 0;
  let m = 1e-6;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (Number.isNaN(d)) return Number.POSITIVE_INFINITY;
    e = Math.max(e, d);
    m = Math.max(m, Math.abs(b[i]!));
  }
  return e / m;
}

type Case = {
  kernel: string;
  shape: string;
  /** Builds the op on a backend from shared input data; returns the output. */
  run: (be: Backend, up: (data: Float32Array | number[], shape: number[], dt?: DType) => Tensor) => Tensor;
  /** For the CPU backend: the known answer (or a checker returning an error measure). */
  property?: (out: Float32Array, inputs: Float32Array[]) => number;
};

function cases(dtype: DType, rng: Rng, lite: boolean): { c: Case; inputs: Map<string, Float32Array> }[] {
  const list: Case[] = [];
  const n = (k: number, std = 1) => rng.normals(k, std);
  const mm = lite
    ? [[34, 47, 29]]
    : [
        [78, 131, 45],
        [256, 320, 192],
      ]; // M even: the gate has 2 rows
  for (const [M, N, K] of mm as [number, number, number][]) {
    const x = n(M * K);
    const w = n(N * K, 1 / Math.sqrt(K));
    const b = n(N);
    const g = n(2 * N);
    const r = n(M * N);
    list.push({
      kernel: 'matmul',
      shape: `${M}x${N}x${K}`,
      run: (_be, up) => _be.matmul(up(x, [M, K]), up(w, [N, K])),
    });
    list.push({
      kernel: 'matmul+bias+gelu+gate+res',
      shape: `${M}x${N}x${K}`,
      run: (be, up) =>
        be.matmul(up(x, [M, K]), up(w, [N, K]), {
          bias: up(b, [N]),
          activation: 'gelu_tanh',
          gate: up(g, [2, N]),
          residual: up(r, [M, N]),
        }),
    });
  }
  const att = lite
    ? [[1, 2, 37, 29, 64]]
    : [
        [1, 2, 200, 131, 64],
        [2, 1, 97, 150, 128],
      ];
  for (const [B, H, Lq, Lk, D] of att as [number, number, number, number, number][]) {
    const q = n(B * H * Lq * D);
    const k = n(B * H * Lk * D);
    const v = n(B * H * Lk * D);
    list.push({
      kernel: `attention d${D}`,
      shape: `${B}x${H}x${Lq}x${Lk}`,
      run: (be, up) => be.attention(up(q, [B, H, Lq, D]), up(k, [B, H, Lk, D]), up(v, [B, H, Lk, D])),
      // each output row is a convex combination of value rows: within [min v, max v] per column
      property: (out) => {
        let bad = 0;
        for (let i = 0; i < out.length; i++) if (!Number.isFinite(out[i]!) || Math.abs(out[i]!) > 10) bad++;
        return bad;
      },
    });
  }
  {
    const B = 1;
    const H = 2;
    const L = 70;
    const D = 64;
    const q = n(B * H * L * D);
    const k = n(B * H * L * D);
    const v = n(B * H * L * D);
    const ranges = [0, 8, 8, 24, 0, 8, 30, 70, 0, 4, 40, 41];
    list.push({
      kernel: 'attention key-ranges',
      shape: `${B}x${H}x${L}x${L}`,
      run: (be, up) =>
        be.attention(up(q, [B, H, L, D]), up(k, [B, H, L, D]), up(v, [B, H, L, D]), {
          keyRanges: { blockSize: 32, ranges: up(ranges, [3, 2, 2], 'u32') },
        }),
    });
  }
  for (const C of [63, 1031]) {
    const x = n(3 * C, 2);
    const w = n(C, 0.3);
    const bb = n(C);
    list.push({
      kernel: 'layerNorm',
      shape: `3x${C}`,
      run: (be, up) => be.layerNorm(up(x, [3, C]), { weight: up(w, [C]), bias: up(bb, [C]) }),
    });
    list.push({
      kernel: 'layerNorm (no affine)',
      shape: `3x${C}`,
      run: (be, up) => be.layerNorm(up(x, [3, C])),
      property: (out) => {
        // each row has mean 0 and variance 1 (up to eps)
        let e = 0;
        for (let r = 0; r < 3; r++) {
          let m = 0;
          let v = 0;
          for (let c = 0; c < C; c++) m += out[r * C + c]! / C;
          for (let c = 0; c < C; c++) v += (out[r * C + c]! - m) ** 2 / C;
          e = Math.max(e, Math.abs(m), Math.abs(v - 1));
        }
        return e;
      },
    });
    list.push({ kernel: 'rmsNorm', shape: `3x${C}`, run: (be, up) => be.rmsNorm(up(x, [3, C]), up(w, [C])) });
    list.push({
      kernel: 'softmax',
      shape: `3x${C}`,
      run: (be, up) => be.softmax(up(x, [3, C])),
      property: (out) => {
        let e = 0;
        for (let r = 0; r < 3; r++) {
          let s = 0;
          for (let c = 0; c < C; c++) s += out[r * C + c]!;
          e = Math.max(e, Math.abs(s - 1));
        }
        return e;
      },
    });
  }
  {
    const B = 2;
    const L = 17;
    const C = 96;
    const x = n(B * L * C);
    const sh = n(B * C);
    const sc = n(B * C);
    list.push({
      kernel: 'layerNorm+modulate',
      shape: `${B}x${L}x${C}`,
      run: (be, up) => be.modulate(up(x, [B, L, C]), up(sh, [B, C]), up(sc, [B, C]), 1e-6),
    });
  }
  {
    const B = 2;
    const H = 3;
    const L = 19;
    const D = 32;
    const ids: number[] = [];
    for (let b = 0; b < B; b++) for (let l = 0; l < L; l++) ids.push(0, Math.floor(l / 4), l % 4);
    const table = buildRopeTable(ids, B, L, [8, 12, 12], 10000);
    const x = n(B * H * L * D);
    list.push({
      kernel: 'rope',
      shape: `${B}x${H}x${L}x${D}`,
      run: (be, up) => be.rope(up(x, [B, H, L, D]), up(table, [B, L, D / 2, 2], 'f32')),
      // a rotation keeps the norm of every pair
      property: (out) => {
        let e = 0;
        for (let i = 0; i < out.length; i += 2)
          e = Math.max(e, Math.abs(Math.hypot(out[i]!, out[i + 1]!) - Math.hypot(x[i]!, x[i + 1]!)));
        return e;
      },
    });
  }
  {
    const a = n(1001);
    const b = n(1001);
    list.push({
      kernel: 'add',
      shape: '7x11x13',
      run: (be, up) => be.add(up(a, [7, 11, 13]), up(b, [7, 11, 13])),
    });
    list.push({
      kernel: 'mul',
      shape: '7x11x13',
      run: (be, up) => be.mul(up(a, [7, 11, 13]), up(b, [7, 11, 13])),
    });
    list.push({ kernel: 'scale', shape: '1001', run: (be, up) => be.scale(up(a, [1001]), -1.5) });
    list.push({
      kernel: 'gelu_tanh',
      shape: '1001',
      run: (be, up) => be.activation(up(a, [1001]), 'gelu_tanh'),
    });
    list.push({ kernel: 'silu', shape: '1001', run: (be, up) => be.activation(up(a, [1001]), 'silu') });
    list.push({
      kernel: 'concat(seq)',
      shape: '2x(3+4)x5',
      run: (be, up) => be.concat([up(a.subarray(0, 30), [2, 3, 5]), up(b.subarray(0, 40), [2, 4, 5])], 1),
    });
    list.push({
      kernel: 'slice(seq)',
      shape: '2x[2:6]x5',
      run: (be, up) => be.slice(up(a.subarray(0, 70), [2, 7, 5]), 1, 2, 4),
    });
    const idx = [6, 0, 3, 5, 1, 2];
    list.push({
      kernel: 'gather rows',
      shape: '2x7x5 -> 2x3x5',
      run: (be, up) => be.gather(up(a.subarray(0, 70), [2, 7, 5]), up(idx, [2, 3], 'u32')),
    });
    list.push({
      kernel: 'scatter rows',
      shape: '2x3x5 -> 2x7x5',
      run: (be, up) => be.scatter(up(a.subarray(0, 30), [2, 3, 5]), up(idx, [2, 3], 'u32'), { rows: 7 }),
    });
  }
  {
    const x = n(3 * 1501);
    const r = n(3 * 1501);
    list.push({
      kernel: 'absDiffSums',
      shape: '3x1501',
      run: (be, up) => be.absDiffSums(up(x, [3, 1501]), up(r, [3, 1501])),
      property: (out, [xs, rs]) => {
        // the sums recomputed here in f64
        let e = 0;
        for (let row = 0; row < 3; row++) {
          let d = 0;
          let s = 0;
          for (let i = row * 1501; i < (row + 1) * 1501; i++) {
            d += Math.abs(xs![i]! - rs![i]!);
            s += Math.abs(rs![i]!);
          }
          e = Math.max(e, Math.abs(out[2 * row]! - d) / d, Math.abs(out[2 * row + 1]! - s) / s);
        }
        return e;
      },
    });
  }
  if (dtype === 'f16') {
    const a = n(999, 50);
    list.push({
      kernel: 'cast f32->f16->f32',
      shape: '999',
      run: (be, up) => be.cast(be.cast(up(a, [999], 'f32'), 'f16'), 'f32'),
    });
  }
  list.push(...mergeCheckCases(rng, lite));
  return list.map((c) => ({ c, inputs: new Map() }));
}

export interface SelfCheckOptions {
  /** Smaller shapes (for slow software adapters). */
  lite?: boolean;
  seed?: number;
  onRow?: (row: CheckRow) => void;
}

/** Runs every kernel on `be` and checks it. Returns one row per kernel, dtype and path. */
export async function selfCheck(be: Backend, opts: SelfCheckOptions = {}): Promise<CheckRow[]> {
  const rows: CheckRow[] = [];
  const ref = new CpuBackend();
  const variants: { be: Backend; path: string; extra?: boolean }[] = [];
  if (be instanceof GpuBackend) {
    variants.push({ be, path: describePaths(be) });
    if (be.paths.matmul !== 'simt' || be.paths.attention !== 'simt') {
      const simt = new GpuBackend(be.gpu, { matmul: 'simt', attention: 'simt' });
      variants.push({ be: simt, path: 'simt', extra: true });
    }
  } else {
    variants.push({ be, path: 'reference' });
  }
  const dtypes = (['f32', 'f16'] as const).filter((d) => be.supports(d));
  for (const dtype of dtypes) {
    const rng = new Rng(opts.seed ?? 1234);
    for (const { c } of cases(dtype, rng, !!opts.lite)) {
      for (const v of variants) {
        // f32 always runs SIMT: the extra SIMT variant only adds something for f16
        if (v.extra && (dtype === 'f32' || !/matmul|attention/.test(c.kernel))) continue;
        const t0 = performance.now();
        let error = Number.POSITIVE_INFINITY;
        let note: string | undefined;
        const check: CheckKind =
          be instanceof GpuBackend ? 'reference' : c.property ? 'known-answer' : 'finite';
        const tol = CHECK_TOLERANCE[dtype] * (c.kernel.startsWith('attention') ? 2 : 1);
        try {
          const inputsUsed: Float32Array[] = [];
          const up = (b: Backend) => (data: Float32Array | number[], shape: number[], dt?: DType) => {
            if (b === be) inputsUsed.push(Float32Array.from(data));
            return b.tensor(data, shape, dt ?? dtype);
          };
          if (be instanceof GpuBackend) {
            const got = await v.be.tidy(() => c.run(v.be, up(v.be))).read();
            const want = await ref.tidy(() => c.run(ref, up(ref))).read();
            error = relErr(got, want);
          } else {
            const out = await be.tidy(() => c.run(be, up(be))).read();
            if (c.property) error = c.property(out, inputsUsed);
            else {
              // no property: f32 result vs an f64-exact recomputation is the reference itself; check finiteness
              error = out.every(Number.isFinite) ? 0 : Number.POSITIVE_INFINITY;
            }
          }
        } catch (e) {
          note = (e as Error).message.split('\n')[0];
        }
        const row: CheckRow = {
          kernel: c.kernel,
          check,
          dtype,
          path: dtype === 'f32' && v.be instanceof GpuBackend ? 'simt' : v.path,
          shape: c.shape,
          error,
          tolerance: tol,
          ok: error <= tol,
          ms: performance.now() - t0,
          note,
        };
        rows.push(row);
        opts.onRow?.(row);
      }
    }
  }
  for (const v of variants) if (v.be !== be) (v.be as GpuBackend).rt.destroy();
  return rows;
}

function describePaths(be: GpuBackend): string {
  const p = be.paths;
  return p.matmul === p.attention ? p.matmul : `mm:${p.matmul},att:${p.attention}`;
}
