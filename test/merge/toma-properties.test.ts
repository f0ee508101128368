// Properties of ToMA that hold independently of any reference implementation, on both backends.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Backend } from '../../src/backend.js';
import { TileLayout } from '../../src/merge/tile-layout.js';
import {
  checkDestinations,
  tomaMerge,
  tomaSelect,
  tomaSelectAndWeigh,
  tomaUnmerge,
} from '../../src/merge/toma.js';
import { cpu, gpu, rng } from '../helpers.js';

const backends: Backend[] = gpu ? [cpu, gpu] : [cpu];

/**
 * x [B, N, C] whose every s x s tile holds `distinct` random vectors, each repeated on n / distinct
 * tokens (a power of two), with dyadic entries so every average is exact in f32.
 */
function piecewiseConstant(
  B: number,
  L: TileLayout,
  C: number,
  distinct: number,
  seed: number,
): Float32Array {
  const r = rng(seed);
  const x = new Float32Array(B * L.n * C);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < L.tiles; t++) {
      const tile = L.tileInfo(t);
      const values = Array.from({ length: distinct }, () =>
        Array.from({ length: C }, () => (r.int(33) - 16) / 8),
      );
      const order = Array.from({ length: tile.n }, (_, i) => i % distinct).sort(() => r.uniform() - 0.5);
      for (let i = 0; i < tile.n; i++) x.set(values[order[i]!]!, (b * L.n + L.raster(tile, i)) * C);
    }
  }
  return x;
}

describe('ToMA properties', () => {
  for (const be of backends) {
    for (const ratio of [0.5, 0.75]) {
      it(`${be.name}: unmerge(merge(x)) = x exactly on tiles with k distinct values (ratio ${ratio})`, async () => {
        const L = new TileLayout(8, 12, 4, ratio);
        const C = 16;
        const B = 2;
        const x = piecewiseConstant(B, L, C, L.kMax, 5);
        const xt = be.tensor(x, [B, L.n, C]);
        const { dst, p, m } = tomaSelectAndWeigh(be, xt, L, 1000);
        const merged = tomaMerge(be, xt, m, L);
        const back = await tomaUnmerge(be, merged, p, L).read();
        assert.deepEqual(back, x);
        // Each merged token is one of its tile's values, exactly: its destination's.
        const d = await be.readU32(dst);
        const y = await merged.read();
        for (let b = 0; b < B; b++)
          for (let j = 0; j < L.tokens; j++) {
            const src = (b * L.n + d[b * L.tokens + j]!) * C;
            assert.deepEqual(
              y.subarray((b * L.tokens + j) * C, (b * L.tokens + j + 1) * C),
              x.subarray(src, src + C),
            );
          }
      });
    }

    it(`${be.name}: ratio -> 0 makes merge a permutation and unmerge(merge(x)) the identity (distinct tokens)`, async () => {
      for (const ratio of [0, 0.01]) {
        const L = new TileLayout(7, 6, 4, ratio);
        assert.equal(L.tokens, L.n);
        const C = 24;
        const x = rng().normals(2 * L.n * C);
        const xt = be.tensor(x, [2, L.n, C]);
        const { dst, p, m } = tomaSelectAndWeigh(be, xt, L, 1000);
        const merged = tomaMerge(be, xt, m, L);
        assert.deepEqual(await tomaUnmerge(be, merged, p, L).read(), x, `ratio ${ratio}`);
        const d = await be.readU32(dst);
        const y = await merged.read();
        for (let j = 0; j < 2 * L.tokens; j++) {
          const src = (Math.floor(j / L.tokens) * L.n + d[j]!) * C;
          assert.deepEqual(y.subarray(j * C, (j + 1) * C), x.subarray(src, src + C));
        }
      }
    });

    it(`${be.name}: no duplicate destinations, even in flat (constant) tiles`, async () => {
      const L = new TileLayout(9, 10, 4, 0.25);
      const C = 8;
      const r = rng();
      const flat = new Float32Array(2 * L.n * C);
      for (let b = 0; b < 2; b++)
        for (let t = 0; t < L.tiles; t++) {
          const v = r.normals(C);
          const tile = L.tileInfo(t);
          // half the tiles constant, the others random
          for (let i = 0; i < tile.n; i++)
            flat.set(t % 2 ? r.normals(C) : v, (b * L.n + L.raster(tile, i)) * C);
        }
      const dst = await be.readU32(tomaSelect(be, be.tensor(flat, [2, L.n, C]), L));
      checkDestinations(dst, 2, L);
    });

    it(`${be.name}: selection is per batch element`, async () => {
      const L = new TileLayout(8, 8, 4, 0.5);
      const C = 16;
      const r = rng();
      const a = r.normals(L.n * C);
      const b = r.normals(L.n * C);
      const pairOf = (u: Float32Array, v: Float32Array) => {
        const x = new Float32Array(2 * L.n * C);
        x.set(u);
        x.set(v, L.n * C);
        return be.tensor(x, [2, L.n, C]);
      };
      const same = await be.readU32(tomaSelect(be, pairOf(a, a), L));
      assert.deepEqual(same.subarray(0, L.tokens), same.subarray(L.tokens));
      const diff = await be.readU32(tomaSelect(be, pairOf(a, b), L));
      assert.deepEqual(diff.subarray(0, L.tokens), same.subarray(0, L.tokens), 'element 0 ignores element 1');
      assert.notDeepEqual(diff.subarray(L.tokens), diff.subarray(0, L.tokens));
    });
  }
});
