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

import { attentionFast, attentionRef, rangeMask } from '../src/cpu/attention.js';

describe('CPU fast attention equals the plain reference', () => {
  for (const [Lq, Lk, D] of [
    [1, 1, 4],
    [5, 9, 8],
    [13, 7, 16],
  ] as const) {
    it(`dense Lq=${Lq} Lk=${Lk} D=${D}`, () => {
      const r = rng();
      const s = { B: 2, H: 3, Lq, Lk, D };
      const q = r.normals(2 * 3 * Lq * D);
      const k = r.normals(2 * 3 * Lk * D);
      const v = r.normals(2 * 3 * Lk * D);
      const a = attentionFast(q, k, v, s, 0.3);
      const b = attentionRef(q, k, v, s, 0.3);
      for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) < 1e-6, `element ${i}`);
    });
  }
  for (const blockSize of [4, 3, 8]) {
    it(`key ranges, blockSize ${blockSize}, incl. an empty block`, () => {
      const r = rng();
      const Lq = 11;
      const Lk = 20;
      const D = 8;
      const nb = Math.ceil(Lq / blockSize);
      const ranges = new Uint32Array(nb * 4);
      for (let i = 0; i < nb; i++) ranges.set(i === 1 ? [0, 0, 5, 5] : [0, 3, 5 + i, 9 + 2 * i], i * 4);
      const s = { B: 1, H: 2, Lq, Lk, D };
      const q = r.normals(2 * Lq * D);
      const k = r.normals(2 * Lk * D);
      const v = r.normals(2 * Lk * D);
      const a = attentionFast(q, k, v, s, 0.5, { ranges, maxRanges: 2, blockSize });
      const b = attentionRef(q, k, v, s, 0.5, rangeMask(ranges, 2, blockSize));
      for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) < 1e-6, `element ${i}`);
    });
  }
});

import { gelu } from '../src/cpu/elementwise.js';

describe('exact GELU reference', () => {
  it('matches 0.5 x erfc(-x / sqrt 2) (values from a double-precision erfc) to 2e-7 relative', () => {
    const cases: [number, number][] = [
      [-8, -4.9767684594174555e-15],
      [-5, -1.4332578593959731e-6],
      [-3, -0.004049694094890287],
      [-1.5, -0.10021080190328713],
      [-0.5, -0.15426876936299344],
      [-0.001, -0.000499601057786089],
      [0, 0],
      [0.001, 0.000500398942213911],
      [0.3, 0.18537342665668577],
      [1, 0.8413447460685429],
      [2.5, 2.4844758366855597],
      [6, 5.999999994080474],
    ];
    for (const [x, want] of cases)
      assert.ok(Math.abs(gelu(x) - want) <= 2e-7 * Math.abs(want), `gelu(${x}) = ${gelu(x)}, want ${want}`);
  });
});
