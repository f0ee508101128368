// TomaReducer.onDestinations: the event carries the destinations the group chose (the same as a fresh
// tomaSelect on the block's input), once per group per step, and a kept view outlives the group.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ForwardInfo } from '../../src/merge/hooks.js';
import { createReducer } from '../../src/merge/reducers.js';
import { tomaSelect } from '../../src/merge/toma.js';
import { type DestinationEvent, TomaReducer } from '../../src/merge/toma-reducer.js';
import type { Tensor } from '../../src/tensor.js';
import { cpu, rng } from '../helpers.js';

describe('TomaReducer.onDestinations', () => {
  const H = 6;
  const W = 5;
  const B = 2;
  const C = 8;
  const info = (step: number): ForwardInfo => ({ step, steps: 3, batch: B, grid: [H, W], textTokens: 4 });

  it('reports each chosen set (kind, step, block, dst) and a kept view can be read after the group is freed', async () => {
    const r = createReducer(cpu, {
      method: 'toma',
      ratio: 0.5,
      tile: 4,
      exemptDouble: 1,
      exemptSingle: 0,
      mergeEvery: 1,
    });
    assert.ok(r instanceof TomaReducer);
    const events: DestinationEvent[] = [];
    const views: Tensor[] = [];
    r.onDestinations = (e) => {
      events.push(e);
      views.push(cpu.keep(cpu.reshape(e.dst, e.dst.shape)));
    };
    const xs: Tensor[] = [];
    for (let step = 0; step < 2; step++) {
      r.beginForward(info(step));
      cpu.tidy(() => {
        for (const [kind, index] of [
          ['double', 0],
          ['double', 1],
          ['single', 0],
          ['single', 1],
        ] as const) {
          const x = cpu.tensor(rng(100 * step + index).normals(B * H * W * C), [B, H * W, C]);
          if (!(kind === 'double' && index === 0)) xs.push(cpu.keep(cpu.reshape(x, x.shape)));
          r.block(kind, index, x);
        }
      });
      r.endForward();
    }
    // one event per group and step, at the group's first reduced block (double 1, single 0)
    assert.deepEqual(
      events.map((e) => [e.kind, e.step, e.block]),
      [
        ['double', 0, 1],
        ['single', 0, 0],
        ['double', 1, 1],
        ['single', 1, 0],
      ],
    );
    // the groups are freed at endForward(); the views still hold the destinations
    const firstInputs = [xs[0]!, xs[1]!, xs[3]!, xs[4]!];
    for (let i = 0; i < events.length; i++) {
      const got = await cpu.readU32(views[i]!);
      const want = await cpu.readU32(tomaSelect(cpu, firstInputs[i]!, events[i]!.layout));
      assert.deepEqual(Array.from(got), Array.from(want), `event ${i}`);
      assert.equal(got.length, B * events[i]!.layout.tokens);
    }
    for (const t of [...views, ...xs]) t.dispose();
    r.dispose();
  });
});
