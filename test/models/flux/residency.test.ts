// The memory plan (src/models/flux/residency.ts): which blocks stay resident under a budget, streamed
// blocks written into device slots before they run, row-split matrices; a streamed model's forward is
// bit-identical to the all-resident model's on the CPU and on WebGPU, for dense f32/f16 and Q8_0 weights.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Backend } from '../../../src/backend.js';
import { CpuBackend } from '../../../src/cpu/backend.js';
import { writeGguf } from '../../../src/io/gguf.js';
import { randomHostParams, toLayout } from '../../../src/models/flux/checkpoint-writer.js';
import {
  type ComputeDType,
  canonicalShapes,
  FLUX_PRESETS,
  type FluxConfig,
  FluxModel,
} from '../../../src/models/flux/index.js';
import { planResidency } from '../../../src/models/flux/residency.js';
import { MemoryLimitError } from '../../../src/models/limits.js';
import { RowSplitMatrix } from '../../../src/row-split.js';
import { f32ToF16Bits } from '../../../src/util/f16.js';
import { cpu, gpu, noGpu } from '../../helpers.js';
import { type Case, forwardOnce, randomCheckpoint, randomInputs, tmp } from './util.js';

/** flux-tiny with 3 double and 4 single blocks: every block matrix's inputs are whole Q8_0 blocks. */
const tiny: FluxConfig = { ...FLUX_PRESETS['flux-tiny']!, depth: 3, depth_single_blocks: 4 };
const k: Case = { batch: 1, rows: 2, cols: 3, text: 4 };

/** Q8_0 as ggml quantizes (d = amax / 127, q = round(x / d)), enough for tests. */
function quantizeQ80(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / 32) * 34);
  const dv = new DataView(out.buffer);
  for (let b = 0; b < x.length / 32; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]!));
    const d = amax / 127;
    const id = d ? 1 / d : 0;
    dv.setUint16(b * 34, f32ToF16Bits(d), true);
    for (let j = 0; j < 32; j++) dv.setInt8(b * 34 + 2 + j, Math.round(x[b * 32 + j]! * id));
  }
  return out;
}

let ggufCounter = 0;
/** A GGUF of `config` (original layout): 2-D matrices with whole blocks in Q8_0, the rest F32. */
function q80Gguf(config: FluxConfig, seed: number): string {
  const stored = toLayout(randomHostParams(config, seed), config, 'original');
  const shapes = new Map<string, number[]>();
  for (const [key, shape] of canonicalShapes(config)) shapes.set(key, shape);
  const tensors: [string, { type: 'Q8_0' | 'F32'; shape: number[]; bytes: Uint8Array }][] = [];
  for (const [key, data] of stored) {
    const canon = shapes.get(key);
    const shape = canon && canon.reduce((a, b) => a * b, 1) === data.length ? canon : [data.length];
    const inner = shape.at(-1)!;
    if (shape.length === 2 && inner % 32 === 0)
      tensors.push([key, { type: 'Q8_0', shape, bytes: quantizeQ80(data) }]);
    else tensors.push([key, { type: 'F32', shape, bytes: new Uint8Array(data.slice().buffer) }]);
  }
  const path = join(tmp, `q80-${++ggufCounter}.gguf`);
  writeGguf(path, [['general.architecture', { type: 'string', value: 'flux' }]], tensors);
  return path;
}

/** Two forwards (the second starts from the slots the first left behind), read back. */
async function twice(model: FluxModel): Promise<Float32Array[]> {
  const inputs = randomInputs(model.config, k);
  const a = await forwardOnce(model, k, inputs);
  const b = await forwardOnce(model, { ...k, seed: 9 }, randomInputs(model.config, { ...k, seed: 9 }));
  return [a, b];
}

/** The resident model's outputs, then each budget's (as a fraction of the parameters), compared bit for bit. */
async function compareBudgets(
  be: Backend,
  path: string,
  dtype: ComputeDType,
  extra: { slots?: number; step?: number } = {},
): Promise<void> {
  const load = (o: object = {}) => FluxModel.load(be, path, { dtype, config: tiny, ...o });
  const full = load();
  const want = await twice(full);
  const total = full.params.bytes;
  full.dispose();
  for (const slots of extra.slots ? [extra.slots] : [1, 2]) {
    // budgets from just below everything down to where even streaming every block cannot fit
    let tried = 0;
    let allStreamed = false;
    for (let fraction = 0.99; ; fraction -= extra.step ?? 0.04) {
      let m: FluxModel;
      try {
        m = load({ maxParamBytes: Math.floor(total * fraction), streamSlots: slots });
      } catch (e) {
        assert.ok(e instanceof MemoryLimitError, String(e));
        assert.ok(tried >= 2, `${path}: only ${tried} budgets fit (${slots} slots)`);
        break;
      }
      tried++;
      const plan = m.params.plan;
      assert.ok(plan && plan.double.length + plan.single.length > 0, `budget ${fraction}: nothing streamed`);
      assert.ok(m.params.bytes <= total * fraction + 1, `budget ${fraction}: ${m.params.bytes} bytes held`);
      const got = await twice(m);
      assert.ok(m.params.streamer!.uploads > 0);
      allStreamed ||= plan.double.length === tiny.depth && plan.single.length === tiny.depth_single_blocks;
      for (const [i, g] of got.entries())
        assert.deepEqual(g, want[i], `budget ${fraction}, ${slots} slot(s), forward ${i}: differs`);
      m.dispose();
    }
    assert.ok(allStreamed, 'the smallest budget that fits streams every block');
  }
  // a budget below the fixed parameters plus one slot per kind: a clear error
  assert.throws(
    () => load({ maxParamBytes: 1000 }),
    (e: Error) => e instanceof MemoryLimitError && /even with every block streamed/.test(e.message),
  );
}

