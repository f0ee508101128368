import { describe, it } from 'node:test';
import { assertClose, cpu, gpu, gpuDtypes, noGpu, pair, rng, TOL } from '../helpers.js';

describe('group norm: CPU reference', () => {
  it('one group without affine is a LayerNorm over all positions and channels', async () => {
    const r = rng();
    const x = cpu.tensor(r.normals(2 * 15 * 6, 3, 2), [2, 15, 6]);
    const got = await cpu.groupNorm(x, { groups: 1, eps: 1e-6 }).read();
    const want = await cpu.layerNorm(cpu.reshape(x, [2, 90]), { eps: 1e-6 }).read();
    assertClose(got, want, 1e-6, 'G=1');
  });
  it('statistics of row bands taken together equal those of the whole', async () => {
    const r = rng();
    const x = cpu.tensor(r.normals(2 * 7 * 3 * 8), [2, 7, 3, 8]);
    const whole = await cpu.groupNormStats([x], 4, 1e-6).read();
    const bands = [cpu.slice(x, 1, 0, 2), cpu.slice(x, 1, 2, 5)];
    assertClose(await cpu.groupNormStats(bands, 4, 1e-6).read(), whole, 1e-6, 'bands');
  });
});

describe('group norm kernels vs CPU reference', { skip: noGpu }, () => {
  const cases = [
    { B: 1, S: 1, C: 32, G: 32 },
    { B: 2, S: 37, C: 64, G: 32 },
    { B: 1, S: 1000, C: 96, G: 32 },
    { B: 2, S: 29, C: 12, G: 4 },
    { B: 1, S: 5000, C: 8, G: 1 },
  ];
  for (const dtype of gpuDtypes) {
    for (const c of cases) {
      it(`${dtype} B=${c.B} S=${c.S} C=${c.C} G=${c.G}, with and without affine + SiLU`, async () => {
        const r = rng();
        const { B, S, C, G } = c;
        // an offset far from zero: the variance must not suffer from cancellation
        const [xc, xg] = pair(gpu!, r.normals(B * S * C, 30, 2), [B, S, C], dtype);
        const [wc, wg] = pair(gpu!, r.normals(C, 1, 0.3), [C], dtype);
        const [bc, bg] = pair(gpu!, r.normals(C), [C], dtype);
        assertClose(
          await gpu!.groupNorm(xg, { groups: G, eps: 1e-6 }).read(),
          await cpu.groupNorm(xc, { groups: G, eps: 1e-6 }).read(),
          TOL[dtype] * 4,
          'plain',
        );
        assertClose(
          await gpu!.groupNorm(xg, { groups: G, eps: 1e-6, weight: wg, bias: bg, silu: true }).read(),
          await cpu.groupNorm(xc, { groups: G, eps: 1e-6, weight: wc, bias: bc, silu: true }).read(),
          TOL[dtype] * 4,
          'affine + silu',
        );
      });
    }
    it(`${dtype} statistics over several tensors (row bands)`, async () => {
      const r = rng();
      const parts = [
        [2, 3, 5, 64],
        [2, 1, 5, 64],
        [2, 40, 5, 64],
      ];
      const cs = [];
      const gs = [];
      for (const shape of parts) {
        const [c, g] = pair(
          gpu!,
          r.normals(
            shape.reduce((a, b) => a * b, 1),
            -1,
            3,
          ),
          shape,
          dtype,
        );
        cs.push(c);
        gs.push(g);
      }
      assertClose(
        await gpu!.groupNormStats(gs, 32, 1e-6).read(),
        await cpu.groupNormStats(cs, 32, 1e-6).read(),
        TOL[dtype] * 4,
        'stats',
      );
    });
  }
});
