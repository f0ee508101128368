import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Backend } from '../../src/backend.js';
import { dense, type ForwardInfo, type TokenMergePlan } from '../../src/merge/hooks.js';
import { isReducingStep, REDUCER_DEFAULTS, resolveReducerOptions } from '../../src/merge/options.js';
import { createReducer } from '../../src/merge/reducers.js';
import { TileLayout } from '../../src/merge/tile-layout.js';
import { tomaMerge, tomaSelectAndWeigh, tomaUnmerge, tomaWeights } from '../../src/merge/toma.js';
import { tomesdMergeCount } from '../../src/merge/tomesd-reducer.js';
import { assertClose, cpu, gpu, rng } from '../helpers.js';

const H = 8;
const W = 6;
const N = H * W;
const C = 8;
const info = (step: number, steps = 7, batch = 1): ForwardInfo => ({
  step,
  steps,
  batch,
  grid: [H, W],
  textTokens: 5,
});

/** Positions (raster indices) the merged tokens take, read through the plan's RoPE rows. */
async function positions(be: Backend, plan: TokenMergePlan, batch = 1): Promise<number[]> {
  const table = be.tensor(
    Float32Array.from({ length: batch * N * 2 }, (_, i) => Math.floor(i / 2) % N),
    [batch, N, 1, 2],
  );
  const rows = await plan.rope(table).read();
  return Array.from(rows.filter((_, i) => i % 2 === 0));
}

describe('token reduction options', () => {
  it('defaults follow the reference script', () => {
    const o = resolveReducerOptions({ method: 'toma' });
    assert.deepEqual(
      { ...o },
      {
        method: 'toma',
        ratio: 0.5,
        tile: 4,
        temperature: 1000,
        exemptDouble: 5,
        exemptSingle: 5,
        mergeEvery: 3,
        mergeSteps: null,
        reuseSteps: 1,
        reuseWeights: false,
        matchEveryBlock: false,
        seed: 0,
        levels: null,
        unetScope: null,
      },
    );
    assert.equal(REDUCER_DEFAULTS.ratio, 0.5);
    const steps = Array.from({ length: 35 }, (_, s) => s).filter((s) => isReducingStep(o, s));
    assert.equal(steps.length, 12, 'merging every 3rd of 35 steps gives 12');
    assert.deepEqual(
      Array.from({ length: 6 }, (_, s) => s).filter((s) =>
        isReducingStep(resolveReducerOptions({ method: 'toma', mergeSteps: [1, 4] }), s),
      ),
      [1, 4],
    );
  });

  it('bad options are named', () => {
    const bad: [object, RegExp][] = [
      [{ method: 'tome' }, /method must be one of dense, toma, tomesd, todo, hilbert; got "tome"/],
      [{ method: 'toma', ratio: 1 }, /ratio must be a number in \[0, 1\), got 1/],
      [{ method: 'toma', tile: 0 }, /tile must be an integer in \[1, 8\], got 0/],
      [{ method: 'toma', temperature: -1 }, /temperature must be a positive finite number/],
      [{ method: 'toma', exemptDouble: 1.5 }, /exemptDouble must be an integer >= 0/],
      [{ method: 'toma', mergeEvery: 0 }, /mergeEvery must be an integer >= 1/],
      [{ method: 'toma', reuseSteps: 0 }, /reuseSteps/],
      [{ method: 'toma', mergeSteps: [0, -1] }, /mergeSteps entry must be an integer >= 0, got -1/],
      [{ method: 'toma', reuseWeights: 1 }, /reuseWeights must be true or false/],
      [{ method: 'toma', ratoi: 0.5 }, /unknown token reduction option "ratoi"/],
    ];
    for (const [o, re] of bad) assert.throws(() => resolveReducerOptions(o as never), re);
  });

  it("'dense' is the no-op reducer; 'hilbert' explains that it is an attention pattern", () => {
    assert.equal(createReducer(cpu, { method: 'dense' }), dense);
    assert.throws(
      () => createReducer(cpu, { method: 'hilbert' }),
      /sparse attention pattern, not a token reducer/,
    );
  });
});