describe('memory plan', () => {
  it('keeps everything resident when it fits, else streams the last blocks of each kind', () => {
    const parts = [
      { name: 'img_in.weight', bytes: 100, signature: 'a' },
      ...[0, 1, 2].map((i) => ({ name: `double_blocks.${i}.w`, bytes: 1000, signature: 'd' })),
      ...[0, 1, 2, 3].map((i) => ({ name: `single_blocks.${i}.w`, bytes: 500, signature: 's' })),
    ];
    const all = planResidency(tiny, parts, 5100);
    assert.deepEqual([all.double, all.single, all.slotBytes], [[], [], 0]);
    const p = planResidency(tiny, parts, 4000, 2);
    assert.ok(p.fixedBytes + p.residentBlockBytes + p.slotBytes <= 4000);
    assert.equal(p.fixedBytes, 100);
    // streamed blocks are a suffix of each kind
    for (const [list, n] of [
      [p.double, 3],
      [p.single, 4],
    ] as const)
      assert.deepEqual(
        list,
        Array.from({ length: list.length }, (_, i) => n - list.length + i),
      );
    const one = planResidency(tiny, parts, 4000, 1);
    assert.ok(one.streamedBytes <= p.streamedBytes, 'one slot per kind streams no more than two');
    assert.throws(() => planResidency(tiny, parts, 500), MemoryLimitError);
  });

  it('Backend.write checks the array type and length', () => {
    const t = cpu.keep(cpu.zeros([2, 2], 'f32'));
    cpu.write(t, new Float32Array([1, 2, 3, 4]));
    assert.throws(() => cpu.write(t, new Float32Array(3)), /3 values/);
    assert.throws(() => cpu.write(t, new Uint32Array(4)), /takes a Float32Array/);
    const h = cpu.keep(cpu.zeros([2], 'f16'));
    cpu.write(h, new Uint16Array([f32ToF16Bits(0.5), f32ToF16Bits(-2)]));
    t.dispose();
    h.dispose();
  });

  it('CPU: streamed forwards equal the resident ones bit for bit (f32, f16, Q8_0)', async () => {
    const { path } = randomCheckpoint(tiny, { seed: 3 });
    await compareBudgets(cpu, path, 'f32');
    await compareBudgets(cpu, path, 'f16', { slots: 2 });
    await compareBudgets(cpu, q80Gguf(tiny, 4), 'f32');
  });

  it('CPU: matrices above the tensor limit are row-split; results equal the unsplit model', async () => {
    const ref = new CpuBackend({ fast: false });
    const path = q80Gguf(tiny, 5);
    const { path: dense } = randomCheckpoint(tiny, { seed: 6 });
    for (const p of [path, dense]) {
      const full = FluxModel.load(ref, p, { dtype: 'f32', config: tiny });
      const want = await twice(full);
      full.dispose();
      const split = FluxModel.load(ref, p, { dtype: 'f32', config: tiny, maxTensorBytes: 4096 });
      const pieces = [...split.params.tensors.values()].filter((t) => t instanceof RowSplitMatrix);
      assert.ok(pieces.length > 0, 'nothing was split');
      assert.deepEqual(await twice(split), want);
      const splitBytes = split.params.bytes;
      split.dispose();
      // streaming and splitting together
      const both = FluxModel.load(ref, p, {
        dtype: 'f32',
        config: tiny,
        maxTensorBytes: 4096,
        maxParamBytes: 0.8 * splitBytes,
      });
      assert.deepEqual(await twice(both), want);
      both.dispose();
    }
  });

  it('WebGPU: streamed forwards equal the resident ones bit for bit', { skip: noGpu }, async () => {
    const { path } = randomCheckpoint(tiny, { seed: 7 });
    await compareBudgets(gpu!, path, 'f32', { slots: 2, step: 0.15 });
    if (gpu!.caps.f16) await compareBudgets(gpu!, path, 'f16', { slots: 1, step: 0.15 });
    // Q8_0 needs the quantized matmul kernel
    const q = q80Gguf(tiny, 8);
    const probe = FluxModel.load(gpu!, q, { dtype: 'f32', config: tiny });
    let ok = true;
    try {
      await forwardOnce(probe, k, randomInputs(tiny, k));
    } catch (e) {
      ok = !/not implemented/.test((e as Error).message);
      if (ok) throw e;
    } finally {
      probe.dispose();
    }
    if (ok) await compareBudgets(gpu!, q, 'f32', { slots: 2, step: 0.1 });
    else console.warn('WebGPU Q8_0 streaming skipped: no quantized matmul kernel yet');
  });

  it('WebGPU: row-split matrices give the unsplit results', { skip: noGpu }, async () => {
    const { path } = randomCheckpoint(tiny, { seed: 10 });
    const full = FluxModel.load(gpu!, path, { dtype: 'f32', config: tiny });
    const want = await twice(full);
    full.dispose();
    const split = FluxModel.load(gpu!, path, { dtype: 'f32', config: tiny, maxTensorBytes: 8192 });
    const got = await twice(split);
    split.dispose();
    for (const [i, g] of got.entries()) {
      let err = 0;
      let ref = 0;
      for (let j = 0; j < g.length; j++) {
        err = Math.max(err, Math.abs(g[j]! - want[i]![j]!));
        ref = Math.max(ref, Math.abs(want[i]![j]!));
      }
      assert.ok(err <= 1e-5 * ref, `forward ${i}: max error ${err} of ${ref}`);
    }
  });
});
