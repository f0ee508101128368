// Caches that never skip (threshold 0, interval 1) give the uncached run exactly, with every method; and a
// step the cache skips on the same inputs as a full step gives that step's output (up to the rounding of
// base + (hidden − base)), in raster order whatever the attention pattern's order.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createCache } from '../../src/cache/create.js';
import { generate } from '../../src/pipeline/generate.js';
import { createMethod, type MethodName, smallModelDefaults } from '../../src/pipeline/methods.js';
import { cpu, relErr } from '../helpers.js';
import { pixelModel } from './pixel-model.js';
import { classInputs, sameInputSteps } from './util.js';

const { model, conditioning } = pixelModel(cpu);
const options = {
  ...smallModelDefaults(model.config.depth, model.config.depth_single_blocks),
  ratio: 0.5,
  tile: 4,
};
const NEVER_SKIP = ['fbcache:0', 'teacache:0', 'fora:1', 'taylorseer:1', 'taylorseer:1:2:1'];

describe('threshold 0 / interval 1 equal the uncached run bit for bit (CPU, f32)', () => {
  const base = {
    model,
    conditioning,
    width: 16,
    height: 16,
    steps: 4,
    cfg: 4,
    classes: [1, 3],
    seeds: [1, 2],
    seed: 0,
  };
  for (const method of ['dense', 'toma', 'hilbert', 'toma+hilbert'] as MethodName[]) {
    it(method, async () => {
      const plain = createMethod(cpu, method, options, model.config.depth);
      const want = await generate({ ...base, reducer: plain.reducer, pattern: plain.pattern });
      plain.dispose();
      for (const spec of NEVER_SKIP) {
        const m = createMethod(cpu, method, options, model.config.depth, { cache: spec });
        const got = await generate({ ...base, reducer: m.reducer, pattern: m.pattern, cache: m.cache });
        const d = m.cache!.decisions();
        m.dispose();
        assert.deepEqual(d.full, [
          [true, true, true, true],
          [true, true, true, true],
        ]);
        got.images.forEach((img, i) => {
          assert.deepEqual(Array.from(img), Array.from(want.images[i]!), `${method} + ${spec}, image ${i}`);
        });
      }
    });
  }
});

describe('a skipped step on the same inputs as a full step gives its output (CPU, f32)', () => {
  const caches = ['fbcache:0.5', 'teacache:0.5', 'fora:2', 'taylorseer:2:1:1'];
  for (const method of ['dense', 'hilbert', 'toma+hilbert'] as MethodName[]) {
    it(`${method}: step 1 skips and equals step 0`, async () => {
      const held = classInputs(cpu, model, conditioning, { classes: [2], rows: 8, cols: 8, seed: 3 });
      try {
        const m = createMethod(cpu, method, options, model.config.depth);
        if (method === 'hilbert') {
          const order = m.pattern!.imageOrder({ step: 0, steps: 1, batch: 1, grid: [8, 8], textTokens: 1 });
          assert.ok(
            order?.some((r, d) => r !== d),
            'the pattern reorders the image',
          );
        }
        for (const spec of caches) {
          const cache = createCache(spec)!;
          const outs = await sameInputSteps(
            model,
            held.inputs,
            { reducer: m.reducer, pattern: m.pattern, cache },
            3,
          );
          assert.deepEqual(cache.decisions().full[0]!.slice(0, 2), [true, false], `${spec}: step 1 skips`);
          const err = relErr(outs[1]!, outs[0]!);
          assert.ok(err < 1e-5, `${method} + ${spec}: skipped step differs from the full one by ${err}`);
          if (spec.startsWith('teacache')) assert.deepEqual(outs[2], outs[0], 'the last step computes');
          cache.dispose();
        }
        m.dispose();
      } finally {
        held.dispose();
      }
    });
  }
});

describe('forward() and forwardAsync() checks', () => {
  it('forward() refuses a cache; forwardAsync() wants one group per batch row', async () => {
    const held = classInputs(cpu, model, conditioning, { classes: [1, 2], rows: 2, cols: 2, seed: 1 });
    const cache = createCache('fbcache:0.1')!;
    assert.throws(() => model.forward(held.inputs, { cache }), /call forwardAsync\(\)/);
    await assert.rejects(
      model.forwardAsync(held.inputs, { cache, cacheGroups: [0] }),
      /cacheGroups has 1 entries for a batch of 2/,
    );
    await assert.rejects(
      model.forwardAsync(held.inputs, { cache, cacheGroups: [0, 2] }),
      /number the groups 0\.\.G-1/,
    );
    // after the errors the cache works
    const out = await model.forwardAsync(held.inputs, { cache, cacheGroups: [1, 0] });
    assert.equal(out.dim(0), 2);
    out.dispose();
    cache.dispose();
    held.dispose();
  });
});
