// Shapes at the edge of what the backend accepts (empty dimensions, K = 0, empty key-range tables,
// cells larger than the grid) on the WebGPU backend vs the CPU reference, in guard mode: no launch may
// write outside its buffers, and the results must agree. Before docs/kernels/robustness.md's audit,
// matmul with K = 0 returned an unfilled tensor on the CPU and a launch error on the GPU, and
// norms / softmax / attention / group norm with an empty last dimension failed with obscure errors.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Backend } from '../../src/backend.js';
import { todoDownsample } from '../../src/merge/todo.js';
import type { Tensor } from '../../src/tensor.js';
import { assertClose, cpu, gpu, noGpu, rng } from '../helpers.js';

type Case = [string, (be: Backend, t: (shape: number[], dtype?: 'f32' | 'u32') => Tensor) => Tensor];

const CASES: Case[] = [
  [
    'matmul K=0 with bias, gate, residual',
    (be, t) => be.matmul(t([4, 0]), t([3, 0]), { bias: t([3]), gate: t([2, 3]), residual: t([4, 3]) }),
  ],
  ['matmul M=0', (be, t) => be.matmul(t([0, 5]), t([3, 5]))],
  ['matmul N=0', (be, t) => be.matmul(t([2, 5]), t([0, 5]))],
  ['softmax C=0', (be, t) => be.softmax(t([3, 0]))],
  ['layerNorm C=0', (be, t) => be.layerNorm(t([3, 0]))],
  ['rmsNorm no rows', (be, t) => be.rmsNorm(t([0, 4]), t([4]))],
  ['modulate L=0', (be, t) => be.modulate(t([2, 0, 4]), t([2, 4]), t([2, 4]), 1e-6)],
  ['attention D=0', (be, t) => be.attention(t([1, 2, 4, 0]), t([1, 2, 3, 0]), t([1, 2, 3, 0]))],
  ['attention Lq=0', (be, t) => be.attention(t([1, 2, 0, 8]), t([1, 2, 3, 8]), t([1, 2, 3, 8]))],
  ['attention B=0', (be, t) => be.attention(t([0, 2, 4, 8]), t([0, 2, 3, 8]), t([0, 2, 3, 8]))],
  [
    'attention with an empty key-range table (R=0)',
    (be, t) =>
      be.attention(t([1, 1, 5, 8]), t([1, 1, 3, 8]), t([1, 1, 3, 8]), {
        keyRanges: { blockSize: 4, ranges: t([2, 0, 2], 'u32') },
      }),
  ],
  ['maskedAttention Lq=0', (be, t) => be.maskedAttention(t([1, 2, 0, 8]), t([1, 2, 3, 8]), t([1, 2, 3, 8]))],
  ['conv2d Cin=0', (be, t) => be.conv2d(t([1, 3, 3, 0]), t([2, 3, 3, 0]), { bias: t([2]) })],
  ['conv2d H=0', (be, t) => be.conv2d(t([1, 0, 3, 2]), t([2, 3, 3, 2]))],
  ['conv2d Cout=0', (be, t) => be.conv2d(t([1, 2, 3, 2]), t([0, 3, 3, 2]))],
  ['heads L=0', (be, t) => be.heads(t([1, 0, 8]), { heads: 2, headDim: 4, column: 0 })],
  ['rope L=0', (be, t) => be.rope(t([1, 2, 0, 4]), t([1, 0, 2, 2]))],
  ['gather of no rows', (be, t) => be.gather(t([1, 3, 4]), t([1, 0], 'u32'))],
  ['gather from N=0 (every index out of range)', (be, t) => be.gather(t([1, 0, 4]), t([1, 2], 'u32'))],
  ['scatter into 0 rows', (be, t) => be.scatter(t([1, 2, 4]), t([1, 2], 'u32'), { rows: 0 })],
  ['concat with an empty part', (be, t) => be.concat([t([2, 0, 3]), t([2, 1, 3])], 1)],
  ['upsample H=0', (be, t) => be.upsampleNearest2x(t([1, 0, 2, 3]))],
  ['groupNorm C=0', (be, t) => be.groupNorm(t([1, 4, 0]), { groups: 1 })],
  ['groupNorm S=0', (be, t) => be.groupNorm(t([1, 0, 4]), { groups: 2 })],
  ['groupNormStats with an empty band', (be, t) => be.groupNormStats([t([1, 0, 4]), t([1, 3, 4])], 2, 1e-5)],
  ['add of nothing', (be, t) => be.add(t([0]), t([0]))],
  ['geglu of no rows', (be, t) => be.geglu(t([0, 4]))],
  ['geglu of empty rows', (be, t) => be.geglu(t([3, 0]))],
  ['todo cells larger than the grid', (be, t) => todoDownsample(be, t([1, 2, 6, 3]), [2, 3], 5)],
];

describe('edge shapes: WebGPU vs CPU reference', { skip: noGpu }, () => {
  for (const [name, run] of CASES) {
    it(name, async () => {
      const r = rng();
      const data = new Map<string, Float32Array | Uint32Array>();
      // The same fresh values on both backends (u32: small indices, some out of range).
      const maker = (be: Backend) => {
        let k = 0;
        return (shape: number[], dtype: 'f32' | 'u32' = 'f32') => {
          const key = `${k++}`;
          const size = shape.reduce((a, b) => a * b, 1);
          if (!data.has(key)) {
            data.set(
              key,
              dtype === 'u32' ? Uint32Array.from({ length: size }, () => r.int(6)) : r.normals(size),
            );
          }
          return be.tensor(data.get(key)!, shape, dtype);
        };
      };
      const want = cpu.tidy(() => run(cpu, maker(cpu)));
      const got = gpu!.tidy(() => run(gpu!, maker(gpu!)));
      assert.deepEqual(got.shape, want.shape);
      const w = await want.read();
      assert.equal(w.length, want.size, 'the reference fills its output');
      assertClose(await got.read(), w, 1e-5, name);
      await gpu!.sync(); // guard: nothing was written outside a buffer
    });
  }
});

describe('shapes past what a kernel can do on this adapter: clear errors, not launch failures', {
  skip: noGpu,
}, () => {
  it('attention / maskedAttention head dims whose K/V block does not fit workgroup memory', () => {
    const D = gpu!.caps.limits.maxComputeWorkgroupStorageSize! / 4; // 2 * D * 4 bytes > the limit
    const t = () => gpu!.zeros([1, 1, 1, D]);
    assert.throws(() => gpu!.attention(t(), t(), t()), new RegExp(`attention: head dim ${D} needs`));
    assert.throws(
      () => gpu!.maskedAttention(t(), t(), t()),
      new RegExp(`maskedAttention: head dim ${D} needs`),
    );
  });
  it('heads with more rotated pairs than threads per workgroup', () => {
    const D = 2 * (gpu!.caps.limits.maxComputeInvocationsPerWorkgroup! + 1);
    assert.throws(
      () => gpu!.heads(gpu!.zeros([1, 1, D]), { heads: 1, headDim: D, column: 0 }),
      new RegExp(`heads: head dim ${D} needs`),
    );
  });
});
