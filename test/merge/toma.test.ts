import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tomaMergeRef, tomaUnmergeRef, tomaWeightsRef } from '../../src/cpu/toma.js';
import { TileLayout } from '../../src/merge/tile-layout.js';
import {
  checkDestinations,
  tomaMerge,
  tomaMergeJoint,
  tomaRope,
  tomaSelect,
  tomaSelectAndWeigh,
  tomaUnmerge,
  tomaUnmergeJointAdd,
  tomaWeights,
} from '../../src/merge/toma.js';
import { assertClose, cpu, gpu, gpuDtypes, noGpu, pair, rng, TOL } from '../helpers.js';
import { compareSelection } from './toma-check.js';

// Grids, tiles and ratios that exercise edge tiles (short rows, short columns, corners), tiles larger
// than the grid, scalar (C % 4 != 0) and vec4 channel paths, and both merge / unmerge variants (rows
// preloaded into registers for small tiles, accumulated in passes for large ones).
const CASES = [
  { H: 8, W: 8, s: 4, ratio: 0.5, C: 64 },
  { H: 7, W: 5, s: 4, ratio: 0.5, C: 7 },
  { H: 9, W: 6, s: 3, ratio: 0.25, C: 36 },
  { H: 5, W: 11, s: 2, ratio: 0.75, C: 20 },
  { H: 3, W: 3, s: 8, ratio: 0.6, C: 12 },
  { H: 10, W: 9, s: 8, ratio: 0.6, C: 24 },
  { H: 9, W: 10, s: 6, ratio: 0.75, C: 8 }, // unmerge preload path with tiles larger than 4x4
] as const;
const B = 2;
const TIE_EPS = 1e-4;
let exactTiles = 0;

describe('ToMA kernels vs CPU reference', { skip: noGpu }, () => {
  for (const dtype of gpuDtypes) {
    for (const { H, W, s, ratio, C } of CASES) {
      const name = `${dtype} ${H}x${W} tile ${s} ratio ${ratio} C ${C}`;
      it(`${name}: selection (near-ties checked by greedy replay) and weights`, async () => {
        const L = new TileLayout(H, W, s, ratio);
        const r = rng();
        const [xc, xg] = pair(gpu!, r.normals(B * L.n * C), [B, L.n, C], dtype);
        const x = cpu.data(xc);
        const dst = await gpu!.readU32(tomaSelect(gpu!, xg, L));
        checkDestinations(dst, B, L);
        const cmp = compareSelection(x, B, C, L, dst, TIE_EPS);
        assert.deepEqual(cmp.errors, [], cmp.errors.join('\n'));
        exactTiles += cmp.exact;

        // Weights for the GPU's destinations, at a soft and at the reference temperature.
        const dstG = gpu!.tensor(dst, [B, L.tokens], 'u32');
        for (const tau of [20, 1000]) {
          const w = tomaWeights(gpu!, xg, dstG, L, tau);
          const want = tomaWeightsRef(x, B, C, L, dst, tau);
          // P = softmax(tau * cos): an f32 cosine error e moves P by up to tau * e / 4.
          const tol = tau === 1000 ? 5e-4 : 1e-5;
          assertClose(await w.p.read(), want.p, tol, `P tau=${tau}`);
          assertClose(await w.m.read(), want.m, tol, `M tau=${tau}`);
        }

        // The fused kernel gives the same as selection then weights.
        const fused = tomaSelectAndWeigh(gpu!, xg, L, 1000);
        assert.deepEqual(await gpu!.readU32(fused.dst), dst);
        const sep = tomaWeights(gpu!, xg, dstG, L, 1000);
        assert.deepEqual(await fused.p.read(), await sep.p.read());
        assert.deepEqual(await fused.m.read(), await sep.m.read());
      });

      it(`${name}: merge and fused unmerge`, async () => {
        const L = new TileLayout(H, W, s, ratio);
        const r = rng();
        const x = r.normals(B * L.n * C);
        // Weights from the reference on a random destination set (the merge kernels do not care how they were chosen).
        const dstC = await cpu.readU32(tomaSelect(cpu, cpu.tensor(x, [B, L.n, C]), L));
        const { p, m } = tomaWeightsRef(x, B, C, L, dstC, 5);
        const wShape = [B, L.tiles, L.kMax, L.nMax];
        const [xc, xg] = pair(gpu!, x, [B, L.n, C], dtype);
        const mg = gpu!.tensor(m, wShape);
        const pg = gpu!.tensor(p, wShape);
        const y = tomaMerge(gpu!, xg, mg, L);
        assert.deepEqual(y.shape, [B, L.tokens, C]);
        assertClose(await y.read(), tomaMergeRef(cpu.data(xc), B, C, L, m), TOL[dtype], 'merge');
        const [zc, zg] = pair(gpu!, r.normals(B * L.tokens * C), [B, L.tokens, C], dtype);
        const u = tomaUnmerge(gpu!, zg, pg, L);
        assert.deepEqual(u.shape, [B, L.n, C]);
        assertClose(await u.read(), tomaUnmergeRef(cpu.data(zc), B, C, L, p), TOL[dtype], 'unmerge');
      });

      it(`${name}: joint [text | image] merge and unmerge + residual (fused) vs the composition`, async () => {
        const L = new TileLayout(H, W, s, ratio);
        const r = rng();
        const T = 13; // text rows: more than one text workgroup's 8, not a multiple of it
        const x = r.normals(B * L.n * C);
        const dstC = await cpu.readU32(tomaSelect(cpu, cpu.tensor(x, [B, L.n, C]), L));
        const { p, m } = tomaWeightsRef(x, B, C, L, dstC, 5);
        const wShape = [B, L.tiles, L.kMax, L.nMax];
        const [mc, mg] = [cpu.tensor(m, wShape), gpu!.tensor(m, wShape)];
        const [pc, pg] = [cpu.tensor(p, wShape), gpu!.tensor(p, wShape)];
        const [hc, hg] = pair(gpu!, r.normals(B * (T + L.n) * C), [B, T + L.n, C], dtype);
        const merged = tomaMergeJoint(gpu!, hg, mg, L, T);
        assert.deepEqual(merged.shape, [B, T + L.tokens, C]);
        assertClose(
          await merged.read(),
          await tomaMergeJoint(cpu, hc, mc, L, T).read(),
          TOL[dtype],
          'merge joint',
        );
        const [zc, zg] = pair(gpu!, r.normals(B * (T + L.tokens) * C), [B, T + L.tokens, C], dtype);
        const [rc, rg] = pair(gpu!, r.normals(B * (T + L.n) * C), [B, T + L.n, C], dtype);
        const out = tomaUnmergeJointAdd(gpu!, zg, pg, L, T, rg);
        assert.deepEqual(out.shape, [B, T + L.n, C]);
        const want = await tomaUnmergeJointAdd(cpu, zc, pc, L, T, rc).read();
        assertClose(await out.read(), want, TOL[dtype], 'unmerge joint + residual');
        // the CPU composition itself: text rows are z + residual, image rows residual + unmerge
        const zs = cpu.data(zc);
        const res = cpu.data(rc);
        const sum = zs[5 * C + 1]! + res[5 * C + 1]!;
        assert.ok(Math.abs(want[5 * C + 1]! - sum) <= 1e-3 * (1 + Math.abs(sum)), 'text row'); // f16 rounding
        // textRows = 0 is the plain merge / unmerge
        const plain = await tomaMerge(gpu!, gpu!.slice(hg, 1, T, L.n), mg, L).read();
        assertClose(await tomaMergeJoint(gpu!, gpu!.slice(hg, 1, T, L.n), mg, L, 0).read(), plain, 0, 'T=0');
      });
    }
  }

  it('the selection tests compared some tiles index for index (not only near-tie replays)', () => {
    assert.ok(exactTiles > 0, 'every tile had a near-tie: nothing was compared exactly');
  });

  it('RoPE rows of merged tokens are the rows of their destinations', async () => {
    const L = new TileLayout(6, 7, 4, 0.5);
    const r = rng();
    const P = 3;
    const [xc, xg] = pair(gpu!, r.normals(B * L.n * 8), [B, L.n, 8]);
    const dst = tomaSelect(gpu!, xg, L);
    const dstU = await gpu!.readU32(dst);
    const table = r.normals(B * L.n * P * 2);
    const [tc, tg] = pair(gpu!, table, [B, L.n, P, 2]);
    const got = await tomaRope(gpu!, tg, dst, L).read();
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < L.tokens; j++) {
        const src = (b * L.n + dstU[b * L.tokens + j]!) * P * 2;
        assert.deepEqual(
          Array.from(got.subarray((b * L.tokens + j) * P * 2, (b * L.tokens + j + 1) * P * 2)),
          Array.from(table.subarray(src, src + P * 2)),
        );
      }
    }
    const cpuDst = cpu.tensor(dstU, [B, L.tokens], 'u32');
    assert.deepEqual(await tomaRope(cpu, tc, cpuDst, L).read(), got);
    xc.dispose();
  });
});

