// The UNet front end of the reducers: options and their UNet defaults, the step schedule and levels,
// block groups per (path, level), token counts on each level's grid, and argument errors.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Backend } from '../../src/backend.js';
import {
  denseUnet,
  type TokenMerge,
  type UnetBlockPlan,
  type UnetBlockSite,
  type UnetForwardInfo,
  type UnetPath,
} from '../../src/merge/hooks.js';
import {
  REDUCER_DEFAULTS,
  resolveReducerOptions,
  resolveUnetReducerOptions,
  UNET_DEFAULTS,
} from '../../src/merge/options.js';
import { createUnetReducer } from '../../src/merge/reducers.js';
import { TileLayout } from '../../src/merge/tile-layout.js';
import { tomaMerge, tomaSelectAndWeigh } from '../../src/merge/toma.js';
import { tomesdMergeCount } from '../../src/merge/tomesd-reducer.js';
import { levelGrid } from '../../src/merge/unet-reducer.js';
import type { Tensor } from '../../src/tensor.js';
import { assertClose, cpu, rng } from '../helpers.js';

// A latent grid whose level grids are neither square nor divisible by the 4x4 tile: 14x10 -> 7x5 -> 4x3.
const LATENT = [14, 10] as const;
const C = 6;
const info = (step: number, o: Partial<UnetForwardInfo> = {}): UnetForwardInfo => ({
  step,
  steps: 6,
  batch: 1,
  latent: LATENT,
  attentionLevels: [1, 2],
  ...o,
});
const site = (path: UnetPath, level: number, index: number): UnetBlockSite => ({
  path,
  level,
  index,
  grid: levelGrid(LATENT, level),
});
const tokens = (level: number) => {
  const [h, w] = levelGrid(LATENT, level);
  return h * w;
};
const rand = (be: Backend, level: number, batch = 1) =>
  be.tensor(rng().normals(batch * tokens(level) * C), [batch, tokens(level), C]);

