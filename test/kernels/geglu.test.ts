import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { erfc, gegluRef, geluErf } from '../../src/cpu/geglu.js';
import { assertClose, cpu, gpu, gpuDtypes, noGpu, pair, rng, TOL } from '../helpers.js';

describe('exact GELU and GEGLU: CPU reference', () => {
  it('erfc and gelu match tabulated values (PyTorch F.gelu, approximate="none")', () => {
    // erfc values from the standard tables; gelu(x) = x·Φ(x)
    const erfcTable: [number, number][] = [
      [0, 1],
      [0.5, 0.4795001221869535],
      [1, 0.15729920705028513],
      [2, 0.004677734981047265],
      [-1, 1.842700792949715],
      [4, 1.541725790028002e-8],
    ];
    for (const [x, want] of erfcTable)
      assert.ok(Math.abs(erfc(x) - want) <= 1.2e-7 * want, `erfc(${x}) = ${erfc(x)}, want ${want}`);
    const geluTable: [number, number][] = [
      [1, 0.8413447460685429],
      [-1, -0.15865525393145707],
      [2, 1.9544997361036416],
      [-3, -0.00404969409489031],
      [0.1, 0.053982783727702904],
      [-0.1, -0.0460172162722971],
    ];
    for (const [x, want] of geluTable)
      assert.ok(
        Math.abs(geluErf(x) - want) <= 1e-7 * Math.abs(x),
        `gelu(${x}) = ${geluErf(x)}, want ${want}`,
      );
    assert.equal(geluErf(0), 0);
    assert.equal(geluErf(-40), -0);
    assert.equal(geluErf(40), 40);
  });

  it('geglu multiplies the first half of each row by gelu of the second half', async () => {
    const x = new Float32Array([1, 2, 3, 0.5, -1, 2, /* row 2 */ -4, 0, 5, 1, 1, 1]);
    const got = await cpu.geglu(cpu.tensor(x, [2, 1, 6])).read();
    const want = [1 * geluErf(0.5), 2 * geluErf(-1), 3 * geluErf(2), -4 * geluErf(1), 0, 5 * geluErf(1)];
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
