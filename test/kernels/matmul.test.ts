import { describe, it } from 'node:test';
import type { Activation } from '../../src/backend.js';
import { assertClose, cpu, gpu, gpuDtypes, noGpu, pair, rng, TOL } from '../helpers.js';

describe('matmul kernel vs CPU reference', { skip: noGpu }, () => {
  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [7, 13, 5],
    [64, 64, 64],
    [65, 33, 130],
    [130, 70, 17],
  ];
  for (const dtype of gpuDtypes) {
    for (const [M, N, K] of shapes) {
      it(`${dtype} M=${M} N=${N} K=${K}`, async () => {
        const r = rng();
        const [xc, xg] = pair(gpu!, r.normals(M * K), [M, K], dtype);
        const [wc, wg] = pair(gpu!, r.normals(N * K, 1 / Math.sqrt(K)), [N, K], dtype);
        const want = await cpu.matmul(xc, wc).read();
        const got = await gpu!.matmul(xg, wg).read();
        assertClose(got, want, TOL[dtype], 'matmul');
      });
    }
    for (const act of ['gelu', 'gelu_tanh', 'silu'] as Activation[]) {
      it(`${dtype} fused epilogue bias+${act}+gate+residual, batched rows`, async () => {
        const r = rng();
        const B = 3;
        const L = 11;
        const K = 37;
        const N = 45;
        const [xc, xg] = pair(gpu!, r.normals(B * L * K), [B, L, K], dtype);
        const [wc, wg] = pair(gpu!, r.normals(N * K, 0.3), [N, K], dtype);
        const [bc, bg] = pair(gpu!, r.normals(N), [N], dtype);
        const [gc, gg] = pair(gpu!, r.normals(B * N), [B, N], dtype);
        const [rc, rg] = pair(gpu!, r.normals(B * L * N), [B, L, N], dtype);
        const want = await cpu.matmul(xc, wc, { bias: bc, activation: act, gate: gc, residual: rc }).read();
        const got = await gpu!.matmul(xg, wg, { bias: bg, activation: act, gate: gg, residual: rg }).read();
        assertClose(got, want, TOL[dtype], `matmul+${act}`);
      });
    }
    it(`${dtype} gate read as a chunk of a wider table (gateColumn)`, async () => {
      const r = rng();
      const [B, L, K, N, W, col] = [2, 7, 19, 23, 3 * 23 + 5, 23 + 2];
      const [xc, xg] = pair(gpu!, r.normals(B * L * K), [B, L, K], dtype);
      const [wc, wg] = pair(gpu!, r.normals(N * K, 0.3), [N, K], dtype);
      const [tc, tg] = pair(gpu!, r.normals(B * W), [B, W], dtype);
      const [rc, rg] = pair(gpu!, r.normals(B * L * N), [B, L, N], dtype);
      const want = await cpu.matmul(xc, wc, { gate: tc, gateColumn: col, residual: rc }).read();
      const got = await gpu!.matmul(xg, wg, { gate: tg, gateColumn: col, residual: rg }).read();
      assertClose(got, want, TOL[dtype], 'matmul with gateColumn');
      // the same as copying the chunk out first
      const copied = await cpu.matmul(xc, wc, { gate: cpu.slice(tc, 1, col, N), residual: rc }).read();
      assertClose(want, copied, 1e-6, 'gateColumn vs sliced gate (CPU)');
    });
  }
});
