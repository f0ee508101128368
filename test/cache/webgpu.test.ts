// The cached forward on WebGPU (SwiftShader in CI): caches that never skip give the uncached images; a
// cached step (full and skipped) gives the CPU's output; a skipped step equals the full step in Hilbert
// order. Small: SwiftShader runs a step of this model in about a second.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createCache } from '../../src/cache/create.js';
import { generate } from '../../src/pipeline/generate.js';
import { createMethod, smallModelDefaults } from '../../src/pipeline/methods.js';
import { cpu, gpu, noGpu, relErr } from '../helpers.js';
import { pixelModel } from './pixel-model.js';
import { classInputs, sameInputSteps } from './util.js';

describe('step caches on WebGPU', { skip: noGpu }, () => {
  const g = noGpu ? null : pixelModel(gpu!);
  const o = { ...smallModelDefaults(2, 3), ratio: 0.5, tile: 2 };

  it('toma with fbcache:0 and teacache:0 gives the uncached images', async () => {
    const { model, conditioning } = g!;
    const run = {
      model,
      conditioning,
      width: 8,
      height: 8,
      steps: 2,
      cfg: 3,
      classes: [1],
      seeds: [3],
      seed: 0,
    };
    const plain = createMethod(gpu!, 'toma', o, 2);
    const want = await generate({ ...run, reducer: plain.reducer });
    plain.dispose();
    for (const spec of ['fbcache:0', 'teacache:0']) {
      const m = createMethod(gpu!, 'toma', o, 2, { cache: spec });
      const got = await generate({ ...run, reducer: m.reducer, cache: m.cache });
      m.dispose();
      assert.deepEqual(Array.from(got.images[0]!), Array.from(want.images[0]!), spec);
    }
  });

  it('fora:2: the full and the skipped step are as close to the CPU as an uncached forward is', async () => {
    const outs = [];
    const plain = [];
    for (const { model, conditioning } of [g!, pixelModel(cpu)]) {
      const held = classInputs(model.be, model, conditioning, { classes: [2, 3], rows: 4, cols: 4, seed: 8 });
      const cache = createCache('fora:2')!;
      outs.push(await sameInputSteps(model, held.inputs, { cache }, 2));
      assert.deepEqual(cache.decisions().full, [[true, false]]);
      plain.push(await model.forward(held.inputs).read());
      held.dispose();
    }
    // this random model's outputs spread widely, so f32 differences reach ~1e-4 of the largest value
    const baseline = relErr(plain[0]!, plain[1]!);
    assert.ok(baseline < 2e-3, `uncached WebGPU vs CPU ${baseline}`);
    for (const s of [0, 1]) {
      const err = relErr(outs[0]![s]!, outs[1]![s]!);
      assert.ok(err <= 2 * baseline + 1e-6, `step ${s}: WebGPU vs CPU ${err} (uncached ${baseline})`);
    }
  });

  it('hilbert + fbcache: a skipped step on the inputs of a full step gives its output', async () => {
    const { model, conditioning } = g!;
    const held = classInputs(gpu!, model, conditioning, { classes: [2], rows: 8, cols: 8, seed: 3 });
    const m = createMethod(gpu!, 'hilbert', o, 2, { cache: 'fbcache:0.5' });
    const outs = await sameInputSteps(model, held.inputs, { pattern: m.pattern, cache: m.cache }, 2);
    assert.deepEqual(m.cache!.decisions().full[0], [true, false]);
    assert.ok(relErr(outs[1]!, outs[0]!) < 1e-5);
    m.dispose();
    held.dispose();
  });
});
