import { describe, it } from 'node:test';
import { assertClose, cpu, gpu, gpuDtypes, noGpu, pair, rng, TOL } from '../helpers.js';

describe('normalisation kernels vs CPU reference', { skip: noGpu }, () => {
  for (const dtype of gpuDtypes) {
    for (const C of [1, 7, 64, 300, 1031]) {
      it(`${dtype} layerNorm / rmsNorm / softmax C=${C}`, async () => {
        const r = rng();
        const rows = 5;
        const [xc, xg] = pair(gpu!, r.normals(rows * C, 2, 0.5), [rows, C], dtype);
        const [wc, wg] = pair(gpu!, r.normals(C, 0.5, 1), [C], dtype);
        const [bc, bg] = pair(gpu!, r.normals(C), [C], dtype);
        assertClose(await gpu!.layerNorm(xg).read(), await cpu.layerNorm(xc).read(), TOL[dtype], 'layerNorm');
        assertClose(
          await gpu!.layerNorm(xg, { weight: wg, bias: bg, eps: 1e-5 }).read(),
          await cpu.layerNorm(xc, { weight: wc, bias: bc, eps: 1e-5 }).read(),
          TOL[dtype],
          'layerNorm affine',
        );
        assertClose(
          await gpu!.rmsNorm(xg, wg).read(),
          await cpu.rmsNorm(xc, wc).read(),
          TOL[dtype],
          'rmsNorm',
        );
        assertClose(
          await gpu!.rmsNorm(xg, undefined).read(),
          await cpu.rmsNorm(xc, undefined).read(),
          TOL[dtype],
          'rmsNorm no weight',
        );
        assertClose(await gpu!.softmax(xg).read(), await cpu.softmax(xc).read(), TOL[dtype], 'softmax');
      });
    }
    it(`${dtype} adaLN modulate, with and without the fused LayerNorm`, async () => {
      const r = rng();
      const B = 2;
      const L = 9;
      const C = 130;
      const [xc, xg] = pair(gpu!, r.normals(B * L * C), [B, L, C], dtype);
      const [sc, sg] = pair(gpu!, r.normals(B * C), [B, C], dtype);
      const [tc, tg] = pair(gpu!, r.normals(B * C), [B, C], dtype);
      assertClose(
        await gpu!.modulate(xg, sg, tg).read(),
        await cpu.modulate(xc, sc, tc).read(),
        TOL[dtype],
        'modulate',
      );
      assertClose(
        await gpu!.modulate(xg, sg, tg, 1e-6).read(),
        await cpu.modulate(xc, sc, tc, 1e-6).read(),
        TOL[dtype],
        'LN+modulate',
      );
    });
    it(`${dtype} adaLN modulate with shift and scale read as chunks of one table`, async () => {
      const r = rng();
      const [B, L, C] = [3, 5, 67];
      const W = 6 * C + 3;
      const [xc, xg] = pair(gpu!, r.normals(B * L * C), [B, L, C], dtype);
      const [tc, tg] = pair(gpu!, r.normals(B * W), [B, W], dtype);
      const columns = { shift: 3 * C, scale: 4 * C + 1 };
      const want = await cpu.modulate(xc, tc, tc, 1e-6, columns).read();
      assertClose(
        await gpu!.modulate(xg, tg, tg, 1e-6, columns).read(),
        want,
        TOL[dtype],
        'modulate columns',
      );
      const sliced = await cpu
        .modulate(xc, cpu.slice(tc, 1, columns.shift, C), cpu.slice(tc, 1, columns.scale, C), 1e-6)
        .read();
      assertClose(want, sliced, 1e-6, 'columns vs sliced chunks (CPU)');
    });
  }
});