describe('ToMA reducer', () => {
  it('schedule: exempt blocks and non-merging steps run dense; the group head selects for the group', async () => {
    const red = createReducer(cpu, { method: 'toma', mergeEvery: 3 });
    const r = rng();
    const a = cpu.tensor(r.normals(N * C), [1, N, C]);
    const b = cpu.tensor(r.normals(N * C), [1, N, C]);
    const L = new TileLayout(H, W, 4, 0.5);
    for (let step = 0; step < 7; step++) {
      red.beginForward(info(step));
      assert.equal(red.block('double', 4, a), null, 'exempt double block');
      assert.equal(red.block('single', 0, a), null, 'exempt single block');
      const head = red.block('double', 5, a) as TokenMergePlan | null;
      if (step % 3 !== 0) {
        assert.equal(head, null, `step ${step} does not merge`);
        red.endForward();
        continue;
      }
      assert.equal(head!.kind, 'merge');
      assert.equal(head!.tokens, L.tokens);
      const later = red.block('double', 12, b) as TokenMergePlan;
      // The later block reuses the head's destinations and weights, although its input differs.
      assert.deepEqual(await positions(cpu, later), await positions(cpu, head!));
      const ref = tomaSelectAndWeigh(cpu, a, L, 1000);
      assert.deepEqual(await later.merge(b).read(), await tomaMerge(cpu, b, ref.m, L).read());
      // The single-stream group selects from its own head's input.
      const single = red.block('single', 5, b) as TokenMergePlan;
      const fromB = await cpu.readU32(tomaSelectAndWeigh(cpu, b, L, 1000).dst);
      assert.deepEqual(await positions(cpu, single), Array.from(fromB));
      assert.deepEqual((await single.unmerge(single.merge(b)).read()).length, N * C);
      red.endForward();
    }
    red.dispose();
  });

  it('reuseSteps: destinations kept for later steps, weights recomputed unless reuseWeights', async () => {
    const r = rng();
    const a = cpu.tensor(r.normals(N * C), [1, N, C]);
    const b = cpu.tensor(r.normals(N * C), [1, N, C]);
    const L = new TileLayout(H, W, 4, 0.5);
    for (const reuseWeights of [false, true]) {
      const red = createReducer(cpu, { method: 'toma', mergeEvery: 1, reuseSteps: 2, reuseWeights });
      red.beginForward(info(0));
      const p0 = red.block('double', 5, a) as TokenMergePlan;
      const pos0 = await positions(cpu, p0);
      red.endForward();
      red.beginForward(info(1));
      const p1 = red.block('double', 5, b) as TokenMergePlan;
      assert.deepEqual(await positions(cpu, p1), pos0, 'destinations reused at step 1');
      const dstA = cpu.tensor(pos0, [1, L.tokens], 'u32');
      const w = tomaWeights(cpu, reuseWeights ? a : b, dstA, L, 1000);
      assert.deepEqual(await p1.merge(b).read(), await tomaMerge(cpu, b, w.m, L).read());
      red.endForward();
      red.beginForward(info(2));
      const p2 = red.block('double', 5, b) as TokenMergePlan;
      const fromB = await cpu.readU32(tomaSelectAndWeigh(cpu, b, L, 1000).dst);
      assert.deepEqual(await positions(cpu, p2), Array.from(fromB), 'chosen again at step 2');
      red.endForward();
      red.dispose();
    }
  });

  it('a new sampling run (the step does not advance) never reuses destinations of the last run', async () => {
    const r = rng();
    const L = new TileLayout(H, W, 4, 0.5);
    const red = createReducer(cpu, { method: 'toma', mergeEvery: 1, reuseSteps: 5 });
    for (const steps of [1, 4]) {
      for (let run = 0; run < 2; run++) {
        const x = cpu.tensor(r.normals(N * C), [1, N, C]);
        red.beginForward(info(0, steps));
        const p = red.block('double', 5, x) as TokenMergePlan;
        const want = await cpu.readU32(tomaSelectAndWeigh(cpu, x, L, 1000).dst);
        assert.deepEqual(await positions(cpu, p), Array.from(want), `steps ${steps}, run ${run}`);
        red.endForward();
      }
    }
    red.dispose();
  });

  it('frees its state: no tensor outlives endForward (reuseSteps 1) or dispose()', () => {
    const red = createReducer(cpu, { method: 'toma', mergeEvery: 1, reuseSteps: 3 });
    const x = cpu.tensor(rng().normals(N * C), [1, N, C]);
    const before = cpu.memory().liveBytes;
    for (let step = 0; step < 4; step++) {
      red.beginForward(info(step));
      cpu.tidy(() => {
        const p = red.block('double', 5, x) as TokenMergePlan;
        p.unmerge(p.merge(x));
        red.block('single', 7, x);
      });
      red.endForward();
    }
    assert.ok(cpu.memory().liveBytes > before, 'state kept for reuse across steps');
    red.dispose();
    assert.equal(cpu.memory().liveBytes, before);
    const once = createReducer(cpu, { method: 'toma', mergeEvery: 1 });
    once.beginForward(info(0));
    cpu.tidy(() => {
      once.block('double', 5, x);
    });
    once.endForward();
    assert.equal(cpu.memory().liveBytes, before, 'reuseSteps 1: freed at endForward');
  });

  it('hook misuse is reported: wrong token count (text tokens included), calls outside a forward', () => {
    const red = createReducer(cpu, { method: 'toma', mergeEvery: 1 });
    assert.throws(() => red.block('double', 5, cpu.zeros([1, N, C])), /outside beginForward/);
    red.beginForward(info(0));
    assert.throws(
      () => red.block('double', 5, cpu.zeros([1, N + 5, C])),
      /xImg has shape \[1, 53, 8\], expected \[1, 48, \*\]/,
    );
    assert.throws(() => red.block('triple' as never, 5, cpu.zeros([1, N, C])), /block kind/);
    assert.throws(() => red.beginForward(info(0)), /called again before endForward/);
    red.endForward();
    assert.throws(() => red.beginForward({ ...info(0), step: 7 }), /step must be an integer in \[0, steps\)/);
    red.dispose();
  });
});

