// ToMA, ToMeSD and ToDo inside the SDXL UNet (the sdxl_unet_a fixture's tiny UNet, its own inputs): each
// method runs on the CPU and on WebGPU, the backends agree, the output moves away from dense by a
// bounded amount, and ratio 0 is exactly dense.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Backend } from '../../src/backend.js';
import type { UnetTokenReducer } from '../../src/merge/hooks.js';
import type { ReducerOptions } from '../../src/merge/options.js';
import { createUnetReducer } from '../../src/merge/reducers.js';
import { TileLayout } from '../../src/merge/tile-layout.js';
import { TomaReducer } from '../../src/merge/toma-reducer.js';
import type { UnetReducer } from '../../src/merge/unet-reducer.js';
import { UnetModel } from '../../src/models/unet/index.js';
import type { Tensor } from '../../src/tensor.js';
import { assertClose, cpu, gpu, noGpu, relErr } from '../helpers.js';
import { compareSelection } from '../merge/toma-check.js';
import { tomaWithDestinations } from '../merge/unet-toy.js';
import { noSdxlFixture, openSdxlFixture } from './sdxl-fixtures.js';

const NAME = 'sdxl_unet_a';
const skip = noSdxlFixture(NAME);

/** NCHW -> NHWC. */
function toNhwc(x: Float32Array, [B, C, H, W]: number[]): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < B; b++)
    for (let c = 0; c < C; c++)
      for (let i = 0; i < H * W; i++) out[(b * H * W + i) * C + c] = x[(b * C + c) * H * W + i]!;
  return out;
}

describe('SDXL UNet (sdxl_unet_a) with token reduction', { skip }, () => {
  const fixture = skip ? null : openSdxlFixture(NAME);
  const models = new Map<Backend, UnetModel>();
  const model = (be: Backend) => {
    let m = models.get(be);
    if (!m) {
      m = UnetModel.load(be, fixture!.ck, { config: fixture!.config });
      models.set(be, m);
    }
    return m;
  };

  /**
   * One forward (fixture inputs) with a reducer; also, for ToMA, the destinations each block group chose
   * and the n1 they were chosen from (the group head's).
   */
  async function run(be: Backend, reducer?: UnetTokenReducer) {
    const ck = fixture!.ck;
    const shape = ck.info('in.sample').shape;
    const [B, C, H, W] = shape as [number, number, number, number];
    const views: [string, Tensor][] = [];
    const heads = new Map<string, Tensor>();
    const core = reducer && 'core' in reducer ? (reducer as UnetReducer).core : null;
    if (core instanceof TomaReducer) {
      core.onDestinations = (e) => views.push([e.kind, be.keep(be.reshape(e.dst, e.dst.shape))]);
      const block = reducer!.block.bind(reducer);
      reducer!.block = (site, n1, x) => {
        const g = `${site.path}:${site.level}`;
        if (!heads.has(g)) heads.set(g, be.keep(be.reshape(n1, n1.shape)));
        return block(site, n1, x);
      };
    }
    const sample = be.tensor(toNhwc(ck.readF32('in.sample'), shape), [B, H, W, C]);
    const text = be.tensor(ck.readF32('in.encoder_hidden_states'), ck.info('in.encoder_hidden_states').shape);
    const pooled = be.tensor(ck.readF32('in.text_embeds'), ck.info('in.text_embeds').shape);
    const out = model(be).forward(
      {
        sample,
        timesteps: ck.readF32('in.timestep'),
        encoderHiddenStates: text,
        textEmbeds: pooled,
        timeIds: ck.readF32('in.time_ids'),
      },
      { reducer },
    );
    const data = await out.read();
    const dst = new Map<string, Uint32Array>();
    for (const [k, v] of views) dst.set(k, await be.readU32(v));
    const n1 = new Map<string, { data: Float32Array; grid: readonly [number, number] }>();
    for (const [k, t] of heads) {
      const site = model(be)
        .transformerBlocks(H, W)
        .find((s) => `${s.path}:${s.level}` === k)!;
      n1.set(k, { data: await t.read(), grid: site.grid });
    }
    for (const t of [out, sample, text, pooled, ...views.map((v) => v[1]), ...heads.values()]) t.dispose();
    return { data, dst, n1 };
  }

  const methods: [string, ReducerOptions, number][] = [
    // name, options, bound on the relative change from dense
    ['toma', { method: 'toma' }, 0.05],
    ['tomesd', { method: 'tomesd' }, 0.05],
    ['todo', { method: 'todo' }, 0.05],
  ];

  it('the fixture UNet has transformer blocks at levels 1 and 2 (the SDXL structure)', () => {
    assert.deepEqual(model(cpu).attentionLevels(), [1, 2]);
  });

  it('ratio 0 is exactly dense; each method changes the output by a bounded amount (CPU)', async () => {
    const dense = (await run(cpu)).data;
    for (const method of ['toma', 'tomesd'] as const) {
      for (const unetScope of ['block', 'self-attention'] as const) {
        const red = createUnetReducer(cpu, { method, ratio: 0, unetScope });
        assert.deepEqual((await run(cpu, red)).data, dense, `${method} ${unetScope} ratio 0`);
        red.dispose();
      }
    }
    for (const [name, o, bound] of methods) {
      const red = createUnetReducer(cpu, o);
      const { data } = await run(cpu, red);
      red.dispose();
      const e = relErr(data, dense);
      assert.ok(data.every(Number.isFinite), `${name} finite`);
      assert.ok(e > 1e-4 && e < bound, `${name}: relative change from dense ${e.toExponential(2)}`);
    }
  });

  it('toma: WebGPU picks valid greedy destinations, and the CPU with them gives the same output', {
    skip: noGpu,
  }, async () => {
    // Selection has exact ties by construction, decided by rounding (docs/merging.md), so the backends
    // may pick differently there: the WebGPU picks are checked by replaying the greedy on the group
    // heads' n1, then the CPU runs with them.
    const w = createUnetReducer(gpu!, { method: 'toma' });
    const g = await run(gpu!, w);
    w.dispose();
    assert.deepEqual(
      [...g.dst.keys()],
      ['down:1', 'down:2', 'mid:2', 'up:2', 'up:1'],
      'one selection per group',
    );
    let exact = 0;
    for (const [group, d] of g.dst) {
      const { data, grid } = g.n1.get(group)!;
      const L = new TileLayout(grid[0], grid[1], 4, 0.5);
      const cmp = compareSelection(data, 2, data.length / 2 / L.n, L, d, 1e-4);
      assert.deepEqual(cmp.errors, [], `${group}: ${cmp.errors.join('; ')}`);
      exact += cmp.exact;
    }
    assert.ok(exact > 0, 'some tiles were compared index for index');
    const c = await run(cpu, tomaWithDestinations(cpu, g.dst, 'block'));
    assertClose(g.data, c.data, 1e-4, 'toma');
  });

  for (const [name, o] of methods.filter(([n]) => n !== 'toma')) {
    it(`${name}: CPU and WebGPU agree`, { skip: noGpu }, async () => {
      const c = createUnetReducer(cpu, o);
      const w = createUnetReducer(gpu!, o);
      const a = await run(cpu, c);
      const b = await run(gpu!, w);
      c.dispose();
      w.dispose();
      assertClose(b.data, a.data, 1e-4, name);
    });
  }
});
