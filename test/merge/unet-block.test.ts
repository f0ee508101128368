// A UNet transformer block under the reducers (src/merge/unet-block.ts) on a toy block: the scopes'
// formulas recomputed by hand from the primitive ops, exact dense at ratio 0, and CPU and WebGPU
// agreeing for ToMA, ToMeSD and ToDo.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Backend } from '../../src/backend.js';
import {
  denseUnet,
  type UnetBlockSite,
  type UnetForwardInfo,
  type UnetTokenReducer,
} from '../../src/merge/hooks.js';
import type { ReducerOptions } from '../../src/merge/options.js';
import { createUnetReducer } from '../../src/merge/reducers.js';
import { TileLayout } from '../../src/merge/tile-layout.js';
import { todoDownsample } from '../../src/merge/todo.js';
import { tomaMerge, tomaSelectAndWeigh, tomaUnmerge } from '../../src/merge/toma.js';
import type { TomaReducer } from '../../src/merge/toma-reducer.js';
import { reducedTransformerBlock, type UnetBlockParts } from '../../src/merge/unet-block.js';
import { levelGrid, type UnetReducer } from '../../src/merge/unet-reducer.js';
import type { Tensor } from '../../src/tensor.js';
import { Rng } from '../../src/util/random.js';
import { assertClose, cpu, gpu, noGpu, relErr } from '../helpers.js';
import { compareSelection } from './toma-check.js';
import { type ToyBlockSpec, tomaWithDestinations, toyBlock } from './unet-toy.js';

const LATENT = [14, 10] as const; // level 1: 7x5, level 2: 4x3
const SPEC: ToyBlockSpec = { C: 16, heads: 2, text: 5, batch: 2, seed: 7 };
const info = (step = 0): UnetForwardInfo => ({
  step,
  steps: 4,
  batch: SPEC.batch,
  latent: LATENT,
  attentionLevels: [1, 2],
});
const site = (level: number, index = 0, path: UnetBlockSite['path'] = 'down'): UnetBlockSite => ({
  path,
  level,
  index,
  grid: levelGrid(LATENT, level),
});
const N1 = 35;
const input = (be: Backend, seed: number, n = N1) =>
  be.tensor(new Rng(seed).normals(SPEC.batch * n * SPEC.C), [SPEC.batch, n, SPEC.C]);

/** One forward of blocks (level, index, path) with the reducer; returns each block's output. */
async function runBlocks(
  be: Backend,
  reducer: UnetTokenReducer,
  parts: UnetBlockParts,
  blocks: [number, number, UnetBlockSite['path']][],
  step = 0,
): Promise<Float32Array[]> {
  reducer.beginForward(info(step));
  const out: Float32Array[] = [];
  for (const [level, index, path] of blocks) {
    const s = site(level, index, path);
    const x = input(be, 100 + index, s.grid[0] * s.grid[1]);
    out.push(await reducedTransformerBlock(be, reducer, s, x, parts).read());
  }
  reducer.endForward();
  return out;
}

/** a - b or a + b elementwise, in f32. */
const f32 = (a: Float32Array, b: Float32Array, sign: 1 | -1) =>
  Float32Array.from(a, (v, i) => Math.fround(v + sign * b[i]!));

