import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CpuBackend } from '../src/cpu/backend.js';
import { cpu, gpu, noGpu } from './helpers.js';

describe('public operations reject bad input with errors that name the problem', () => {
  const be = cpu;
  const x = be.zeros([2, 3, 4]);
  const w = be.zeros([5, 4]);
  it('matmul', () => {
    assert.throws(() => be.matmul(x, be.zeros([5, 3])), /x has K=4 but weight \[5, 3\] has K=3/);
    assert.throws(() => be.matmul(x, w, { bias: be.zeros([4]) }), /bias has shape \[4\], expected \[5\]/);
    assert.throws(() => be.matmul(x, be.zeros([5, 4], 'f16')), /weight is f16 but the computation is f32/);
    assert.throws(
      () => be.matmul(x, w, { gate: be.zeros([4, 5]) }),
      /gate must be \[G, W\] with G dividing the 6 rows and W >= gateColumn \+ 5 = 5/,
    );
    assert.throws(
      () => be.matmul(x, w, { gate: be.zeros([2, 12]), gateColumn: 8 }),
      /W >= gateColumn \+ 5 = 13, got \[2, 12\]/,
    );
    assert.throws(() => be.matmul(x, w, { gateColumn: 1 }), /gateColumn without a gate/);
    assert.throws(
      () => be.matmul(x, w, { residual: be.zeros([2, 3, 4]) }),
      /residual has shape \[2, 3, 4\], expected \[2, 3, 5\]/,
    );
    assert.throws(() => be.matmul(x, w, { activation: 'relu' as never }), /unknown activation "relu"/);
    assert.throws(() => be.matmul({} as never, w), /x is not a Tensor/);
  });
  it('attention', () => {
    const q = be.zeros([1, 2, 3, 8]);
    assert.throws(
      () => be.attention(q, be.zeros([1, 2, 3, 4]), q),
      /k has shape \[1, 2, 3, 4\], expected \[1, 2, 3, 8\]/,
    );
    assert.throws(() => be.attention(be.zeros([2, 3, 8]), q, q), /must be \[B, H, L, D\]/);
    assert.throws(
      () => be.attention(q, q, q, { keyRanges: { blockSize: 2, ranges: be.zeros([1, 1, 2], 'u32') } }),
      /keyRanges.ranges must be u32 \[2, R, 2\]/,
    );
    const fine = be.zeros([2, 1, 2], 'u32');
    assert.throws(
      () =>
        be.attention(q, q, q, {
          keyRanges: {
            blockSize: 2,
            ranges: fine,
            outer: { blockSize: 3, ranges: be.zeros([1, 1, 2], 'u32') },
          },
        }),
      /outer.blockSize must be a positive multiple of blockSize 2/,
    );
    assert.throws(
      () =>
        be.attention(q, q, q, {
          keyRanges: {
            blockSize: 2,
            ranges: fine,
            outer: { blockSize: 4, ranges: be.zeros([2, 1, 2], 'u32') },
          },
        }),
      /outer.ranges must be u32 \[1, R, 2\]/,
    );
  });
  it('norms, rope, layout', () => {
    assert.throws(() => be.layerNorm(x, { weight: be.zeros([3]) }), /weight has shape \[3\], expected \[4\]/);
    assert.throws(
      () => be.modulate(x, be.zeros([2, 4]), be.zeros([3, 4])),
      /scale has shape \[3, 4\], expected \[2, 4\]/,
    );
    assert.throws(
      () => be.modulate(x, be.zeros([2, 12]), be.zeros([2, 12]), 1e-6, { shift: 0, scale: 9 }),
      /scale must be \[2, W\] with W >= 9 \+ 4/,
    );
    assert.throws(
      () => be.modulate(x, be.zeros([2, 12]), be.zeros([2, 12]), 1e-6, { shift: -1, scale: 4 }),
      /columns.shift must be a non-negative integer/,
    );
    assert.throws(
      () => be.rope(be.zeros([1, 1, 3, 4]), be.zeros([1, 3, 2, 2], 'f16')),
      /table is f16 but the computation is f32/,
    );
    assert.throws(
      () => be.concat([x, be.zeros([2, 4, 5])], 1),
      /tensor 1 has shape \[2, 4, 5\], incompatible/,
    );
    assert.throws(() => be.slice(x, 1, 2, 2), /\[2, 4\) is outside axis 1/);
    assert.throws(() => be.split(x, 2, [1, 2]), /add up to 3, axis 2 of \[2, 3, 4\] is 4/);
    assert.throws(() => be.gather(x, be.zeros([2, 2])), /u32 idx/);
    assert.throws(() => be.add(x, be.zeros([2, 3])), /b has shape \[2, 3\], expected \[2, 3, 4\]/);
    assert.throws(() => be.reshape(x, [5, 5]), /cannot view/);
    assert.throws(() => be.tensor([1, 2, 3], [2, 2]), /3 values do not fill shape \[2, 2\]/);
    assert.throws(() => be.zeros([2, -1]), /non-negative integers/);
  });
  it('tensors of another backend or disposed ones', () => {
    const other = new CpuBackend();
    assert.throws(() => be.add(x, other.zeros([2, 3, 4])), /belongs to another backend/);
    const t = be.zeros([2]);
    t.dispose();
    assert.throws(() => be.scale(t, 2), /was disposed/);
  });
  it('f16 on an adapter without shader-f16', {
    skip: noGpu || (gpu!.caps.f16 ? 'adapter has f16' : false),
  }, () => {
    assert.throws(() => gpu!.zeros([2], 'f16'), /lacks the shader-f16 feature/);
  });
  it('tidy frees what it does not return, and reshape views share storage', async () => {
    const b = new CpuBackend();
    const kept = b.tidy(() => {
      const a = b.tensor([1, 2, 3, 4], [4]);
      const v = b.reshape(a, [2, 2]);
      return b.scale(v, 2);
    });
    assert.deepEqual(Array.from(await kept.read()), [2, 4, 6, 8]);
    assert.equal(b.memory().liveBytes, 16, 'only the returned tensor is alive');
  });
});
