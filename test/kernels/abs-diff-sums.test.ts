// absDiffSums: the CPU reference against a direct sum, the WebGPU kernels against the reference on odd
// sizes (outputs poisoned with NaN first), one 4096 x 3072 row for the two-level f32 accumulation, and
// argument checks.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { absDiffChunkSize } from '../../src/kernels/reduce.js';
import { assertClose, cpu, gpu, gpuDtypes, noGpu, pair, rng, TOL } from '../helpers.js';

describe('absDiffSums: CPU reference', () => {
  it('sums |x - ref| and |ref| per leading index', async () => {
    const x = cpu.tensor([1, -2, 3, 0.5, 4, 4], [2, 3]);
    const ref = cpu.tensor([0, 1, -1, 0.5, -4, 2], [2, 3]);
    assert.deepEqual(Array.from(await cpu.absDiffSums(x, ref).read()), [
      1 + 3 + 4,
      0 + 1 + 1,
      0 + 8 + 2,
      0.5 + 4 + 2,
    ]);
  });
  it('checks its arguments', () => {
    const a = cpu.tensor([1, 2, 3, 4], [2, 2]);
    assert.throws(
      () => cpu.absDiffSums(a, cpu.tensor([1, 2, 3, 4], [4])),
      /absDiffSums\(\): ref has shape \[4\], expected \[2, 2\]/,
    );
    assert.throws(
      () => cpu.absDiffSums(a, cpu.tensor([1, 2, 3, 4], [2, 2], 'f16')),
      /ref is f16 but the computation is f32/,
    );
    assert.throws(
      () => cpu.absDiffSums(cpu.tensor([1, 2], [2], 'u32'), cpu.tensor([1, 2], [2], 'u32')),
      /must be f32 or f16/,
    );
  });
});

describe('absDiffSums kernels vs CPU reference', { skip: noGpu }, () => {
  const shapes = [
    [1, 1],
    [3, 7, 5],
    [2, 1031, 3],
    [5, 2049],
    [1, 3 * absDiffChunkSize(1) + 17],
  ];
  for (const dtype of gpuDtypes) {
    for (const shape of shapes) {
      it(`${dtype} [${shape.join(', ')}]`, async () => {
        const r = rng();
        const n = shape.reduce((a, b) => a * b, 1);
        const [xc, xg] = pair(gpu!, r.normals(n, 2, 1), shape, dtype);
        const [rc, rg] = pair(gpu!, r.normals(n, 1.5, -0.5), shape, dtype);
        const got = await gpu!.absDiffSums(xg, rg).read();
        assert.equal(got.length, 2 * shape[0]!);
        assertClose(got, await cpu.absDiffSums(xc, rc).read(), TOL[dtype], 'sums');
      });
    }
  }
  it('f32, one 4096 x 3072 row with a large mean: two-level sums stay accurate', async () => {
    const n = 4096 * 3072;
    const r = rng();
    const base = r.normals(4096, 0.3, 3); // |values| around 3: a one-level f32 running sum would drift
    const x = new Float32Array(n);
    const ref = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      ref[i] = base[i % 4096]!;
      x[i] = ref[i]! + (i % 3 === 0 ? 0.25 : -0.125);
    }
    const got = await gpu!
      .absDiffSums(gpu!.tensor(x, [1, 4096, 3072]), gpu!.tensor(ref, [1, 4096, 3072]))
      .read();
    const want = await cpu.absDiffSums(cpu.tensor(x, [1, n]), cpu.tensor(ref, [1, n])).read();
    assertClose(got, want, 1e-5, 'sums of 12.6M values');
  });
});