describe('UNet transformer block under a reducer (CPU, hand-computed)', () => {
  const { parts } = toyBlock(cpu, SPEC);
  const L = new TileLayout(7, 5, 4, 0.5);

  it("ToMA, scope 'block': x + unmerge(block(merge(x)) - merge(x)), selection from norm1(x)", async () => {
    const red = createUnetReducer(cpu, { method: 'toma' });
    assert.equal(red.scope, 'block');
    red.beginForward(info());
    const x = input(cpu, 1);
    const got = await reducedTransformerBlock(cpu, red, site(1), x, parts).read();
    red.endForward();
    red.dispose();

    const sel = tomaSelectAndWeigh(cpu, parts.norm1(x), L, 1000);
    const xm = tomaMerge(cpu, x, sel.m, L);
    const ym = parts.rest(parts.selfAttention(parts.norm1(xm), xm, null));
    const delta = f32(await ym.read(), await xm.read(), -1);
    const up = tomaUnmerge(cpu, cpu.tensor(delta, xm.shape), sel.p, L);
    const want = f32(await x.read(), await up.read(), 1);
    assertClose(got, want, 1e-6, 'block scope');
    assert.ok(relErr(got, await reducedTransformerBlock(cpu, denseUnet, site(1), x, parts).read()) > 1e-3);
  });

  it("ToMA, scope 'self-attention': rest(x + unmerge(attn1(merge(norm1(x)))))", async () => {
    const red = createUnetReducer(cpu, { method: 'toma', unetScope: 'self-attention' });
    red.beginForward(info());
    const x = input(cpu, 2);
    const got = await reducedTransformerBlock(cpu, red, site(1), x, parts).read();
    red.endForward();
    red.dispose();

    const n1 = parts.norm1(x);
    const sel = tomaSelectAndWeigh(cpu, n1, L, 1000);
    const a = parts.selfAttention(tomaMerge(cpu, n1, sel.m, L), null, null);
    const h = f32(await x.read(), await tomaUnmerge(cpu, a, sel.p, L).read(), 1);
    const want = await parts.rest(cpu.tensor(h, x.shape)).read();
    assertClose(got, want, 1e-6, 'self-attention scope');
  });

  it('a block that adds a constant to every token adds it to every unmerged token (both scopes)', async () => {
    const c = Float32Array.from({ length: SPEC.C }, (_, i) => i - 3.5);
    // h -> h·0ᵀ + c (+ residual): the constant as a matmul bias
    const zero = cpu.zeros([SPEC.C, SPEC.C]);
    const bias = cpu.tensor(c, [SPEC.C]);
    const addC = (h: Tensor, residual: Tensor | null) =>
      cpu.matmul(h, zero, { bias, ...(residual ? { residual } : {}) });
    for (const method of ['toma', 'tomesd'] as const) {
      for (const unetScope of ['block', 'self-attention'] as const) {
        // attn1 adds c (self-attention scope) or nothing and rest adds c (block scope): either way the
        // block's update is c on every token, and x + unmerge(c) = x + c because unmerge rows sum to 1.
        const constant: UnetBlockParts = {
          norm1: parts.norm1,
          selfAttention: (n, residual) =>
            unetScope === 'self-attention' ? addC(n, residual) : (residual ?? cpu.scale(n, 0)),
          rest: (h) => (unetScope === 'block' ? addC(h, h) : h),
        };
        const red = createUnetReducer(cpu, { method, unetScope });
        red.beginForward(info());
        const x = input(cpu, 3);
        const got = await reducedTransformerBlock(cpu, red, site(1), x, constant).read();
        red.endForward();
        red.dispose();
        const xd = await x.read();
        assertClose(
          got,
          Float32Array.from(xd, (v, i) => v + c[i % SPEC.C]!),
          1e-5,
          `${method} ${unetScope}`,
        );
      }
    }
  });

  it("ToDo: attn1's keys/values from the 2x2-pooled norm1(x) (ToDo's formulation), queries full", async () => {
    const red = createUnetReducer(cpu, { method: 'todo' });
    const [got] = await runBlocks(cpu, red, parts, [[1, 0, 'down']]);
    red.dispose();
    // by hand: pool the projection's input, then project (what ToDo's code does)
    const toy = toyBlock(cpu, SPEC);
    const x = input(cpu, 100);
    const pooled = cpu.reshape(
      todoDownsample(cpu, cpu.reshape(toy.parts.norm1(x), [2, 1, N1, SPEC.C]), [7, 5]),
      [2, 12, SPEC.C],
    );
    const manual: UnetBlockParts = {
      ...toy.parts,
      selfAttention: (n, residual) =>
        toy.parts.selfAttention(n, residual, {
          kind: 'kv',
          downsampleKV: () => ({
            k: toy.toHeads(cpu.matmul(pooled, toy.k1)),
            v: toy.toHeads(cpu.matmul(pooled, toy.v1)),
          }),
        }),
    };
    const want = await reducedTransformerBlock(cpu, denseUnet, site(1), x, manual).read();
    assertClose(got!, want, 1e-5, 'ToDo by hand');
    const dense = await reducedTransformerBlock(cpu, denseUnet, site(1), x, parts).read();
    assert.ok(relErr(got!, dense) > 1e-3, 'ToDo changes the block');
  });

  it('ratio 0 equals the dense block exactly (ToMA, ToMeSD, both scopes)', async () => {
    const blocks: [number, number, UnetBlockSite['path']][] = [
      [1, 0, 'down'],
      [2, 1, 'mid'],
      [1, 2, 'up'],
    ];
    const dense = await runBlocks(cpu, denseUnet, parts, blocks);
    for (const method of ['toma', 'tomesd'] as const) {
      for (const unetScope of ['block', 'self-attention'] as const) {
        const red = createUnetReducer(cpu, { method, ratio: 0, unetScope, levels: [1, 2] });
        assert.deepEqual(await runBlocks(cpu, red, parts, blocks), dense, `${method} ${unetScope}`);
        red.dispose();
      }
    }
  });
});

