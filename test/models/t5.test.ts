import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Backend } from '../../src/backend.js';
import { positionBias, relativePositionBucket, T5Encoder } from '../../src/models/t5/index.js';
import { assertClose, cpu, gpu, noF16, noGpu, relErr } from '../helpers.js';
import { noFixtures, openFixture, relativeError } from './fixtures.js';

describe('T5 encoder on the t5-golden-a fixture', { skip: noFixtures }, () => {
  const { ck, inter, json } = noFixtures ? ({} as never) : openFixture('t5-golden-a');
  const ids = noFixtures ? new Float32Array() : ck.readF32('in.input_ids');
  const mask = noFixtures ? new Float32Array() : ck.readF32('in.attention_mask');
  const want = noFixtures ? new Float32Array() : ck.readF32('out.last_hidden_state');

  it('relative position buckets equal the official table for -511..511', () => {
    const t = json.relative_position_bucket_table as { relative_position: number[]; bucket: number[] };
    t.relative_position.forEach((rel, i) => {
      assert.equal(relativePositionBucket(rel, 32, 128), t.bucket[i], `bucket of ${rel}`);
    });
  });

  it('the position bias equals the official one (intermediate encoder.block.0.out1)', () => {
    const table = ck.readF32('encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight');
    const bias = positionBias(table, 4, 32, 128, 24, 24);
    assertClose(bias, inter.readF32('encoder.block.0.out1'), 1e-7, 'position bias');
  });

  const run = async (be: Backend, dtype: 'f32' | 'f16') => {
    const model = T5Encoder.load(be, ck, { dtype });
    try {
      const out = model.encode(ids, 2, 24, { attentionMask: mask });
      const got = await out.read();
      out.dispose();
      return got;
    } finally {
      model.dispose();
    }
  };

  it('CPU f32 matches last_hidden_state within 1e-4 relative', async () => {
    const err = relativeError(await run(cpu, 'f32'), want);
    console.log(`  t5 cpu f32 max relative error ${err.toExponential(2)}`);
    assert.ok(err <= 1e-4, `relative error ${err}`);
  });

  it('WebGPU f32 matches within 1e-4 relative', { skip: noGpu }, async () => {
    const err = relativeError(await run(gpu!, 'f32'), want);
    console.log(`  t5 webgpu f32 max relative error ${err.toExponential(2)}`);
    assert.ok(err <= 1e-4, `relative error ${err}`);
  });

  it('WebGPU f16 (reported)', { skip: noF16 }, async () => {
    const err = relativeError(await run(gpu!, 'f16'), want);
    console.log(`  t5 webgpu f16 max relative error ${err.toExponential(2)}`);
    assert.ok(err <= 3e-2, `relative error ${err}`);
  });

  it('the relative position bias is really used: dropping it changes the output', async () => {
    const model = T5Encoder.load(cpu, ck);
    try {
      const withBias = await model.encode(ids, 2, 24).read();
      const without = await model.encode(ids, 2, 24, { noPositionBias: true }).read();
      let maxChange = 0;
      for (let i = 0; i < want.length; i++)
        maxChange = Math.max(maxChange, Math.abs(withBias[i]! - without[i]!));
      // the official model changes by 0.95 (json numerics.relative_bias_zeroed_max_abs_change)
      assert.ok(maxChange > 0.3, `max change ${maxChange}`);
      assert.ok(relativeError(without, want) > 0.05);
    } finally {
      model.dispose();
    }
  });

  it('CPU and WebGPU agree on other shapes (batch 3, length 13, key padding)', { skip: noGpu }, async () => {
    const B = 3;
    const L = 13;
    const ids2 = Array.from({ length: B * L }, (_, i) => (i * 37 + 11) % 1000);
    const mask2 = Array.from({ length: B * L }, (_, i) => (i % L < L - 2 * (i / L) ? 1 : 0));
    const outs: Float32Array[] = [];
    for (const be of [cpu, gpu!]) {
      const model = T5Encoder.load(be, ck);
      outs.push(await model.encode(ids2, B, L, { attentionMask: mask2 }).read());
      model.dispose();
    }
    const err = relErr(outs[1]!, outs[0]!);
    assert.ok(err <= 1e-4, `cpu vs gpu ${err}`);
  });
});
