import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cpu } from './helpers.js';

describe('encoder and autoencoder ops reject bad input with errors that name the problem', () => {
  const be = cpu;
  it('maskedAttention', () => {
    const q = be.zeros([2, 3, 4, 8]);
    assert.throws(
      () => be.maskedAttention(q, q, q, { bias: be.zeros([3, 4, 5]) }),
      /bias must be \[3, 4, 4\] or \[2, 3, 4, 4\]/,
    );
    assert.throws(() => be.maskedAttention(q, q, q, { bias: be.zeros([2, 3, 4, 4], 'f16') }), /bias is f16/);
    assert.throws(
      () => be.maskedAttention(q, q, q, { keyMask: be.zeros([2, 4]) }),
      /keyMask must be u32 \[2, 4\]/,
    );
    const k = be.zeros([2, 3, 2, 8]);
    assert.throws(() => be.maskedAttention(q, k, k, { causal: true }), /causal attention needs Lq <= Lk/);
  });
  it('conv2d', () => {
    const x = be.zeros([1, 4, 5, 3]);
    assert.throws(() => be.conv2d(x, be.zeros([2, 3, 3, 4])), /weight must be \[Cout, KH, KW, 3\]/);
    assert.throws(() => be.conv2d(x, be.zeros([2, 2, 2, 3])), /must have odd sizes/);
    assert.throws(() => be.conv2d(be.zeros([4, 5, 3]), be.zeros([2, 3, 3, 3])), /x must be \[B, H, W, C\]/);
    assert.throws(
      () => be.conv2d(x, be.zeros([2, 3, 3, 3]), { residual: be.zeros([1, 4, 5, 3]) }),
      /residual has shape \[1, 4, 5, 3\], expected \[1, 4, 5, 2\]/,
    );
    assert.throws(
      () => be.conv2d(x, be.zeros([2, 3, 3, 3]), { top: be.zeros([1, 2, 5, 3]) }),
      /top has shape \[1, 2, 5, 3\], expected \[1, 1, 5, 3\]/,
    );
    assert.throws(
      () => be.conv2d(x, be.zeros([2, 1, 1, 3]), { top: be.zeros([1, 1, 5, 3]) }),
      /reads no rows outside x/,
    );
  });
  it('group norm and upsampling', () => {
    const x = be.zeros([2, 6, 48]);
    assert.throws(() => be.groupNorm(x, { groups: 5 }), /groups must divide both 256 and the 48 channels/);
    assert.throws(
      () => be.groupNormStats([x, be.zeros([1, 6, 48])], 16, 1e-6),
      /tensor 1 \[1, 6, 48\] must be/,
    );
    const stats = be.groupNormStats([x], 16, 1e-6);
    assert.deepEqual([...stats.shape], [2, 16, 2]);
    assert.throws(() => be.groupNormApply(x, stats, { weight: be.zeros([47]) }), /weight has shape \[47\]/);
    assert.throws(() => be.groupNormApply(be.zeros([3, 6, 48]), stats), /stats must be f32 \[3, G, 2\]/);
    assert.throws(() => be.upsampleNearest2x(x), /x must be \[B, H, W, C\]/);
  });
});
