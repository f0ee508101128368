// The Flux forward beyond the fixture: CPU vs WebGPU on other shapes and configs, layout equivalence,
// the token-reduction and attention-pattern hooks, memory behaviour and input checks.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Backend } from '../../../src/backend.js';
import {
  FluxModel,
  FluxPositions,
  type ForwardOptions,
  imageIds,
  textIds,
} from '../../../src/models/flux/index.js';
import { cpu, gpu, noGpu, relErr } from '../../helpers.js';
import { halfReducer, identityKV, identityMerge, reversedPattern } from './reducers.js';
import {
  type Case,
  forwardOnce,
  micro,
  microNoGuidance,
  randomCheckpoint,
  randomInputs,
  runCheckpoint,
} from './util.js';

const nonSquare: Case = { batch: 2, rows: 3, cols: 5, text: 4 };
const tall: Case = { batch: 1, rows: 5, cols: 2, text: 7 };

describe('Flux forward: layouts and configs (CPU)', () => {
  it('the same weights in the original layout (one file) and the diffusers layout (sharded) give bit-identical outputs', async () => {
    const { path, params } = randomCheckpoint(micro, { seed: 21 });
    const inputs = randomInputs(micro, nonSquare);
    const want = await runCheckpoint(cpu, path, 'f32', nonSquare, inputs);
    const diffusers = randomCheckpoint(micro, { seed: 21, layout: 'diffusers', shards: 3 }).path;
    assert.deepEqual(await runCheckpoint(cpu, diffusers, 'f32', nonSquare, inputs), want);
    assert.ok(params.size > 0 && want.every(Number.isFinite));
  });

  it('outputs depend on every input: batch elements are independent, guidance and timesteps matter', async () => {
    const { path } = randomCheckpoint(micro, { seed: 22 });
    const model = FluxModel.load(cpu, path, { dtype: 'f32' });
    const inputs = randomInputs(micro, nonSquare);
    const both = await forwardOnce(model, nonSquare, inputs);
    const one: Case = { ...nonSquare, batch: 1 };
    const n = nonSquare.rows * nonSquare.cols * micro.out_channels;
    const first = await forwardOnce(model, one, {
      img: inputs.img.subarray(0, inputs.img.length / 2),
      txt: inputs.txt.subarray(0, inputs.txt.length / 2),
      y: inputs.y.subarray(0, inputs.y.length / 2),
      timesteps: inputs.timesteps.slice(0, 1),
      guidance: inputs.guidance.slice(0, 1),
    });
    assert.ok(relErr(first, both.subarray(0, n)) < 1e-6);
    const g = await forwardOnce(model, nonSquare, { ...inputs, guidance: [1, 1] });
    assert.ok(relErr(g, both) > 1e-3, 'guidance has no effect');
    const t = await forwardOnce(model, nonSquare, { ...inputs, timesteps: [0.9, 0.1] });
    assert.ok(relErr(t, both) > 1e-3, 'timesteps have no effect');
    model.dispose();
  });
});

