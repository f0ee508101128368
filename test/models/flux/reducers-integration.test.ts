// The real reducers (ToMA, ToMeSD, ToDo) inside the Flux forward.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createReducer } from '../../../src/merge/reducers.js';
import { cpu, relErr } from '../../helpers.js';
import { micro, randomCheckpoint, randomInputs, runCheckpoint } from './util.js';

describe('Flux forward with the real reducers (CPU)', () => {
  const grid = { batch: 2, rows: 8, cols: 8, text: 5 };
  const { path } = randomCheckpoint(micro, { seed: 31 });
  const inputs = randomInputs(micro, grid);
  const all = { exemptDouble: 0, exemptSingle: 0, mergeEvery: 1 };

  it('ToMA and ToMeSD with ratio -> 0 (no token removed) equal the dense forward exactly', async () => {
    const dense = await runCheckpoint(cpu, path, 'f32', grid, inputs);
    for (const method of ['toma', 'tomesd'] as const) {
      for (const ratio of [0, 0.01]) {
        const reducer = createReducer(cpu, { method, ratio, ...all });
        const out = await runCheckpoint(cpu, path, 'f32', grid, inputs, { reducer });
        reducer.dispose();
        assert.deepEqual(out, dense, `${method} ratio ${ratio}`);
      }
    }
  });

  it('every method changes the output (the reducers are really applied) and stays finite', async () => {
    const dense = await runCheckpoint(cpu, path, 'f32', grid, inputs);
    for (const [method, ratio] of [
      ['toma', 0.5],
      ['toma', 0.75],
      ['tomesd', 0.5],
      ['todo', 0.5],
    ] as const) {
      const reducer = createReducer(cpu, { method, ratio, ...all });
      const out = await runCheckpoint(cpu, path, 'f32', grid, inputs, { reducer });
      reducer.dispose();
      assert.ok(out.every(Number.isFinite), `${method} output finite`);
      assert.ok(relErr(out, dense) > 1e-4, `${method} ${ratio} changes the output`);
    }
  });
});
