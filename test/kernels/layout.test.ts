import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cpu, gpu, gpuDtypes, noGpu, pair, rng } from '../helpers.js';

describe('layout kernels vs CPU reference (exact)', { skip: noGpu }, () => {
  for (const dtype of gpuDtypes) {
    it(`${dtype} concat / slice / split along every axis`, async () => {
      const r = rng();
      const [ac, ag] = pair(gpu!, r.normals(2 * 3 * 5), [2, 3, 5], dtype);
      const [bc, bg] = pair(gpu!, r.normals(2 * 3 * 5), [2, 3, 5], dtype);
      for (const axis of [0, 1, 2, -1]) {
        assert.deepEqual(
          await gpu!.concat([ag, bg, ag], axis).read(),
          await cpu.concat([ac, bc, ac], axis).read(),
          `concat ${axis}`,
        );
      }
      assert.deepEqual(await gpu!.slice(ag, 1, 1, 2).read(), await cpu.slice(ac, 1, 1, 2).read());
      const gs = gpu!.split(ag, 2, [2, 3]);
      const cs = cpu.split(ac, 2, [2, 3]);
      assert.deepEqual(await gs[1]!.read(), await cs[1]!.read());
    });
    it(`${dtype} gather / scatter rows`, async () => {
      const r = rng();
      const B = 2;
      const N = 9;
      const C = 5;
      const M = 4;
      const idx = [8, 0, 3, 3, 1, 2, 7, 99];
      const [xc, xg] = pair(gpu!, r.normals(B * N * C), [B, N, C], dtype);
      const [ic, ig] = pair(gpu!, idx, [B, M], 'u32');
      const want = await cpu.gather(xc, ic).read();
      assert.deepEqual(await gpu!.gather(xg, ig).read(), want);
      const uniq = [8, 0, 3, 5, 1, 2, 7, 99];
      const [uc, ug] = pair(gpu!, uniq, [B, M], 'u32');
      const [sc, sg] = pair(gpu!, r.normals(B * M * C), [B, M, C], dtype);
      assert.deepEqual(
        await gpu!.scatter(sg, ug, { rows: N }).read(),
        await cpu.scatter(sc, uc, { rows: N }).read(),
      );
      const [dc, dg] = pair(gpu!, r.normals(B * N * C), [B, N, C], dtype);
      assert.deepEqual(
        await gpu!.scatter(sg, ug, { into: dg }).read(),
        await cpu.scatter(sc, uc, { into: dc }).read(),
      );
    });
  }
});