describe('Flux forward: hooks (CPU)', () => {
  const { path } = randomCheckpoint(micro, { seed: 23 });
  const inputs = randomInputs(micro, nonSquare);

  it('identity merge plans in the double blocks and identity kv plans give exactly the dense output', async () => {
    const dense = await runCheckpoint(cpu, path, 'f32', nonSquare, inputs);
    const merged = await runCheckpoint(cpu, path, 'f32', nonSquare, inputs, {
      reducer: identityMerge(['double']),
    });
    assert.deepEqual(merged, dense);
    const kv = await runCheckpoint(cpu, path, 'f32', nonSquare, inputs, { reducer: identityKV });
    assert.deepEqual(kv, dense);
  });

  it('identity merge plans in the single blocks give the dense output up to f32 rounding', async () => {
    // The merged single-block path adds the residual after the unmerge (outside the matmul epilogue),
    // so x + gate·(a + b) is rounded in another order than the dense path's fused (x + gate·a) + gate·b.
    const dense = await runCheckpoint(cpu, path, 'f32', nonSquare, inputs);
    const merged = await runCheckpoint(cpu, path, 'f32', nonSquare, inputs, {
      reducer: identityMerge(['double', 'single']),
    });
    const err = relErr(merged, dense);
    assert.ok(err < 1e-6, `relative error ${err}`);
  });

  it('an image order with all-key ranges is dense attention in another key order', async () => {
    const dense = await runCheckpoint(cpu, path, 'f32', nonSquare, inputs);
    for (const bs of [4, 8]) {
      const reordered = await runCheckpoint(cpu, path, 'f32', nonSquare, inputs, {
        pattern: reversedPattern(cpu, bs, false),
      });
      const err = relErr(reordered, dense);
      assert.ok(err < 1e-5, `block ${bs}: relative error ${err}`);
    }
  });

  it('a real reduction changes the output (the hooks are used)', async () => {
    const dense = await runCheckpoint(cpu, path, 'f32', nonSquare, inputs);
    const half = await runCheckpoint(cpu, path, 'f32', nonSquare, inputs, { reducer: halfReducer(cpu) });
    assert.ok(relErr(half, dense) > 1e-2);
  });

  it('rejects key ranges combined with kv plans, and reduction on ids that are not a grid', async () => {
    await assert.rejects(
      runCheckpoint(cpu, path, 'f32', nonSquare, inputs, {
        reducer: identityKV,
        pattern: reversedPattern(cpu, 4, true),
      }),
      /cannot be combined/,
    );
    const model = FluxModel.load(cpu, path, { dtype: 'f32' });
    const imgIds = imageIds(1, 3, 5).map((v, i) => (i % 3 === 0 ? 1 : v)); // Kontext-style offset ids
    const positions = FluxPositions.fromIds(cpu, micro, {
      imgIds,
      txtIds: textIds(1, 4),
      batch: 1,
      imageTokens: 15,
      textTokens: 4,
    });
    assert.equal(positions.grid, null);
    const x = {
      img: cpu.zeros([1, 15, micro.in_channels]),
      txt: cpu.zeros([1, 4, micro.context_in_dim]),
      y: cpu.zeros([1, micro.vec_in_dim]),
      timesteps: [0.5],
      guidance: [4],
      positions,
    };
    assert.throws(() => model.forward(x, { reducer: identityKV }), /need image ids on a raster grid/);
    model.forward(x).dispose(); // dense runs on any ids
    model.dispose();
  });
});

