import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { roundToF16 } from '../../src/util/f16.js';
import { assertClose, cpu, gpu, gpuDtypes, noF16, noGpu, pair, rng, TOL } from '../helpers.js';

describe('elementwise kernels vs CPU reference', { skip: noGpu }, () => {
  for (const dtype of gpuDtypes) {
    it(`${dtype} add / mul / scale / gelu (tanh, exact) / silu on an odd length`, async () => {
      const r = rng();
      const n = 1001;
      const [ac, ag] = pair(gpu!, r.normals(n, 3), [7, 11, 13], dtype);
      const [bc, bg] = pair(gpu!, r.normals(n, 3), [7, 11, 13], dtype);
      assertClose(await gpu!.add(ag, bg).read(), await cpu.add(ac, bc).read(), TOL[dtype], 'add');
      assertClose(await gpu!.mul(ag, bg).read(), await cpu.mul(ac, bc).read(), TOL[dtype], 'mul');
      assertClose(await gpu!.scale(ag, -0.37).read(), await cpu.scale(ac, -0.37).read(), TOL[dtype], 'scale');
      assertClose(
        await gpu!.activation(ag, 'gelu_tanh').read(),
        await cpu.activation(ac, 'gelu_tanh').read(),
        TOL[dtype],
        'gelu',
      );
      assertClose(
        await gpu!.activation(ag, 'gelu').read(),
        await cpu.activation(ac, 'gelu').read(),
        TOL[dtype],
        'gelu (exact)',
      );
      assertClose(
        await gpu!.activation(ag, 'silu').read(),
        await cpu.activation(ac, 'silu').read(),
        TOL[dtype],
        'silu',
      );
    });
    it(`${dtype} seeded random matches the CPU generator`, async () => {
      const a = await gpu!.random([3, 333], dtype, { seed: 42, mean: 0.5, std: 2 }).read();
      const b = await cpu.random([3, 333], dtype, { seed: 42, mean: 0.5, std: 2 }).read();
      // WGSL only promises cos to 2^-11 absolute on [-pi, pi] (SwiftShader uses that latitude), hence 1e-3.
      assertClose(a, b, dtype === 'f32' ? 1e-3 : TOL.f16, 'random');
      let mean = 0;
      for (const v of b) mean += v / b.length;
      assert.ok(Math.abs(mean - 0.5) < 0.2, `mean ${mean}`);
    });
  }
  it('f32 <-> f16 casts round to nearest', { skip: noF16 }, async () => {
    const r = rng();
    const data = r.normals(777, 100);
    const x = gpu!.tensor(data, [777], 'f32');
    const h = gpu!.cast(x, 'f16');
    const back = await gpu!.cast(h, 'f32').read();
    assert.deepEqual(Array.from(back), Array.from(roundToF16(data)));
    assertClose(back, await cpu.cast(cpu.tensor(data, [777]), 'f16').read(), 0, 'cast');
  });
});
