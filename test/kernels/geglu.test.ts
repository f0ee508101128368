import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gelu } from '../../src/cpu/elementwise.js';
import { gegluRef } from '../../src/cpu/geglu.js';
import { assertClose, cpu, gpu, gpuDtypes, noGpu, pair, rng, TOL } from '../helpers.js';

describe('GEGLU: CPU reference', () => {
  it('geglu multiplies the first half of each row by gelu of the second half', async () => {
    const x = new Float32Array([1, 2, 3, 0.5, -1, 2, /* row 2 */ -4, 0, 5, 1, 1, 1]);
    const got = await cpu.geglu(cpu.tensor(x, [2, 1, 6])).read();
    const want = [1 * gelu(0.5), 2 * gelu(-1), 3 * gelu(2), -4 * gelu(1), 0, 5 * gelu(1)];
    assertClose(got, want, 1e-7, 'geglu');
    assert.deepEqual(cpu.geglu(cpu.tensor(x, [2, 6])).shape, [2, 3]);
    assert.deepEqual([...gegluRef(new Float32Array(0), 0)], []);
    assert.throws(() => cpu.geglu(cpu.tensor([1, 2, 3], [3])), /even last dimension/);
  });
});

describe('geglu kernel vs CPU reference', { skip: noGpu }, () => {
  for (const dtype of gpuDtypes) {
    for (const shape of [
      [3, 7, 10],
      [1, 1001, 2],
      [2, 33, 258],
    ]) {
      it(`${dtype} [${shape.join(', ')}]`, async () => {
        const r = rng();
        const n = shape.reduce((a, b) => a * b, 1);
        // wide values: both tails of the gate (erfc underflow, x - tiny) and the middle
        const [xc, xg] = pair(gpu!, r.normals(n, 4), shape, dtype);
        const got = await gpu!.geglu(xg).read();
        const want = await cpu.geglu(xc).read();
        assert.equal(got.length, n / 2);
        assertClose(got, want, dtype === 'f32' ? 1e-5 : TOL.f16, 'geglu');
      });
    }
  }
});