describe('Flux forward: CPU vs WebGPU', { skip: noGpu }, () => {
  // SwiftShader runs WGSL on the CPU: a few tiny configurations only.
  it('non-square grid, batch 2, guidance, original layout; no guidance or qkv bias, diffusers layout', async () => {
    const a = randomCheckpoint(micro, { seed: 31 }).path;
    const inA = randomInputs(micro, nonSquare);
    const errA = relErr(
      await runCheckpoint(gpu!, a, 'f32', nonSquare, inA),
      await runCheckpoint(cpu, a, 'f32', nonSquare, inA),
    );
    const b = randomCheckpoint(microNoGuidance, { seed: 32, layout: 'diffusers', dtype: 'BF16' }).path;
    const inB = randomInputs(microNoGuidance, tall);
    const errB = relErr(
      await runCheckpoint(gpu!, b, 'f32', tall, inB),
      await runCheckpoint(cpu, b, 'f32', tall, inB),
    );
    console.log(`    relative errors ${errA.toExponential(2)}, ${errB.toExponential(2)}`);
    assert.ok(errA <= 1e-4 && errB <= 1e-4, `relative errors ${errA}, ${errB}`);
  });

  it("flux-dev's head layout (head dim 128, RoPE axes 16/56/56) on a small model", async () => {
    const c = {
      ...micro,
      hidden_size: 256,
      num_heads: 2,
      axes_dim: [16, 56, 56],
      depth: 1,
      depth_single_blocks: 1,
    };
    const path = randomCheckpoint(c, { seed: 35, std: 0.05 }).path;
    const k: Case = { batch: 1, rows: 2, cols: 3, text: 3 };
    const inputs = randomInputs(c, k);
    const want = await runCheckpoint(cpu, path, 'f32', k, inputs);
    const err = relErr(await runCheckpoint(gpu!, path, 'f32', k, inputs), want);
    assert.ok(err <= 1e-4, `relative error ${err}`);
  });

  it('merge and kv plans; image order with local key ranges (split and joint query paths)', async () => {
    const path = randomCheckpoint(micro, { seed: 33 }).path;
    const modes: [string, number, (be: Backend) => ForwardOptions][] = [
      ['merge in double blocks, kv in single blocks', 4, (be) => ({ reducer: halfReducer(be) })],
      ['kv in double blocks, merge in single blocks', 4, (be) => ({ reducer: halfReducer(be, true) })],
      ['local ranges, 5 text tokens (joint queries)', 5, (be) => ({ pattern: reversedPattern(be, 4, true) })],
      [
        'identity merges with local ranges, 4 text tokens (split queries)',
        4,
        (be) => ({ reducer: identityMerge(['double', 'single']), pattern: reversedPattern(be, 4, true) }),
      ],
    ];
    for (const [what, text, opts] of modes) {
      const k: Case = { batch: 1, rows: 3, cols: 5, text };
      const inputs = randomInputs(micro, k);
      const err = relErr(
        await runCheckpoint(gpu!, path, 'f32', k, inputs, opts(gpu!)),
        await runCheckpoint(cpu, path, 'f32', k, inputs, opts(cpu)),
      );
      assert.ok(err <= 1e-4, `${what}: relative error ${err}`);
    }
  });

  it('a second forward allocates nothing new and frees every intermediate', async () => {
    const path = randomCheckpoint(micro, { seed: 34 }).path;
    const model = FluxModel.load(gpu!, path, { dtype: 'f32' });
    const inputs = randomInputs(micro, tall);
    await forwardOnce(model, tall, inputs);
    const before = gpu!.memory();
    const again = await forwardOnce(model, tall, inputs);
    const after = gpu!.memory();
    assert.equal(after.liveBytes, before.liveBytes, 'live bytes grew: an intermediate was not freed');
    assert.equal(
      after.liveBytes + after.pooledBytes,
      before.liveBytes + before.pooledBytes,
      'new buffers were created',
    );
    assert.ok(again.every(Number.isFinite));
    model.dispose();
  });
});

describe('Flux forward: input checks', () => {
  it('names the bad input', () => {
    const model = FluxModel.random(cpu, micro, { dtype: 'f32', seed: 1 });
    const positions = model.positions({ batch: 1, rows: 2, cols: 3, textTokens: 4 });
    const img = cpu.zeros([1, 6, micro.in_channels]);
    const txt = cpu.zeros([1, 4, micro.context_in_dim]);
    const y = cpu.zeros([1, micro.vec_in_dim]);
    const base = { img, txt, y, timesteps: [0.5], guidance: [3.5], positions };
    assert.throws(
      () => model.forward({ ...base, img: cpu.zeros([1, 7, micro.in_channels]) }),
      /inputs\.img has shape \[1, 7, 12\], expected \[1, 6, 12\]/,
    );
    assert.throws(() => model.forward({ ...base, guidance: undefined }), /inputs\.guidance/);
    assert.throws(
      () => model.forward({ ...base, timesteps: [0.1, 0.2] }),
      /inputs\.timesteps must hold 1 value/,
    );
    assert.throws(
      () => model.forward({ ...base, y: cpu.zeros([1, micro.vec_in_dim], 'f16') }),
      /inputs\.y is f16 but the model computes in f32/,
    );
    model.forward(base).dispose();
    positions.dispose();
    model.dispose();
  });
});