async function sameMerge(a: TokenMerge, b: TokenMerge, t: Tensor): Promise<boolean> {
  const [x, y] = [await a.merge(t).read(), await b.merge(t).read()];
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

describe('UNet reducer options', () => {
  it('UNet defaults per method; explicit options win; Flux options resolve as before', () => {
    const toma = resolveUnetReducerOptions({ method: 'toma' });
    assert.equal(toma.unetScope, 'block');
    assert.equal(toma.mergeEvery, 1, 'UNet ToMA reduces every step');
    assert.equal(toma.levels, null, 'levels resolved per forward from the model');
    assert.equal(toma.ratio, 0.5);
    assert.equal(toma.tile, 4);
    assert.equal(resolveUnetReducerOptions({ method: 'tomesd' }).unetScope, 'self-attention');
    assert.equal(resolveUnetReducerOptions({ method: 'todo' }).unetScope, 'self-attention');
    assert.deepEqual(UNET_DEFAULTS.toma, { unetScope: 'block', mergeEvery: 1, levels: 'all' });
    assert.equal(resolveUnetReducerOptions({ method: 'toma', mergeEvery: 3 }).mergeEvery, 3);
    assert.equal(
      resolveUnetReducerOptions({ method: 'toma', unetScope: 'self-attention' }).unetScope,
      'self-attention',
    );
    const flux = resolveReducerOptions({ method: 'toma', levels: [1], unetScope: 'block' });
    assert.equal(flux.mergeEvery, REDUCER_DEFAULTS.mergeEvery, 'Flux keeps its own schedule');
    assert.deepEqual(flux.levels, [1]);
  });

  it('bad UNet options are named', () => {
    const bad: [object, RegExp][] = [
      [{ method: 'toma', levels: [] }, /levels must be a non-empty list of UNet levels/],
      [{ method: 'toma', levels: 1 }, /levels must be a non-empty list/],
      [{ method: 'toma', levels: [1, -1] }, /levels entry must be an integer >= 0, got -1/],
      [{ method: 'toma', levels: [0.5] }, /levels entry must be an integer >= 0, got 0.5/],
      [
        { method: 'toma', unetScope: 'attn' },
        /unetScope must be one of 'self-attention', 'block', got "attn"/,
      ],
      [{ method: 'todo', unetScope: 'block' }, /unetScope must be 'self-attention' for method todo/],
      [{ method: 'toma', level: [1] }, /unknown token reduction option "level"/],
    ];
    for (const [o, re] of bad) assert.throws(() => createUnetReducer(cpu, o as never), re);
    assert.throws(() => createUnetReducer(cpu, { method: 'hilbert' }), /sparse attention pattern/);
    assert.equal(createUnetReducer(cpu, { method: 'dense' }), denseUnet);
  });
});

describe('UNet reducer: schedule, levels, groups', () => {
  it('levels: ToMA reduces every attention level by default, ToMeSD and ToDo the highest-resolution one', () => {
    const cases: [string, object, number[]][] = [
      ['toma', {}, [1, 2]],
      ['tomesd', {}, [1]],
      ['todo', {}, [1]],
      ['toma', { levels: [2] }, [2]],
      ['todo', { levels: [1, 2] }, [1, 2]],
    ];
    for (const [method, extra, want] of cases) {
      const red = createUnetReducer(cpu, { method: method as 'toma', ...extra });
      red.beginForward(info(0));
      const reduced = [1, 2].filter(
        (l) => red.block(site('down', l, l), rand(cpu, l), rand(cpu, l)) !== null,
      );
      red.endForward();
      red.dispose();
      assert.deepEqual(reduced, want, `${method} ${JSON.stringify(extra)}`);
    }
    // SD 1.x: attention at level 0 too, and ToMeSD's max_downsample 1 means level 0.
    const red = createUnetReducer(cpu, { method: 'tomesd' });
    red.beginForward(info(0, { attentionLevels: [0, 1, 2] }));
    assert.notEqual(red.block(site('down', 0, 0), rand(cpu, 0), rand(cpu, 0)), null);
    assert.equal(red.block(site('down', 1, 1), rand(cpu, 1), rand(cpu, 1)), null);
    red.endForward();
    red.dispose();
  });

  it('mergeEvery / mergeSteps select the reducing steps', () => {
    const red = createUnetReducer(cpu, { method: 'toma', mergeEvery: 2 });
    const got: boolean[] = [];
    for (let step = 0; step < 4; step++) {
      red.beginForward(info(step));
      got.push(red.block(site('down', 1, 0), rand(cpu, 1), rand(cpu, 1)) !== null);
      red.endForward();
    }
    assert.deepEqual(got, [true, false, true, false]);
    red.dispose();
  });

  it('token counts on each level grid (non-square, not divisible by the tile)', async () => {
    for (const level of [1, 2]) {
      const [h, w] = levelGrid(LATENT, level);
      const n = h * w;
      const want: Record<string, number> = {
        toma: new TileLayout(h, w, 4, 0.5).tokens,
        tomesd: n - tomesdMergeCount(h, w, 4, 0.5),
        todo: Math.ceil(h / 2) * Math.ceil(w / 2),
      };
      for (const method of ['toma', 'tomesd', 'todo'] as const) {
        const red = createUnetReducer(cpu, { method, levels: [1, 2] });
        red.beginForward(info(0, { batch: 2 }));
        const x = rand(cpu, level, 2);
        const plan = red.block(site('down', level, 0), rand(cpu, level, 2), x) as UnetBlockPlan;
        if (plan.kind === 'merge') {
          assert.equal(plan.tokens, want[method], `${method} level ${level}`);
          const m = plan.merge(x);
          assert.deepEqual(m.shape, [2, want[method], C]);
          assert.deepEqual(plan.unmerge(m).shape, [2, n, C]);
        } else {
          const heads = cpu.reshape(x, [2, 1, n, C]);
          assert.deepEqual(plan.downsampleKV(heads, heads).k.shape, [2, 1, want[method], C]);
          // pooling the projected keys = projecting the pooled tokens (ToDo pools the projection's input)
          const wt = cpu.tensor(rng().normals(C * C), [C, C]);
          const pool = (t: Tensor) => plan.downsampleKV(cpu.reshape(t, [2, 1, n, C]), heads).k;
          const before = await cpu.matmul(cpu.reshape(pool(x), [2, want[method]!, C]), wt).read();
          const after = await pool(cpu.matmul(x, wt)).read();
          assertClose(after, before, 1e-5, 'pool then project');
        }
        assert.ok(want[method]! < n, 'something is removed');
        red.endForward();
        red.dispose();
      }
    }
  });

  it('ToMA: one selection per (path, level) and step, shared by the group; a new step selects again', async () => {
    const red = createUnetReducer(cpu, { method: 'toma', ratio: 0.5 });
    const L = new TileLayout(...levelGrid(LATENT, 1), 4, 0.5);
    for (let step = 0; step < 2; step++) {
      red.beginForward(info(step));
      const [a, b, c, t] = [rand(cpu, 1), rand(cpu, 1), rand(cpu, 1), rand(cpu, 1)];
      const head = red.block(site('down', 1, 0), a, t) as TokenMerge;
      const later = red.block(site('down', 1, 1), b, t) as TokenMerge;
      const other = red.block(site('up', 1, 5), c, t) as TokenMerge;
      const fromA = tomaSelectAndWeigh(cpu, a, L, 1000);
      const fromC = tomaSelectAndWeigh(cpu, c, L, 1000);
      const want = await tomaMerge(cpu, t, fromA.m, L).read();
      assert.deepEqual(await head.merge(t).read(), want, 'the head selects from its n1');
      assert.deepEqual(await later.merge(t).read(), want, 'a later block of the group reuses it');
      assert.deepEqual(
        await other.merge(t).read(),
        await tomaMerge(cpu, t, fromC.m, L).read(),
        'up:1 is its own group',
      );
      // level 2 blocks of the mid and up paths are separate groups too
      const [m1, u1] = [rand(cpu, 2), rand(cpu, 2)];
      const mid = red.block(site('mid', 2, 2), m1, rand(cpu, 2)) as TokenMerge;
      const up = red.block(site('up', 2, 3), u1, rand(cpu, 2)) as TokenMerge;
      assert.equal(await sameMerge(mid, up, rand(cpu, 2)), false, 'mid:2 and up:2 select separately');
      red.endForward();
    }
    red.dispose();
  });

  it('ToMeSD matches on the block input x, once per group unless matchEveryBlock', async () => {
    const x = rand(cpu, 1);
    const t = rand(cpu, 1);
    const plan = (o: object, n1: Tensor, input: Tensor) => {
      const red = createUnetReducer(cpu, { method: 'tomesd', ...o });
      red.beginForward(info(0));
      const p = red.block(site('down', 1, 0), n1, input) as TokenMerge;
      return { red, p };
    };
    const a = plan({}, rand(cpu, 1), x);
    const b = plan({}, rand(cpu, 1), x);
    const c = plan({}, rand(cpu, 1), rand(cpu, 1));
    assert.equal(await sameMerge(a.p, b.p, t), true, 'n1 does not change the matching');
    assert.equal(await sameMerge(a.p, c.p, t), false, 'x does');
    for (const matchEveryBlock of [false, true]) {
      const { red, p } = plan({ matchEveryBlock }, rand(cpu, 1), x);
      const first = await p.merge(t).read(); // a block's plan serves it until the next block plans
      const later = red.block(site('down', 1, 1), rand(cpu, 1), rand(cpu, 1)) as TokenMerge;
      const second = await later.merge(t).read();
      const same = first.length === second.length && first.every((v, i) => v === second[i]);
      assert.equal(same, !matchEveryBlock, `matchEveryBlock ${matchEveryBlock}`);
      red.endForward();
      red.dispose();
    }
    for (const r of [a, b, c]) {
      r.red.endForward();
      r.red.dispose();
    }
  });

  it('ratio 0: ToMA and ToMeSD plan nothing (the block runs dense)', () => {
    for (const method of ['toma', 'tomesd'] as const) {
      const red = createUnetReducer(cpu, { method, ratio: 0 });
      red.beginForward(info(0));
      assert.equal(red.block(site('down', 1, 0), rand(cpu, 1), rand(cpu, 1)), null, method);
      red.endForward();
      red.dispose();
    }
  });

  it('argument errors name the problem', () => {
    const red = createUnetReducer(cpu, { method: 'toma' });
    const a = rand(cpu, 1);
    assert.throws(() => red.block(site('down', 1, 0), a, a), /called outside beginForward/);
    assert.throws(
      () => red.beginForward(info(0, { attentionLevels: [2, 1] })),
      /attentionLevels must be ascending/,
    );
    assert.throws(() => red.beginForward(info(0, { latent: [0, 4] as never })), /latent must be/);
    assert.throws(() => red.beginForward(info(6)), /step must be an integer in \[0, steps\)/);
    red.beginForward(info(0));
    assert.throws(() => red.beginForward(info(1)), /called again before endForward/);
    assert.throws(() => red.block({ ...site('down', 1, 0), path: 'side' as never }, a, a), /site.path/);
    assert.throws(
      () => red.block({ ...site('down', 1, 0), grid: [5, 7] }, a, a),
      /site.grid \[5,7\] is not level 1's grid \[7,5\] for the latent grid \[14,10\]/,
    );
    assert.throws(
      () => red.block(site('down', 1, 0), rand(cpu, 2), a),
      /n1 has shape \[1, 12, 6\], expected \[1, 35, \*\]/,
    );
    assert.throws(() => red.block(site('down', 1, 0), a, cpu.zeros([1, 35, 5])), /x has shape/);
    red.endForward();
    red.dispose();
  });
});
