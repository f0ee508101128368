import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Backend } from '../../src/backend.js';
import { ClipTextModel, poolPositions } from '../../src/models/clip/index.js';
import { cpu, gpu, noF16, noGpu, relErr } from '../helpers.js';
import { noFixtures, openFixture, relativeError } from './fixtures.js';

describe('CLIP pooling positions', () => {
  it('first EOS, or the argmax of ids for legacy configs (eos_token_id 2)', () => {
    const ids = [5, 7, 9, 9, 1, 9, 0, 0];
    assert.deepEqual(poolPositions(ids, 2, 4, 9), [2, 1]);
    assert.deepEqual(poolPositions([3, 49407, 5, 49407], 1, 4, 2), [1]);
    assert.deepEqual(poolPositions([3, 4], 1, 2, 9), [0], 'no EOS: position 0, as torch argmax of all-false');
  });
});

describe('CLIP text model on the clip-golden-a fixture', { skip: noFixtures }, () => {
  const { ck, json } = noFixtures ? ({} as never) : openFixture('clip-golden-a');
  const config = noFixtures ? {} : (json.config as Record<string, unknown>);
  const ids = noFixtures ? new Float32Array() : ck.readF32('in.input_ids');
  const wantLast = noFixtures ? new Float32Array() : ck.readF32('out.last_hidden_state');
  const wantPooled = noFixtures ? new Float32Array() : ck.readF32('out.pooler_output');

  const run = async (be: Backend, dtype: 'f32' | 'f16', ids2: ArrayLike<number> = ids, B = 2, L = 77) => {
    const model = ClipTextModel.load(be, ck, { dtype, config });
    try {
      const out = model.encode(ids2, B, L);
      const r = { last: await out.lastHiddenState.read(), pooled: await out.pooled.read() };
      out.lastHiddenState.dispose();
      out.pooled.dispose();
      return r;
    } finally {
      model.dispose();
    }
  };

  for (const [name, be, dtype, skip, tol] of [
    ['CPU f32', cpu, 'f32', false, 1e-4],
    ['WebGPU f32', gpu, 'f32', noGpu, 1e-4],
    ['WebGPU f16 (reported)', gpu, 'f16', noF16, 3e-2],
  ] as const) {
    it(`${name} matches last_hidden_state and pooler_output`, { skip }, async () => {
      const got = await run(be!, dtype);
      const e1 = relativeError(got.last, wantLast);
      const e2 = relativeError(got.pooled, wantPooled);
      console.log(
        `  clip ${name}: last_hidden_state ${e1.toExponential(2)}, pooler_output ${e2.toExponential(2)}`,
      );
      assert.ok(e1 <= tol && e2 <= tol, `relative errors ${e1}, ${e2}`);
    });
  }

  it('the text_model. prefix is optional', async () => {
    const stripped = {
      path: 'stripped',
      keys: () => ck.keys().map((k) => k.replace(/^text_model\./, '')),
      has: (k: string) => ck.has(`text_model.${k}`) || ck.has(k),
      info: (k: string) => ck.info(ck.has(k) ? k : `text_model.${k}`),
      readF32: (k: string) => ck.readF32(ck.has(k) ? k : `text_model.${k}`),
      readF16Bits: (k: string) => ck.readF16Bits(ck.has(k) ? k : `text_model.${k}`),
    };
    const model = ClipTextModel.load(cpu, stripped, { config });
    const out = model.encode(ids, 2, 77);
    assert.ok(relativeError(await out.pooled.read(), wantPooled) <= 1e-4);
    model.dispose();
  });

  it('CPU and WebGPU agree on other shapes (batch 3, length 20)', { skip: noGpu }, async () => {
    const ids2 = Array.from({ length: 60 }, (_, i) =>
      i % 20 === 0 ? 998 : i % 20 === 11 ? 999 : (i * 31) % 998,
    );
    const a = await run(cpu, 'f32', ids2, 3, 20);
    const b = await run(gpu!, 'f32', ids2, 3, 20);
    assert.ok(relErr(b.last, a.last) <= 1e-4);
    assert.ok(relErr(b.pooled, a.pooled) <= 1e-4);
  });
});
