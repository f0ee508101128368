// How caches compose with token reducers (ToMA) and attention patterns: destinations are chosen only
// where blocks run, a skipped step leaves ToMA's reused state as it was, the probe block is a real
// computation, and a change of the image order makes the step compute.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createCache } from '../../src/cache/create.js';
import { fullSteps } from '../../src/cache/step-cache.js';
import type { AttentionPattern } from '../../src/merge/hooks.js';
import { resolveReducerOptions } from '../../src/merge/options.js';
import type { BlockKind, GroupName } from '../../src/merge/scheduled-reducer.js';
import { TomaReducer } from '../../src/merge/toma-reducer.js';
import { generate } from '../../src/pipeline/generate.js';
import { cpu } from '../helpers.js';
import { pixelModel } from './pixel-model.js';
import { classInputs } from './util.js';

const { model, conditioning } = pixelModel(cpu);

/** ToMA with its per-group state visible. */
class InspectableToma extends TomaReducer {
  state(kind: BlockKind) {
    return this.group(kind);
  }
}

function toma(o: { reuseSteps?: number; exemptDouble?: number } = {}): InspectableToma {
  return new InspectableToma(
    cpu,
    resolveReducerOptions({
      method: 'toma',
      ratio: 0.5,
      tile: 4,
      exemptDouble: 1,
      exemptSingle: 1,
      mergeEvery: 1,
      ...o,
    }),
  );
}

describe('caches with ToMA', () => {
  const run = {
    model,
    conditioning,
    width: 16,
    height: 16,
    steps: 6,
    cfg: 4,
    classes: [1],
    seeds: [4],
    seed: 0,
  };

  // thresholds above any change: fbcache computes step 0 only, TeaCache the first and the last step
  for (const spec of ['fora:2', 'fbcache:1e9', 'teacache:1e9']) {
    it(`${spec}: destinations are chosen at the full steps only, one set per block group`, async () => {
      const reducer = toma();
      const chosen: { step: number; kind: GroupName }[] = [];
      reducer.onDestinations = (e) => chosen.push({ step: e.step, kind: e.kind });
      const cache = createCache(spec)!;
      await generate({ ...run, reducer, cache });
      const full = fullSteps(cache.decisions());
      assert.ok(full.length < run.steps, `${spec} skipped no step (full: ${full})`);
      for (const kind of ['double', 'single'] as const)
        assert.deepEqual(
          chosen.filter((c) => c.kind === kind).map((c) => c.step),
          full,
          kind,
        );
      reducer.dispose();
      cache.dispose();
    });
  }

  it('a skipped step leaves destinations reused across steps untouched (same objects, not reweighed)', async () => {
    const held = classInputs(cpu, model, conditioning, { classes: [2], rows: 8, cols: 8, seed: 5 });
    const reducer = toma({ reuseSteps: 3 });
    const chosenAt: number[] = [];
    reducer.onDestinations = (e) => {
      if (e.kind === 'single') chosenAt.push(e.step);
    };
    const cache = createCache('fora:2')!; // full at 0, 2, 4
    const steps = 6;
    const seen = [];
    for (let step = 0; step < steps; step++) {
      const before = reducer.state('single');
      const weighedBefore = before?.weighedAt;
      const out = await model.forwardAsync(held.inputs, { reducer, cache, step, steps });
      out.dispose();
      const after = reducer.state('single');
      seen.push(after);
      if (step % 2 === 1) {
        assert.equal(after, before, `step ${step} (skipped) replaced the state`);
        assert.equal(after?.weighedAt, weighedBefore, `step ${step} (skipped) reweighed`);
      }
      if (step === 1) assert.equal(after?.dst.disposed, false, 'the destinations of step 0 live on');
    }
    // chosen at 0 and reused by 2 (a window of 3 steps counts sampling steps, skipped ones too); chosen
    // afresh at 4
    assert.deepEqual(chosenAt, [0, 4]);
    assert.equal(seen[1], seen[0], 'the state of step 0 is the state after the skipped step 1');
    assert.deepEqual(fullSteps(cache.decisions()), [0, 2, 4]);
    reducer.dispose();
    cache.dispose();
    held.dispose();
  });

  it('First-Block-Cache probes with a real block: a reduced first block plans at every step', async () => {
    const reducer = toma({ exemptDouble: 0 });
    const chosen: { step: number; kind: GroupName; block: number }[] = [];
    reducer.onDestinations = (e) => chosen.push({ step: e.step, kind: e.kind, block: e.block });
    const cache = createCache('fbcache:1e9')!;
    await generate({ ...run, reducer, cache });
    const full = fullSteps(cache.decisions());
    assert.ok(full.length < run.steps);
    assert.deepEqual(
      chosen.filter((c) => c.kind === 'double').map((c) => [c.step, c.block]),
      Array.from({ length: run.steps }, (_, s) => [s, 0]),
    );
    assert.deepEqual(
      chosen.filter((c) => c.kind === 'single').map((c) => c.step),
      full,
    );
    reducer.dispose();
    cache.dispose();
  });
});

describe('caches with an attention pattern', () => {
  /** Reverses the image at steps < 2, then keeps raster order: the order changes once, at step 2. */
  const switching: AttentionPattern = {
    name: 'switching',
    imageOrder: (info) => {
      const n = info.grid[0] * info.grid[1];
      return info.step < 2 ? Uint32Array.from({ length: n }, (_, d) => n - 1 - d) : null;
    },
    keyRanges: () => null,
    dispose() {},
  };

  for (const spec of ['fbcache:100', 'teacache:100', 'fora:100']) {
    it(`${spec}: a new image order makes the step compute, then caching resumes`, async () => {
      const held = classInputs(cpu, model, conditioning, { classes: [3], rows: 4, cols: 4, seed: 6 });
      const cache = createCache(spec)!;
      for (let step = 0; step < 5; step++) {
        const out = await model.forwardAsync(held.inputs, { pattern: switching, cache, step, steps: 5 });
        out.dispose();
      }
      // TeaCache also computes its last step
      assert.deepEqual(fullSteps(cache.decisions()), spec.startsWith('teacache') ? [0, 2, 4] : [0, 2]);
      cache.dispose();
      held.dispose();
    });
  }
});