describe('UNet transformer block: CPU and WebGPU agree', { skip: noGpu }, () => {
  const g = gpu!;
  const blocks: [number, number, UnetBlockSite['path']][] = [
    [1, 0, 'down'],
    [1, 1, 'down'], // reuses block 0's destinations
    [2, 2, 'mid'],
    [1, 3, 'up'],
  ];
  const dense = () => runBlocks(cpu, denseUnet, toyBlock(cpu, SPEC).parts, blocks);
  const reduced = async (be: Backend, o: ReducerOptions) => {
    const red = createUnetReducer(be, o);
    const out = await runBlocks(be, red, toyBlock(be, SPEC).parts, blocks);
    red.dispose();
    return out;
  };

  for (const scope of ['block', 'self-attention'] as const) {
    it(`toma ${scope}: valid greedy destinations on the GPU, and the CPU with them gives the same blocks`, async () => {
      // Selection has exact ties by construction (docs/merging.md), decided by rounding: the GPU's
      // destinations are checked by replaying the greedy, then the CPU runs with them.
      const views = new Map<string, Tensor>();
      const red = createUnetReducer(g, { method: 'toma', unetScope: scope, levels: [1, 2] });
      const core = (red as UnetReducer).core as TomaReducer;
      core.onDestinations = (e) => views.set(e.kind, g.keep(g.reshape(e.dst, e.dst.shape)));
      const out = await runBlocks(g, red, toyBlock(g, SPEC).parts, blocks);
      red.dispose();
      assert.deepEqual([...views.keys()], ['down:1', 'mid:2', 'up:1'], 'one selection per group');
      const dst = new Map<string, Uint32Array>();
      const { parts } = toyBlock(cpu, SPEC);
      for (const [name, v] of views) {
        const d = await g.readU32(v);
        dst.set(name, d);
        const [level, index] = name === 'mid:2' ? [2, 2] : [1, name === 'down:1' ? 0 : 3];
        const [h, w] = levelGrid(LATENT, level);
        const L = new TileLayout(h, w, 4, 0.5);
        const n1 = await parts.norm1(input(cpu, 100 + index, h * w)).read();
        const cmp = compareSelection(n1, SPEC.batch, SPEC.C, L, d, 1e-4);
        assert.deepEqual(cmp.errors, [], `${name}: ${cmp.errors.join('; ')}`);
      }
      const want = await runBlocks(cpu, tomaWithDestinations(cpu, dst, scope), parts, blocks);
      const d = await dense();
      for (let i = 0; i < blocks.length; i++) {
        assertClose(out[i]!, want[i]!, 2e-4, `block ${i}`);
        assert.ok(relErr(want[i]!, d[i]!) > 1e-4, `block ${i} is reduced`);
      }
    });
  }

  const cases: [string, ReducerOptions][] = [
    ['tomesd', { method: 'tomesd', levels: [1, 2] }],
    ['tomesd block', { method: 'tomesd', unetScope: 'block', levels: [1, 2] }],
    ['todo', { method: 'todo', levels: [1, 2] }],
  ];
  for (const [name, o] of cases) {
    it(name, async () => {
      const co = await reduced(cpu, o);
      const wo = await reduced(g, o);
      const d = await dense();
      for (let i = 0; i < blocks.length; i++) {
        assertClose(wo[i]!, co[i]!, 2e-4, `${name} block ${i}`);
        assert.ok(relErr(co[i]!, d[i]!) > 1e-4, `${name} block ${i} is reduced`);
      }
    });
  }
});