describe('ToMeSD and ToDo reducers', () => {
  it('ToMeSD keeps as many tokens as ToMA; merge / unmerge / RoPE shapes; dense when no 2x2 cell', async () => {
    for (const ratio of [0.25, 0.5, 0.75]) {
      const red = createReducer(cpu, { method: 'tomesd', ratio, mergeEvery: 1, seed: 3 });
      const x = cpu.tensor(rng().normals(2 * N * C), [2, N, C]);
      red.beginForward(info(0, 1, 2));
      const p = red.block('single', 6, x) as TokenMergePlan;
      assert.equal(p.tokens, new TileLayout(H, W, 4, ratio).tokens, `ratio ${ratio}`);
      assert.equal(N - p.tokens, tomesdMergeCount(H, W, 4, ratio));
      const y = p.merge(x);
      assert.deepEqual(y.shape, [2, p.tokens, C]);
      assert.deepEqual(p.unmerge(y).shape, [2, N, C]);
      assert.equal((await positions(cpu, p, 2)).length, 2 * p.tokens);
      red.endForward();
      red.dispose();
    }
    const thin = createReducer(cpu, { method: 'tomesd', mergeEvery: 1 });
    thin.beginForward({ ...info(0), grid: [1, N] });
    assert.equal(thin.block('double', 5, cpu.zeros([1, N, C])), null);
    thin.endForward();
  });

  it('ToDo pools image keys/values 2x2 in reduced blocks only', () => {
    const red = createReducer(cpu, { method: 'todo', exemptSingle: 2 });
    red.beginForward(info(0));
    assert.equal(red.block('single', 1, cpu.zeros([1, N, C])), null);
    const p = red.block('single', 2, cpu.zeros([1, N, C]));
    assert.equal(p?.kind, 'kv');
    if (p?.kind !== 'kv') return;
    const k = cpu.zeros([1, 3, N, 4]);
    const out = p.downsampleKV(k, k);
    assert.deepEqual(out.k.shape, [1, 3, (H / 2) * (W / 2), 4]);
    assert.deepEqual(out.v.shape, [1, 3, (H / 2) * (W / 2), 4]);
    red.endForward();
  });

  it('on the GPU: toma = its ops, tomesd and todo = the CPU reducers', {
    skip: !gpu && 'no WebGPU adapter',
  }, async () => {
    const xData = rng().normals(N * C);
    const L = new TileLayout(H, W, 4, 0.5);
    const run = async (be: Backend, method: 'toma' | 'tomesd' | 'todo') => {
      const red = createReducer(be, { method, mergeEvery: 1 });
      const x = be.tensor(xData, [1, N, C]);
      red.beginForward(info(0));
      const p = red.block('double', 5, x)!;
      const res =
        p.kind === 'merge'
          ? p.unmerge(p.merge(x))
          : p.downsampleKV(be.reshape(x, [1, 1, N, C]), be.reshape(x, [1, 1, N, C])).k;
      const data = await res.read();
      red.endForward();
      red.dispose();
      return data;
    };
    const g = gpu!;
    const x = g.tensor(xData, [1, N, C]);
    const sel = tomaSelectAndWeigh(g, x, L, 1000);
    // Selection ties are decided by rounding, so ToMA is checked against its own ops on the same backend.
    assert.deepEqual(await run(g, 'toma'), await tomaUnmerge(g, tomaMerge(g, x, sel.m, L), sel.p, L).read());
    assertClose(await run(g, 'tomesd'), await run(cpu, 'tomesd'), 1e-5, 'tomesd');
    assertClose(await run(g, 'todo'), await run(cpu, 'todo'), 1e-5, 'todo');
  });
});
