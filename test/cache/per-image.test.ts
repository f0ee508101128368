// Per-image decisions: with a metric-based cache, a batch of seeds gives each image exactly what it gets
// alone (CPU, f32), although the images decide differently; forced schedules (replay) and the state of
// a sampling run (reset, memory).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createCache } from '../../src/cache/create.js';
import { fullSteps } from '../../src/cache/step-cache.js';
import { generate } from '../../src/pipeline/generate.js';
import { createMethod, smallModelDefaults } from '../../src/pipeline/methods.js';
import { cpu } from '../helpers.js';
import { pixelModel } from './pixel-model.js';

const { model, conditioning } = pixelModel(cpu);
const base = { model, conditioning, width: 8, height: 8, steps: 5, cfg: 3, seed: 0 };
const classes = [0, 1, 3];
const seeds = [10, 11, 12];

/** A threshold between the smallest and the largest change the images show at step 1. */
async function splittingThreshold(method: 'fbcache' | 'teacache'): Promise<number> {
  const probe = createCache(`${method}:0`)!;
  await generate({ ...base, classes, seeds, cache: probe });
  const atStep1 = probe.decisions().metric.map((m) => m[1]!);
  probe.dispose();
  const lo = Math.min(...atStep1);
  const hi = Math.max(...atStep1);
  assert.ok(hi > lo, `the images change alike at step 1 (${atStep1})`);
  return (lo + hi) / 2;
}

describe('per-image cache decisions (CPU, f32)', () => {
  for (const [method, reduction] of [
    ['fbcache', 'dense'],
    ['teacache', 'dense'],
    ['fbcache', 'toma'],
  ] as const) {
    it(`${reduction} + ${method}: each image of a batch of 3 equals the image generated alone`, async () => {
      const threshold = await splittingThreshold(method);
      const o = { ...smallModelDefaults(2, 3), ratio: 0.5, tile: 2 };
      const m = createMethod(cpu, reduction, o, 2, { cache: `${method}:${threshold}` });
      const batch = await generate({ ...base, classes, seeds, reducer: m.reducer, cache: m.cache });
      const d = m.cache!.decisions();
      assert.equal(d.full.length, 3, 'one group per image');
      assert.ok(
        new Set(d.full.map((f) => f[1])).size === 2,
        `the images decide alike at step 1: ${JSON.stringify(d.full)}`,
      );
      for (let i = 0; i < 3; i++) {
        const alone = await generate({
          ...base,
          classes: [classes[i]!],
          seeds: [seeds[i]!],
          reducer: m.reducer,
          cache: m.cache,
        });
        assert.deepEqual(m.cache!.decisions().full[0], d.full[i], `image ${i}: decisions`);
        assert.deepEqual(Array.from(batch.images[i]!), Array.from(alone.images[0]!), `image ${i}: pixels`);
      }
      m.dispose();
    });
  }
});

describe('forced schedules (replay)', () => {
  const schedule = 'full=0,1,3';
  for (const spec of ['fbcache:0', 'teacache:0', 'taylorseer:1:2:1', 'fora:1']) {
    it(`${spec}: decisions come from the schedule; the metric is still measured`, async () => {
      const cache = createCache(spec, { schedule })!;
      await generate({ ...base, classes: [1, 2], seeds: [1, 2], cache });
      const d = cache.decisions();
      for (const g of [0, 1]) assert.deepEqual(fullSteps(d, g), [0, 1, 3]);
      if (cache.probe !== 'none')
        assert.ok(
          d.change[0]!.slice(1).every((v) => typeof v === 'number' && v > 0),
          `${d.change[0]}`,
        );
      cache.dispose();
    });
  }
  it('a schedule of another length, or one that skips step 0, is refused when the run starts', async () => {
    const wrong = createCache('fora:2', { schedule: [true, false] })!;
    await assert.rejects(generate({ ...base, classes: [1], cache: wrong }), /expected 5 booleans/);
    const late = createCache('fora:2', { schedule: 'full=1' })!;
    await assert.rejects(generate({ ...base, classes: [1], cache: late }), /step 0 must be computed in full/);
  });
});

describe('a cache across sampling runs', () => {
  it('starts afresh with each run (same images and decisions twice) and frees its tensors at the end', async () => {
    const cache = createCache('taylorseer:2:2:1')!;
    const live0 = cpu.memory().liveBytes;
    const a = await generate({ ...base, classes: [2], seeds: [7], cache });
    const da = cache.decisions();
    assert.equal(cpu.memory().liveBytes, live0, 'state freed after the last step');
    const b = await generate({ ...base, classes: [2], seeds: [7], cache });
    assert.deepEqual(cache.decisions(), da);
    assert.deepEqual(fullSteps(da), [0, 2, 4]);
    assert.deepEqual(Array.from(b.images[0]!), Array.from(a.images[0]!));
    cache.dispose();
  });

  it('an aborted run leaves nothing behind and the next run starts afresh', async () => {
    const cache = createCache('fbcache:1e9')!;
    const ctl = new AbortController();
    const live0 = cpu.memory().liveBytes;
    await assert.rejects(
      generate({
        ...base,
        classes: [2],
        cache,
        signal: ctl.signal,
        onProgress: (p) => {
          if (p.step === 2) ctl.abort();
        },
      }),
      /cancelled/,
    );
    cache.dispose();
    assert.equal(cpu.memory().liveBytes, live0);
  });
});
