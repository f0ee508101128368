import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { matmulBlocked, matmulRef } from '../src/cpu/matmul.js';
import { rng } from './helpers.js';

describe('CPU backend fast paths equal the plain references', () => {
  for (const [M, N, K] of [
    [1, 1, 1],
    [4, 4, 4],
    [9, 7, 13],
    [33, 18, 5],
  ] as const) {
    it(`blocked matmul ${M}x${N}x${K} with the full epilogue`, () => {
      const r = rng();
      const x = r.normals(M * K);
      const w = r.normals(N * K);
      const o = {
        bias: r.normals(N),
        activation: 'gelu_tanh' as const,
        gate: r.normals(N),
        gateRows: 1,
        residual: r.normals(M * N),
      };
      assert.deepEqual(matmulBlocked(x, w, M, N, K), matmulRef(x, w, M, N, K));
      const a = matmulBlocked(x, w, M, N, K, o);
      const b = matmulRef(x, w, M, N, K, o);
      for (let i = 0; i < a.length; i++)
        assert.ok(Math.abs(a[i]! - b[i]!) <= 1e-6 * (1 + Math.abs(b[i]!)), `element ${i}`);
    });
  }
});