describe('ToMA op argument checks (same on every backend)', () => {
  const L = new TileLayout(4, 4, 4, 0.5);
  const backends = gpu ? [cpu, gpu] : [cpu];
  for (const be of backends) {
    it(`${be.name}: wrong shapes and dtypes are named`, () => {
      const x = be.zeros([1, 16, 8]);
      assert.throws(
        () => tomaSelect(be, be.zeros([1, 15, 8]), L),
        /tomaSelect\(\): x has shape \[1, 15, 8\], expected \[\*, 16, \*\]/,
      );
      assert.throws(() => tomaSelect(be, be.zeros([16, 8]), L), /x has shape/);
      assert.throws(() => tomaWeights(be, x, be.zeros([1, 8]), L, 1000), /dst must be u32, got f32/);
      assert.throws(() => tomaWeights(be, x, be.zeros([1, 7], 'u32'), L, 1000), /dst has shape \[1, 7\]/);
      assert.throws(
        () => tomaWeights(be, x, be.zeros([1, 8], 'u32'), L, 0),
        /temperature must be a positive/,
      );
      assert.throws(
        () => tomaMerge(be, x, be.zeros([1, 1, 8, 15]), L),
        /m has shape \[1, 1, 8, 15\], expected \[1, 1, 8, 16\]/,
      );
      assert.throws(() => tomaUnmerge(be, be.zeros([1, 9, 8]), be.zeros([1, 1, 8, 16]), L), /z has shape/);
      assert.throws(
        () => tomaRope(be, be.zeros([1, 16, 4, 3]), be.zeros([1, 8], 'u32'), L),
        /RoPE table has shape/,
      );
      assert.throws(
        () => tomaSelect(be, cpu === be && gpu ? gpu.zeros([1, 16, 8]) : ({} as never), L),
        /another backend|not a Tensor/,
      );
    });
  }
  it('CPU reference rejects destinations outside their tile', () => {
    const L2 = new TileLayout(4, 8, 4, 0.75);
    const x = cpu.zeros([1, 32, 4]);
    const bad = cpu.tensor([0, 1, 2, 3, 0, 1, 2, 3], [1, 8], 'u32');
    assert.throws(
      () => tomaWeights(cpu, x, bad, L2, 1000),
      /destination 0 of tile 1 \(batch 0\) is raster token 0/,
    );
  });
});
